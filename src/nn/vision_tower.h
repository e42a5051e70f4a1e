/*
 * vision_tower.h — the vision transformer (vision_tower.c): patch
 * embedding, class token, ln_pre, blocks, ln_post on the class token, proj.
 */
#ifndef CLIPC_NN_VISION_TOWER_H
#define CLIPC_NN_VISION_TOWER_H

#include "clipc.h"
#include "kernels/backend.h"
#include "nn/block.h"
#include "nn/params.h"

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
    /* Called after each block's backward when set (data-parallel training
     * gives MPI a chance to progress the gradient buckets already started;
     * train/dist.c, "Overlap"). */
    void (*bw_tick)(void *ud);
    void *bw_tick_ud;
} vision_acts;

clipc_status vision_acts_alloc(vision_acts *a, const clipc_config *cfg, int B, int training);
void vision_acts_free(vision_acts *a);
/* feat (B, E).  B may be less than the capacity.  be: the inference
 * backend (backend.h), NULL in training.  Returns 1 when a kernel of be
 * failed halfway (feat is then to be recomputed with no backend), else 0. */
int vision_forward(vision_acts *a, float *feat, const float *pixels, const vision_weights *w,
                   const clipc_config *cfg, int B, const infer_backend *be);
/* Gradients of the vision parameters accumulate into *g. */
void vision_backward(vision_acts *a, const vision_weights *g, const float *dfeat, const vision_weights *w,
                     const clipc_config *cfg, int B);

#endif
