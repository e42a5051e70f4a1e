/*
 * clip.h — the whole CLIP model forward and backward for training: both
 * towers, the contrastive loss, and gradients for every parameter.
 */
#ifndef CLIPC_CLIP_H
#define CLIPC_CLIP_H

#include "clipc.h"
#include "nn/loss.h"
#include "nn/params.h"
#include "nn/resnet_tower.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"
#include "nn/distilbert_tower.h"
#include "nn/loss_soft.h"
#include "nn/proj_head.h"
#include "nn/tv_resnet_tower.h"

typedef struct {
    clipc_config cfg;
    int B;                 /* batch capacity */
    vision_acts va;        /* ViT ...   */
    resnet_acts ra;        /* ... or ModifiedResNet (cfg.vision_arch) */
    text_acts ta;
    float *mem;            /* features, their gradients and the loss cache */
    float *img_feat, *txt_feat; /* (B, E) */
    float *dimg, *dtxt;         /* (B, E) */
    clip_loss_cache lc;
    int T;                 /* the longest caption run in the last forward */
    int text_rows;         /* text rows run in the last forward (packed: sum of caption lengths) */
    /* Dropout for training (0 = off, the default): set before clip_forward.
     * The mask of each step is a pure function of (dropout_seed, layer,
     * element), so it does not depend on thread timing; change the seed
     * every step. */
    float dropout;
    uint64_t dropout_seed;
    /* ---- the tutorial's family (clip_tutorial.c): the torchvision ResNet
     * and DistilBERT pool features that the projection heads take to E. */
    int tutorial;
    tv_resnet_acts tva;
    distilbert_acts dba;
    proj_head_acts ih, th;
    float *tmem;
    float *img_pool, *txt_pool;   /* (B, 32 vision_width), (B, transformer_width) */
    float *dimg_pool, *dtxt_pool;
    /* Set before clip_forward: eval = 1 runs BatchNorm on its running
     * statistics (validation); soft = 1 takes the notebook's soft-target
     * loss at temperature exp(-logit_scale) instead of CLIP's. */
    int eval, soft;
    soft_loss_cache sl;
    /* Data-parallel training (train/step.c): clip_backward_towers runs the
     * text tower first and then calls text_done, whose gradients (and every
     * tensor but the vision tower's) are then final; tick is called between
     * the vision tower's blocks.  NULL: not called. */
    void (*bw_text_done)(void *ud);
    void (*bw_tick)(void *ud);
    void *bw_ud;
} clip_workspace;

clipc_status clip_workspace_alloc(clip_workspace *ws, const clipc_config *cfg, int B);
void clip_workspace_free(clip_workspace *ws);

/* Forward both towers and the loss for B <= capacity pairs; returns the loss.
 * T = 0 packs the captions, each run only up to its own EOT (exact, the
 * fast default, see text.c); 0 < T <= context_length runs positions
 * 0..T-1 of every caption (padded; T = context_length: every position). */
float clip_forward(clip_workspace *ws, const clip_weights *w, const float *pixels, const int32_t *ids, int B,
                   int T);
/* Backward of the last clip_forward; gradients ACCUMULATE into *g (zero
 * them first for a fresh step). */
void clip_backward(clip_workspace *ws, const clip_weights *g, const clip_weights *w, const int32_t *ids, int B);

/* The two towers alone (data-parallel training, train/step.c): forward
 * fills img_feat and txt_feat; backward takes the features' gradients from
 * dimg and dtxt (set by the caller) and accumulates into *g, text tower
 * first (the towers write disjoint gradients: the order changes no bit). */
void clip_forward_towers(clip_workspace *ws, const clip_weights *w, const float *pixels, const int32_t *ids,
                         int B, int T);
void clip_backward_towers(clip_workspace *ws, const clip_weights *g, const clip_weights *w, const int32_t *ids,
                          int B);

/* Bytes of activations allocated for training batch B: an upper bound
 * (packed text batches page in only the rows they use). */
size_t clip_workspace_bytes(const clipc_config *cfg, int B);

#endif
