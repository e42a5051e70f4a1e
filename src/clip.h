/*
 * clip.h — the whole CLIP model forward and backward for training: both
 * towers, the contrastive loss, and gradients for every parameter.
 */
#ifndef CLIPC_CLIP_H
#define CLIPC_CLIP_H

#include "tower.h"

typedef struct {
    clipc_config cfg;
    int B;                 /* batch capacity */
    vision_acts va;
    text_acts ta;
    float *mem;            /* features, their gradients and the loss cache */
    float *img_feat, *txt_feat; /* (B, E) */
    float *dimg, *dtxt;         /* (B, E) */
    clip_loss_cache lc;
    int T;                 /* text positions run in the last forward */
    /* Dropout for training (0 = off, the default): set before clip_forward.
     * The mask of each step is a pure function of (dropout_seed, layer,
     * element), so it does not depend on thread timing; change the seed
     * every step. */
    float dropout;
    uint64_t dropout_seed;
} clip_workspace;

clipc_status clip_workspace_alloc(clip_workspace *ws, const clipc_config *cfg, int B);
void clip_workspace_free(clip_workspace *ws);

/* Forward both towers and the loss for B <= capacity pairs; returns the loss.
 * T = 0 runs the text tower up to the longest EOT of the batch (exact, the
 * fast default); T = context_length runs every position. */
float clip_forward(clip_workspace *ws, const clip_weights *w, const float *pixels, const int32_t *ids, int B,
                   int T);
/* Backward of the last clip_forward; gradients ACCUMULATE into *g (zero
 * them first for a fresh step). */
void clip_backward(clip_workspace *ws, const clip_weights *g, const clip_weights *w, const int32_t *ids, int B);

/* Estimated bytes of activations for training batch B. */
size_t clip_workspace_bytes(const clipc_config *cfg, int B);

#endif
