/*
 * clip.c — CLIP forward and backward over a batch of image-text pairs:
 * encode both, symmetric contrastive loss, then back through both towers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/clip.h"
#include "clipc.h"
#include "base/error.h"
#include "nn/block.h"
#include "nn/clip_tutorial.h"
#include "nn/loss.h"
#include "nn/params.h"
#include "nn/resnet_tower.h"
#include "nn/seqs.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"

clipc_status clip_workspace_alloc(clip_workspace *ws, const clipc_config *cfg, int B) {
    memset(ws, 0, sizeof *ws);
    ws->cfg = *cfg;
    ws->B = B;
    int E = cfg->embed_dim;
    if (cfg->head != CLIPC_HEAD_OPENAI) return clip_tutorial_alloc(ws, cfg, B); /* the tutorial's model */
    clipc_status s = cfg->vision_arch == CLIPC_VISION_RESNET ? resnet_acts_alloc(&ws->ra, cfg, B, 1)
                                                             : vision_acts_alloc(&ws->va, cfg, B, 1);
    if (!s) s = text_acts_alloc(&ws->ta, cfg, B, B * cfg->context_length, 1);
    if (s) {
        clip_workspace_free(ws);
        return s;
    }
    size_t n = 4 * (size_t)B * E + clip_loss_cache_floats(B, E);
    ws->mem = mem_alloc(n * sizeof(float), "loss workspace");
    if (!ws->mem) {
        clip_workspace_free(ws);
        return CLIPC_ERR_NOMEM;
    }
    ws->img_feat = ws->mem;
    ws->txt_feat = ws->img_feat + (size_t)B * E;
    ws->dimg = ws->txt_feat + (size_t)B * E;
    ws->dtxt = ws->dimg + (size_t)B * E;
    clip_loss_cache_bind(&ws->lc, ws->dtxt + (size_t)B * E, B, E);
    return CLIPC_OK;
}

void clip_workspace_free(clip_workspace *ws) {
    clip_tutorial_free(ws);
    vision_acts_free(&ws->va);
    resnet_acts_free(&ws->ra);
    text_acts_free(&ws->ta);
    free(ws->mem);
    memset(ws, 0, sizeof *ws);
}

size_t clip_workspace_bytes(const clipc_config *c, int B) {
    /* Mirrors vision_acts_alloc, text_acts_alloc and clip_workspace_alloc.
     * The text tower is allocated for B full-length captions; packed batches
     * touch (and so page in) only the rows they use, so this is an upper
     * bound of the resident memory. */
    if (c->head != CLIPC_HEAD_OPENAI) return clip_tutorial_bytes(c, B); /* the tutorial's model */
    int rn = c->vision_arch == CLIPC_VISION_RESNET;
    /* (a ResNet's ViT terms are of a 1-token ViT: 0 layers, its size is below) */
    int P = rn ? c->image_resolution : c->vision_patch_size, G = c->image_resolution / P, GG = G * G, Tv = GG + 1,
        Tt = c->context_length;
    size_t W = (size_t)c->vision_width, Cw = (size_t)c->transformer_width, E = (size_t)c->embed_dim;
    size_t BTv = (size_t)B * Tv, BTt = (size_t)B * Tt, K = 3 * (size_t)P * P;
    size_t v = (size_t)B * GG * K + (size_t)B * GG * W + 2 * BTv * W + 2 * BTv +
               (size_t)c->vision_layers * block_acts_floats(BTv, c->vision_width, c->vision_heads, 1) +
               block_shared_floats(BTv, Tv, c->vision_width) + 2 * (size_t)B * W + 2 * (size_t)B +
               2 * BTv * W + 2 * (size_t)B * W + (size_t)B * GG * W + block_grad_scratch_floats(BTv, c->vision_width);
    size_t t = BTt * Cw +
               (size_t)c->transformer_layers * block_acts_floats(BTt, c->transformer_width, c->transformer_heads, 1) +
               block_shared_floats(BTt, Tt, c->transformer_width) + 3 * (size_t)B * Cw + 2 * (size_t)B + BTt * Cw +
               (size_t)B * Cw + block_grad_scratch_floats(BTt, c->transformer_width);
    if (rn) v = resnet_acts_floats(c, B, 1);
    size_t l = 4 * (size_t)B * E + clip_loss_cache_floats(B, c->embed_dim);
    return (v + t + l) * sizeof(float);
}

/* ---- the towers apart from the loss: data-parallel training
 * (train/step.c) computes the loss over features gathered from every rank
 * between the two. */
void clip_forward_towers(clip_workspace *ws, const clip_weights *w, const float *pixels, const int32_t *ids,
                         int B, int T) {
    const clipc_config *c = &ws->cfg;
    if (ws->tutorial) {
        clip_tutorial_forward_towers(ws, w, pixels, ids, B);
        return;
    }
    if (T < 0 || T > c->context_length) T = 0;
    ws->va.dropout = ws->ta.dropout = ws->dropout;
    ws->va.dropout_seed = ws->ta.dropout_seed = ws->dropout_seed;
    /* training: no inference backend, OpenBLAS throughout */
    if (c->vision_arch == CLIPC_VISION_RESNET) resnet_forward(&ws->ra, ws->img_feat, pixels, &w->v.rn, B);
    else vision_forward(&ws->va, ws->img_feat, pixels, &w->v, c, B, NULL);
    text_forward(&ws->ta, ws->txt_feat, ids, &w->t, c, B, T, NULL);
    ws->T = ws->ta.sq.T;
    ws->text_rows = seqs_rows(&ws->ta.sq);
}

void clip_backward_towers(clip_workspace *ws, const clip_weights *g, const clip_weights *w, const int32_t *ids,
                          int B) {
    if (ws->tutorial) {
        clip_tutorial_backward_towers(ws, g, w, ids, B);
        return;
    }
    text_backward(&ws->ta, &g->t, ws->dtxt, ids, &w->t, &ws->cfg, B);
    if (ws->bw_text_done) ws->bw_text_done(ws->bw_ud);
    ws->va.bw_tick = ws->bw_tick, ws->va.bw_tick_ud = ws->bw_ud;
    if (ws->cfg.vision_arch == CLIPC_VISION_RESNET) resnet_backward(&ws->ra, &g->v.rn, ws->dimg, &w->v.rn, B);
    else vision_backward(&ws->va, &g->v, ws->dimg, &w->v, &ws->cfg, B);
    ws->va.bw_tick = NULL;
}
/* ---- end of the data-parallel split */

float clip_forward(clip_workspace *ws, const clip_weights *w, const float *pixels, const int32_t *ids, int B,
                   int T) {
    clip_forward_towers(ws, w, pixels, ids, B, T);
    if (ws->soft) return soft_loss_forward(&ws->sl, ws->img_feat, ws->txt_feat, expf(-*w->logit_scale), B,
                                           ws->cfg.embed_dim);
    return clip_loss_forward(&ws->lc, ws->img_feat, ws->txt_feat, *w->logit_scale, B, ws->cfg.embed_dim);
}

void clip_backward(clip_workspace *ws, const clip_weights *g, const clip_weights *w, const int32_t *ids, int B) {
    if (ws->soft) /* the notebook's temperature is a constant: no logit_scale gradient */
        soft_loss_backward(ws->dimg, ws->dtxt, &ws->sl, ws->img_feat, ws->txt_feat, expf(-*w->logit_scale), B,
                           ws->cfg.embed_dim);
    else
        clip_loss_backward(ws->dimg, ws->dtxt, g->logit_scale, &ws->lc, *w->logit_scale, B, ws->cfg.embed_dim);
    clip_backward_towers(ws, g, w, ids, B);
}
