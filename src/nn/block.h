/*
 * block.h — OpenAI's residual attention block (block.c): its activations,
 * the backward scratch shared by a tower's blocks, forward and backward.
 *
 * Activation memory is one float array per tower, carved into named views
 * (llm.c style).  For inference every block shares one set of views except
 * the residual stream, which alternates between two buffers, so memory does
 * not grow with depth; for training every block keeps its own.
 */
#ifndef CLIPC_NN_BLOCK_H
#define CLIPC_NN_BLOCK_H

#include "clipc.h"
#include "kernels/backend.h"
#include "nn/params.h"
#include "nn/seqs.h"

/* ---- block.c
 * Memory plan: a block keeps only what backward cannot cheaply rebuild —
 * the qkv, res1, the c_fc pre-activation, the output, layer-norm statistics
 * and two floats per attention row.  The layer-norm outputs, the attention
 * output and probabilities, and the activation (with its dropout) are
 * recomputed in backward into buffers shared by every block of a tower. */
typedef struct {
    float *ln1_mean, *ln1_rstd;       /* (N), (N) */
    float *qkv;                       /* (N, 3C) */
    float *att_stats;                 /* (N, NH, 2) softmax row (max, 1/sum), see attention.c */
    float *res1;                      /* (N, C) x + attention */
    float *ln2_mean, *ln2_rstd;       /* (N), (N) */
    float *fch;                       /* (N, 4C) c_fc output + bias, before the activation */
    float *out;                       /* (N, C) block output */
    /* shared by all blocks of a tower */
    float *ln;                        /* (N, C) a layer-norm output */
    float *atty;                      /* (N, C) attention heads concatenated */
    float *h;                         /* (N, 4C) the activation: fch itself for inference,
                                         the grad scratch's dfch for training */
    float *attn_scratch;              /* attention_scratch_floats(T) */
} block_acts;

/* Scratch for block backward, shared by all blocks of a tower.  dqkv and
 * datty live inside dfch and ddrop is dln: their lifetimes do not overlap. */
typedef struct {
    float *dln;    /* (N, C) */
    float *dfch;   /* (N, 4C) */
    float *datty;  /* (N, C) = dfch + 3NC */
    float *dqkv;   /* (N, 3C) = dfch */
    float *ddrop;  /* (N, C) a residual branch's gradient through its dropout = dln */
} block_grad_scratch;

/* Dropout of one block: probability (0 = off) and the seeds of its four
 * sites (dropout_site_seed: probabilities, attention out, MLP hidden, MLP out). */
typedef struct {
    float p;
    uint64_t seed[4];
} block_dropout;

/* Fills *d for block `layer` of `tower` (0 vision, 1 text); NULL when p = 0. */
const block_dropout *tower_dropout(block_dropout *d, float p, uint64_t seed, int tower, int layer);
/* Per-block floats for N rows (training: with_out = 1). */
size_t block_acts_floats(size_t N, int C, int NH, int with_out);
/* Floats of the shared views (ln, atty, attention scratch for sequences of
 * at most T). */
size_t block_shared_floats(size_t N, int T, int C);
/* Binds the per-block views at mem (returns the end) and the shared ones at
 * shared; h is fch (inference) until a training tower points it at its
 * grad scratch. */
float *block_acts_bind(block_acts *a, float *mem, float *shared, size_t N, int C, int NH, int with_out);
size_t block_grad_scratch_floats(size_t N, int C);
float *block_grad_scratch_bind(block_grad_scratch *s, float *mem, size_t N, int C);

/* The rows of sq (uniform or packed sequences); d may be NULL (no dropout).
 * be: the inference backend (backend.h), or NULL (training, and inference
 * on OpenBLAS).  With a backend and no dropout the block runs its fused
 * inference forward on be's kernels; otherwise the training forward (on
 * OpenBLAS, keeping what backward needs).  Returns 1 when a kernel of be
 * failed halfway (a->out is then to be recomputed with no backend), else 0. */
int block_forward(block_acts *a, const float *x, const block_weights *w, const seqs *sq, int C, int NH, int causal,
                  clipc_act act, const block_dropout *d, const infer_backend *be);
/* dx (N, C) is overwritten and may alias dout (the towers pass the same
 * buffer: the residual gradient is then updated in place, no copies). */
void block_backward(float *dx, const block_weights *dw, const float *dout, const float *x, const block_acts *a,
                    const block_weights *w, block_grad_scratch *s, const seqs *sq, int C, int NH, int causal,
                    clipc_act act, const block_dropout *d);

#endif
