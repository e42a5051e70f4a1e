/*
 * tower.h — the two encoders of CLIP built from the layers: the residual
 * attention block (block.c), the vision transformer (vision.c) and the text
 * transformer (text.c), with the activations each keeps for backward.
 *
 * Activation memory is one float array per tower, carved into named views
 * (llm.c style).  For inference every block shares one set of views except
 * the residual stream, which alternates between two buffers, so memory does
 * not grow with depth; for training every block keeps its own.
 */
#ifndef CLIPC_TOWER_H
#define CLIPC_TOWER_H

#include "layers.h"
#include "params.h"

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

/* The rows of sq (uniform or packed sequences); d may be NULL (no dropout). */
void block_forward(block_acts *a, const float *x, const block_weights *w, const seqs *sq, int C, int NH,
                   int causal, clipc_act act, const block_dropout *d);
/* dx (N, C) is overwritten and may alias dout (the towers pass the same
 * buffer: the residual gradient is then updated in place, no copies). */
void block_backward(float *dx, const block_weights *dw, const float *dout, const float *x, const block_acts *a,
                    const block_weights *w, block_grad_scratch *s, const seqs *sq, int C, int NH, int causal,
                    clipc_act act, const block_dropout *d);

/* ---- vision.c */
typedef struct {
    int B, T, W, E, NH, L, GG, K, training;
    float dropout;        /* training only: probability and step seed (0 = off) */
    uint64_t dropout_seed;
    float *mem;
    float *cols;      /* (B*GG, 3*P*P) im2col of the pixels */
    float *patch;     /* (B*GG, W) conv1 output */
    float *x0;        /* (B, T, W) class + patches + positional embedding */
    float *lnpre, *lnpre_mean, *lnpre_rstd; /* (B, T, W) block 0 input */
    block_acts *blocks;
    float *cls;       /* (B, W) token 0 of the last block */
    float *lnpost, *lnpost_mean, *lnpost_rstd; /* (B, W) */
    /* training only */
    float *dx, *dx0;  /* (B, T, W) residual stream / embedding gradients */
    float *dcls, *dlnpost; /* (B, W) */
    float *dpatch;    /* (B*GG, W) */
    block_grad_scratch gs;
} vision_acts;

clipc_status vision_acts_alloc(vision_acts *a, const clipc_config *cfg, int B, int training);
void vision_acts_free(vision_acts *a);
/* feat (B, E).  B may be less than the capacity. */
void vision_forward(vision_acts *a, float *feat, const float *pixels, const vision_weights *w,
                    const clipc_config *cfg, int B);
/* Gradients of the vision parameters accumulate into *g. */
void vision_backward(vision_acts *a, const vision_weights *g, const float *dfeat, const vision_weights *w,
                     const clipc_config *cfg, int B);

/* ---- text.c
 * Captions are packed: caption b's first len_b tokens (len_b = its EOT index
 * + 1, or a fixed T when asked for) are rows off[b]..off[b+1]-1, so the
 * tower does no work on padding.  Views are sized for R rows (capacity);
 * a forward touches only the rows it uses, so memory that a short batch
 * does not reach is never paged in. */
typedef struct {
    int B, R, T, C, E, NH, L, training; /* capacity: captions, packed rows; T = context length */
    float dropout;        /* training only: probability and step seed (0 = off) */
    uint64_t dropout_seed;
    float *mem;
    int *off;         /* (B+1) row offsets of the last forward's captions */
    seqs sq;          /* the last forward's layout (off = the array above) */
    float *x0;        /* (R, C) token + positional embedding */
    block_acts *blocks;
    int *eot;         /* (B) argmax of each id row */
    float *pooled;    /* (B, C) last block output at the EOT position */
    float *lnf, *lnf_mean, *lnf_rstd; /* (B, C) ln_final of the pooled rows */
    float *dpooled;   /* (B, C) */
    float *dx, *dlnf; /* training only: (R, C), (B, C) */
    block_grad_scratch gs;
} text_acts;

/* Capacity: B captions, R packed rows (B * context_length always suffices;
 * text_packed_rows gives the exact need of a batch). */
clipc_status text_acts_alloc(text_acts *a, const clipc_config *cfg, int B, int R, int training);
void text_acts_free(text_acts *a);
/* Rows the packed forward of these B id rows needs: sum of (EOT index + 1). */
int text_packed_rows(const int32_t *ids, int B, int ctx);
/* T = 0: packed, each caption up to its EOT (exact: under the causal mask
 * later positions cannot reach the EOT).  T > 0: every caption runs
 * positions 0..T-1 (padded; T > every EOT index, as the goldens of all
 * positions need).  Rows used must fit the capacity R. */
void text_forward(text_acts *a, float *feat, const int32_t *ids, const text_weights *w, const clipc_config *cfg,
                  int B, int T);
/* Backward of the last text_forward (same ids, same layout). */
void text_backward(text_acts *a, const text_weights *g, const float *dfeat, const int32_t *ids,
                   const text_weights *w, const clipc_config *cfg, int B);
/* argmax of each row of ids (first on ties, as torch.argmax). */
int text_eot_index(const int32_t *row, int ctx);

#endif
