/*
 * vision.c — OpenAI's VisionTransformer: conv1 patch embedding (no bias),
 * class token, positional embedding, ln_pre, the residual blocks (no mask),
 * ln_post on the class token, then x @ proj.  In inference the caller's
 * backend (backend.h) goes to every GEMM; training passes none.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/vision_tower.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "kernels/backend.h"
#include "nn/block.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/seqs.h"

clipc_status vision_acts_alloc(vision_acts *a, const clipc_config *c, int B, int training) {
    memset(a, 0, sizeof *a);
    int P = c->vision_patch_size, G = c->image_resolution / P;
    a->B = B;
    a->GG = G * G;
    a->T = a->GG + 1;
    a->W = c->vision_width;
    a->E = c->embed_dim;
    a->NH = c->vision_heads;
    a->L = c->vision_layers;
    a->K = 3 * P * P;
    a->training = training;
    size_t BT = (size_t)B * a->T, W = (size_t)a->W;
    size_t blk = block_acts_floats(BT, a->W, a->NH, training);
    size_t n = (size_t)B * a->GG * a->K + (size_t)B * a->GG * W + 2 * BT * W + 2 * BT +
               (training ? (size_t)a->L * blk : blk + 2 * BT * W) + block_shared_floats(BT, a->T, a->W) +
               2 * (size_t)B * W + 2 * (size_t)B;
    if (training)
        n += 2 * BT * W + 2 * (size_t)B * W + (size_t)B * a->GG * W + block_grad_scratch_floats(BT, a->W);
    a->mem = mem_alloc(n * sizeof(float), "vision activations");
    a->blocks = mem_calloc((size_t)a->L, sizeof(block_acts), "vision blocks");
    if (!a->mem || !a->blocks) {
        vision_acts_free(a);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory: vision activations for batch %d need %.1f MiB",
                           B, (double)n * 4 / 1048576);
    }
    float *m = a->mem;
    a->cols = m; m += (size_t)B * a->GG * a->K;
    a->patch = m; m += (size_t)B * a->GG * W;
    a->x0 = m; m += BT * W;
    a->lnpre = m; m += BT * W;
    a->lnpre_mean = m; m += BT;
    a->lnpre_rstd = m; m += BT;
    float *bshared = m;
    m += block_shared_floats(BT, a->T, a->W);
    if (training) {
        for (int l = 0; l < a->L; l++) m = block_acts_bind(&a->blocks[l], m, bshared, BT, a->W, a->NH, 1);
    } else {
        /* One set of views for every block; the residual stream ping-pongs. */
        float *shared = m;
        m += blk;
        float *ping = m, *pong = m + BT * W;
        m += 2 * BT * W;
        for (int l = 0; l < a->L; l++) {
            block_acts_bind(&a->blocks[l], shared, bshared, BT, a->W, a->NH, 0);
            a->blocks[l].out = (l & 1) ? pong : ping;
        }
    }
    a->cls = m; m += (size_t)B * W;
    a->lnpost = m; m += (size_t)B * W;
    a->lnpost_mean = m; m += B;
    a->lnpost_rstd = m; m += B;
    if (training) {
        a->dx = m; m += BT * W;
        a->dx0 = m; m += BT * W;
        a->dcls = m; m += (size_t)B * W;
        a->dlnpost = m; m += (size_t)B * W;
        a->dpatch = m; m += (size_t)B * a->GG * W;
        m = block_grad_scratch_bind(&a->gs, m, BT, a->W);
        /* training: the activation lives in the grad scratch (backward rebuilds it there) */
        for (int l = 0; l < a->L; l++) a->blocks[l].h = a->gs.dfch;
    }
    return CLIPC_OK;
}

void vision_acts_free(vision_acts *a) {
    free(a->mem);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

int vision_forward(vision_acts *a, float *feat, const float *pixels, const vision_weights *w,
                   const clipc_config *c, int B, const infer_backend *be) {
    int W = a->W, T = a->T, GG = a->GG, failed = 0;
    seqs sq = {B, T, NULL};
    patch_im2col(a->cols, pixels, B, c->image_resolution, c->vision_patch_size);
    linear_forward(a->patch, a->cols, w->conv1, NULL, B * GG, a->K, W, be);
    vision_embed_forward(a->x0, a->patch, w->class_emb, w->pos_emb, B, GG, W);
    layernorm_forward(a->lnpre, a->lnpre_mean, a->lnpre_rstd, a->x0, w->ln_pre_w, w->ln_pre_b, B * T, W);
    const float *x = a->lnpre;
    for (int l = 0; l < a->L; l++) {
        block_dropout d;
        failed |= block_forward(&a->blocks[l], x, &w->blocks[l], &sq, W, a->NH, 0, c->act,
                                tower_dropout(&d, a->dropout, a->dropout_seed, 0, l), be);
        x = a->blocks[l].out;
    }
    for (int b = 0; b < B; b++) memcpy(a->cls + (size_t)b * W, x + (size_t)b * T * W, (size_t)W * sizeof(float));
    layernorm_forward(a->lnpost, a->lnpost_mean, a->lnpost_rstd, a->cls, w->ln_post_w, w->ln_post_b, B, W);
    matmul_forward(feat, a->lnpost, w->proj, B, W, a->E, be);
    return failed;
}

void vision_backward(vision_acts *a, const vision_weights *g, const float *dfeat, const vision_weights *w,
                     const clipc_config *c, int B) {
    int W = a->W, T = a->T, GG = a->GG;
    seqs sq = {B, T, NULL};
    size_t BTW = (size_t)B * T * W;
    matmul_backward(a->dlnpost, g->proj, dfeat, a->lnpost, w->proj, B, W, a->E);
    memset(a->dcls, 0, (size_t)B * W * sizeof(float));
    layernorm_backward(a->dcls, g->ln_post_w, g->ln_post_b, a->dlnpost, a->cls, w->ln_post_w, a->lnpost_mean,
                       a->lnpost_rstd, B, W);
    /* Only the class token of the last block reaches the output. */
    memset(a->dx, 0, BTW * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(a->dx + (size_t)b * T * W, a->dcls + (size_t)b * W, (size_t)W * sizeof(float));
    for (int l = a->L - 1; l >= 0; l--) {
        const float *x = l == 0 ? a->lnpre : a->blocks[l - 1].out;
        block_dropout d;
        block_backward(a->dx, &g->blocks[l], a->dx, x, &a->blocks[l], &w->blocks[l], &a->gs, &sq, W, a->NH, 0,
                       c->act, tower_dropout(&d, a->dropout, a->dropout_seed, 0, l));
        if (a->bw_tick) a->bw_tick(a->bw_tick_ud);
    }
    memset(a->dx0, 0, BTW * sizeof(float));
    layernorm_backward(a->dx0, g->ln_pre_w, g->ln_pre_b, a->dx, a->x0, w->ln_pre_w, a->lnpre_mean, a->lnpre_rstd,
                       B * T, W);
    vision_embed_backward(a->dpatch, g->class_emb, g->pos_emb, a->dx0, B, GG, W);
    linear_backward(NULL, g->conv1, NULL, a->dpatch, a->cols, w->conv1, B * GG, a->K, W);
}
