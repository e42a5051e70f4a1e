/*
 * clip_tutorial.c — the tutorial model's training graph (seed 002's
 * CLIPModel.forward): image -> ResNet (global average pool) ->
 * image_projection; ids -> DistilBERT ([CLS] row) -> text_projection; the
 * loss is clip.c's (CLIP's cross-entropy at the model's temperature, or the
 * notebook's soft targets).
 *
 * BatchNorm: train mode (batch statistics, running statistics updated) in
 * training steps, eval mode when ws->eval is set (validation loss), as
 * model.train() / model.eval() in the seed.  Dropout (ws->dropout) goes to
 * DistilBERT and the MLP head, as nn.Dropout(0.1) in both.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/clip_tutorial.h"
#include "base/error.h"
#include "nn/distilbert_tower.h"
#include "nn/loss.h"
#include "nn/loss_soft.h"
#include "nn/proj_head.h"
#include "nn/seqs.h"
#include "nn/tv_resnet_tower.h"

static size_t tmem_floats(const clipc_config *c, int B) {
    size_t Dv = (size_t)32 * c->vision_width, Ct = (size_t)c->transformer_width, E = (size_t)c->embed_dim;
    return 4 * (size_t)B * E + clip_loss_cache_floats(B, c->embed_dim) + soft_loss_cache_floats(B) +
           2 * (size_t)B * (Dv + Ct);
}

clipc_status clip_tutorial_alloc(clip_workspace *ws, const clipc_config *c, int B) {
    ws->tutorial = 1;
    int E = c->embed_dim, Dv = tv_resnet_feat_dim(c), Ct = c->transformer_width;
    clipc_status s = tv_resnet_acts_alloc(&ws->tva, c, B, 1);
    if (!s) s = distilbert_acts_alloc(&ws->dba, c, B, c->context_length, 1);
    if (!s) s = proj_head_acts_alloc(&ws->ih, c->head, B, Dv, E);
    if (!s) s = proj_head_acts_alloc(&ws->th, c->head, B, Ct, E);
    if (!s && !(ws->tmem = mem_alloc(tmem_floats(c, B) * sizeof(float), "tutorial workspace"))) s = CLIPC_ERR_NOMEM;
    if (s) {
        clip_workspace_free(ws);
        return s;
    }
    ws->ih.site = 0, ws->th.site = 1;
    size_t BE = (size_t)B * E;
    ws->img_feat = ws->tmem, ws->txt_feat = ws->img_feat + BE, ws->dimg = ws->txt_feat + BE,
    ws->dtxt = ws->dimg + BE;
    float *p = ws->dtxt + BE;
    clip_loss_cache_bind(&ws->lc, p, B, E);
    p += clip_loss_cache_floats(B, E);
    soft_loss_cache_bind(&ws->sl, p, B);
    p += soft_loss_cache_floats(B);
    ws->img_pool = p, p += (size_t)B * Dv;
    ws->dimg_pool = p, p += (size_t)B * Dv;
    ws->txt_pool = p, p += (size_t)B * Ct;
    ws->dtxt_pool = p;
    return CLIPC_OK;
}

void clip_tutorial_free(clip_workspace *ws) {
    if (!ws->tutorial) return;
    tv_resnet_acts_free(&ws->tva);
    distilbert_acts_free(&ws->dba);
    proj_head_acts_free(&ws->ih);
    proj_head_acts_free(&ws->th);
    free(ws->tmem);
    ws->tmem = NULL;
    ws->tutorial = 0;
}

size_t clip_tutorial_bytes(const clipc_config *c, int B) {
    return (tv_resnet_acts_floats(c, B, 1) + distilbert_acts_floats(c, B, c->context_length, 1) +
            2 * proj_head_acts_floats(c->head, B, c->embed_dim) + tmem_floats(c, B)) * sizeof(float);
}

void clip_tutorial_forward_towers(clip_workspace *ws, const clip_weights *w, const float *pixels,
                                  const int32_t *ids, int B) {
    const clipc_config *c = &ws->cfg;
    ws->tva.bn_train = !ws->eval;
    ws->dba.dropout = ws->ih.dropout = ws->th.dropout = ws->eval ? 0.0f : ws->dropout;
    ws->dba.dropout_seed = ws->ih.dropout_seed = ws->th.dropout_seed = ws->dropout_seed;
    tv_resnet_forward(&ws->tva, ws->img_pool, pixels, &w->v.tv, B);
    distilbert_forward(&ws->dba, ws->txt_pool, ids, &w->t.db, c, B, c->context_length);
    proj_head_forward(&ws->ih, ws->img_feat, ws->img_pool, &w->img_head, B);
    proj_head_forward(&ws->th, ws->txt_feat, ws->txt_pool, &w->txt_head, B);
    ws->T = ws->dba.ctx;
    ws->text_rows = seqs_rows(&ws->dba.sq);
}

void clip_tutorial_backward_towers(clip_workspace *ws, const clip_weights *g, const clip_weights *w,
                                   const int32_t *ids, int B) {
    const clipc_config *c = &ws->cfg;
    proj_head_backward(&ws->ih, ws->dimg_pool, &g->img_head, ws->dimg, ws->img_pool, &w->img_head, B);
    proj_head_backward(&ws->th, ws->dtxt_pool, &g->txt_head, ws->dtxt, ws->txt_pool, &w->txt_head, B);
    tv_resnet_backward(&ws->tva, &g->v.tv, ws->dimg_pool, &w->v.tv, B);
    distilbert_backward(&ws->dba, &g->t.db, ws->dtxt_pool, ids, &w->t.db, c, B);
}
