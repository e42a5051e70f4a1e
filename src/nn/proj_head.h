/*
 * proj_head.h — the tutorial model's projection heads (seed 002, proj_head.c):
 * a tower's pooled feature (B, D) to the shared space (B, E).
 *
 *   linear (seed 002's ProjectionHead):  y = x W^T            (no bias)
 *   mlp (the notebook's ProjectionHead): p = x W^T + b
 *                                        y = LayerNorm(dropout(fc(GELU(p))) + p)
 * GELU is the exact (erf) one of nn.GELU(), LayerNorm's eps 1e-5.  Backward
 * accumulates into the weight gradients and OVERWRITES dinp (NULL: skip).
 */
#ifndef CLIPC_NN_PROJ_HEAD_H
#define CLIPC_NN_PROJ_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

/* Views into the parameter buffer; fc/ln/proj_b are NULL for the linear head. */
typedef struct {
    float *proj_w, *proj_b; /* projection.{weight (E, D), bias (E)} */
    float *fc_w, *fc_b;     /* fc.{weight (E, E), bias (E)} */
    float *ln_w, *ln_b;     /* layer_norm.{weight, bias} (E) */
} proj_head_weights;

typedef struct {
    clipc_head kind;      /* CLIPC_HEAD_LINEAR or CLIPC_HEAD_MLP */
    int B, D, E;          /* capacity and widths */
    float *mem;
    /* mlp forward caches (B, E) and (B) */
    float *projected, *h, *x, *mean, *rstd;
    /* mlp backward scratch (B, E) */
    float *dx, *dt, *dh;
    /* Dropout after fc (training only; 0 = off): the mask is a pure function
     * of (dropout_seed, site, element), recomputed in backward. */
    float dropout;
    uint64_t dropout_seed;
    int site;             /* 0 image head, 1 text head: different masks */
} proj_head_acts;

size_t proj_head_acts_floats(clipc_head kind, int B, int E);
clipc_status proj_head_acts_alloc(proj_head_acts *a, clipc_head kind, int B, int D, int E);
void proj_head_acts_free(proj_head_acts *a);

void proj_head_forward(proj_head_acts *a, float *out, const float *inp, const proj_head_weights *w, int B);
void proj_head_backward(proj_head_acts *a, float *dinp, const proj_head_weights *g, const float *dout,
                        const float *inp, const proj_head_weights *w, int B);

#endif
