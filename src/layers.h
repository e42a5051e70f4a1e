/*
 * layers.h — the building blocks of CLIP, each a forward/backward pair in the
 * style of llm.c: plain functions over row-major float arrays, caches needed
 * by backward are explicit outputs of forward, and backward ACCUMULATES (+=)
 * into parameter gradients (so gradient accumulation and the shared blocks
 * of both towers need no extra buffers) while it OVERWRITES the gradient of
 * its input unless said otherwise.
 *
 * Shapes: N = rows (batch * tokens), C = channels.  One file per layer:
 * layernorm.c, linear.c, attention.c, activation.c, embedding.c, loss.c.
 *
 * Determinism: every reduction has a fixed order that does not depend on
 * the number of threads or their timing (threads split independent rows or
 * columns; sums over rows are done per column in row order), so training is
 * bit-exact across runs and resumes.
 */
#ifndef CLIPC_LAYERS_H
#define CLIPC_LAYERS_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

/* Parallel regions below this many elements run on one thread: for the
 * small configs the fork/join would cost more than the work. */
#define CLIPC_PAR_MIN 32768

/* ---- dropout.c: inverted dropout with a mask that is a pure function of
 * (site seed, element index), recomputed in backward instead of stored.
 * p is clamped to [0, 0.999]; p <= 0 means off. */
uint32_t dropout_threshold(float p);
/* Seed of one dropout site: sites 0 attention probabilities, 1 attention
 * output, 2 MLP hidden, 3 MLP output; tower 0 vision, 1 text. */
uint64_t dropout_site_seed(uint64_t seed, int tower, int layer, int site);
/* Keep element i?  (splitmix64 finaliser of seed + (i+1) * golden gamma). */
static inline int dropout_keep(uint64_t site_seed, uint64_t i, uint32_t threshold) {
    uint64_t z = site_seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32) >= threshold;
}
/* y[i] = keep(first + i) ? x[i] / (1 - p) : 0 (y may alias x).  The same
 * call is the forward and the backward of dropout. */
void dropout_mul(float *y, const float *x, size_t n, size_t first, float p, uint64_t site_seed);

/* ---- layernorm.c: y = (x - mean) / sqrt(var + 1e-5) * w + b over the last dim */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
/* out = (inp - mean) * rstd * w + b from stored statistics: the forward's
 * output bit for bit (backward rebuilds it instead of keeping it). */
/* The same into bf16 values, statistics not kept (bf16 inference only). */
void layernorm_forward_bf16(uint16_t *out, const float *inp, const float *w, const float *b, int N, int C);
void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd, const float *w,
                     const float *b, int N, int C);
/* dinp += ... (accumulates, since LN inputs are residual streams), dw += , db += */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- linear.c: y = x W^T + b with W (OUT, IN) as nn.Linear stores it; b may be NULL */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT);
/* dinp = dout W (overwritten; NULL to skip), dw += dout^T x, db += sum rows (NULL to skip) */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IN, int OUT);
/* y = x P with P (IN, OUT), as CLIP's proj / text_projection are stored (no bias) */
void matmul_forward(float *out, const float *inp, const float *p, int N, int IN, int OUT);
/* dinp = dout P^T (overwritten; NULL to skip), dp += x^T dout */
void matmul_backward(float *dinp, float *dp, const float *dout, const float *inp, const float *p,
                     int N, int IN, int OUT);

/* ---- sequences: how rows (tokens) group into sequences.  A batch of B
 * sequences is either uniform (off == NULL: B x T rows, every sequence T
 * long) or packed (off has B+1 row offsets: sequence s is rows
 * off[s]..off[s+1]-1, each at most T long).  The text tower packs each
 * caption's tokens up to its EOT back to back; the ViT is uniform. */
typedef struct {
    int B, T;         /* sequences; length of every (uniform) / the longest (packed) */
    const int *off;   /* B+1 row offsets, or NULL */
} seqs;
static inline int seqs_rows(const seqs *q) { return q->off ? q->off[q->B] : q->B * q->T; }
static inline int seqs_off(const seqs *q, int s) { return q->off ? q->off[s] : s * q->T; }
static inline int seqs_len(const seqs *q, int s) { return q->off ? q->off[s + 1] - q->off[s] : q->T; }

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

/* ---- activation.c */
void quickgelu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * f'(inp) (overwritten) */
void quickgelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---- embedding.c */
/* Text: row off(s)+t of out = tok[ids[s*ctx + t]] + pos[t] for t < len(s):
 * the first len(s) tokens of each id row (stride ctx), packed or uniform. */
void token_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos, const seqs *sq,
                             int ctx, int C);
void token_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids, const seqs *sq,
                              int ctx, int C);
/* Vision: im2col of non-overlapping P x P patches.  cols (B*G*G, 3*P*P) in the
 * (c, ky, kx) order of the conv weight (W, 3, P, P). */
void patch_im2col(float *cols, const float *pixels, int B, int R, int P);
/* x (B, G*G+1, W): token 0 = class_emb, token 1+p = patch p; + pos_emb. */
void vision_embed_forward(float *x, const float *patch_out, const float *class_emb, const float *pos_emb,
                          int B, int GG, int W);
/* dpatch (B*G*G, W) overwritten; dclass, dpos accumulated. */
void vision_embed_backward(float *dpatch, float *dclass, float *dpos, const float *dx, int B, int GG, int W);

/* ---- loss.c: CLIP's symmetric contrastive loss.
 * img, txt (B, E) unnormalised features; logit_scale is the log of the scale.
 * Returns the loss; fills logits (B, B) = exp(s) * norm(img) norm(txt)^T.
 * Backward gives dimg, dtxt (overwritten) and *dscale (accumulated); it
 * reuses the cache's probs_i as storage for d(logits). */
typedef struct {
    float *img_n, *txt_n;     /* (B, E) normalised features */
    float *img_norm, *txt_norm; /* (B) norms */
    float *logits;            /* (B, B) logits_per_image */
    float *probs_i, *probs_t; /* (B, B) softmax of rows of logits / of logits^T */
} clip_loss_cache;
size_t clip_loss_cache_floats(int B, int E);
void clip_loss_cache_bind(clip_loss_cache *c, float *mem, int B, int E);
float clip_loss_forward(clip_loss_cache *c, const float *img, const float *txt, float logit_scale, int B,
                        int E);
void clip_loss_backward(float *dimg, float *dtxt, float *dscale, const clip_loss_cache *c, float logit_scale,
                        int B, int E);

#endif
