/*
 * text_tower.h — the text transformer (text_tower.c): token + positional
 * embedding, causal blocks over packed captions, EOT pooling, ln_final,
 * text_projection.
 */
#ifndef CLIPC_NN_TEXT_TOWER_H
#define CLIPC_NN_TEXT_TOWER_H

#include "clipc.h"
#include "kernels/backend.h"
#include "nn/block.h"
#include "nn/params.h"
#include "nn/seqs.h"

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
 * positions need).  Rows used must fit the capacity R.  be: the inference
 * backend (backend.h), NULL in training.  Returns 1 when a kernel of be
 * failed halfway (feat is then to be recomputed with no backend), else 0. */
int text_forward(text_acts *a, float *feat, const int32_t *ids, const text_weights *w, const clipc_config *cfg,
                 int B, int T, const infer_backend *be);
/* Backward of the last text_forward (same ids, same layout). */
void text_backward(text_acts *a, const text_weights *g, const float *dfeat, const int32_t *ids,
                   const text_weights *w, const clipc_config *cfg, int B);
/* argmax of each row of ids (first on ties, as torch.argmax). */
int text_eot_index(const int32_t *row, int ctx);

#endif
