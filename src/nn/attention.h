/*
 * attention.h — multi-head self-attention on packed q|k|v rows, forward,
 * recompute and backward (attention.c).
 */
#ifndef CLIPC_NN_ATTENTION_H
#define CLIPC_NN_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "nn/seqs.h"

/* ---- attention.c: multi-head self-attention core on packed qkv, each
 * sequence of q attending only to itself.
 * qkv (N, 3C) holds q | k | v per row, head h in columns h*hd..(h+1)*hd-1.
 * out (N, C) the heads concatenated, before out_proj.  stats (N, NH, 2):
 * for sequence s of length Ts the (NH, Ts, 2) block at row off[s] holds
 * each softmax row's (max, 1/sum): all backward needs to rebuild the
 * probabilities exactly (the T x T matrices are never stored).
 * scratch holds attention_scratch_floats(T) floats (two T x T tiles per
 * OpenMP thread, T the longest sequence; size it after clipc_set_threads).
 * Dropout p on the probabilities (0 = off) with the mask of
 * dropout_keep(seed, element index of (s, h, i, j) in the concatenation of
 * every sequence's (NH, Ts, Ts) array): for a uniform batch that is the
 * (B, NH, T, T) index. */
size_t attention_scratch_floats(int T);
void attention_forward(float *out, float *stats, float *scratch, const float *qkv, const seqs *sq, int C, int NH,
                       int causal, float p, uint64_t seed);
/* out again from the stats of attention_forward: the same bits, for a
 * backward that did not keep out. */
void attention_recompute(float *out, const float *stats, float *scratch, const float *qkv, const seqs *sq, int C,
                         int NH, int causal, float p, uint64_t seed);
/* dqkv (N, 3C) is overwritten. */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *stats,
                        const seqs *sq, int C, int NH, int causal, float p, uint64_t seed);

#endif
