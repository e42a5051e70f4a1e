/*
 * tv_resnet_tower.c — torchvision's ResNet tower (tv_resnet_tower.h): lays
 * out the activations, runs the stem, the bottleneck stages and the global
 * average pool, forward and backward.
 *
 * One allocation, carved by layout(): the same function computes the size
 * (base NULL: offsets only) and binds the views, so the two cannot disagree
 * (the scheme of nn/resnet_tower.c).  A batch smaller than the capacity is
 * laid out again in the same memory.  Training keeps every block's
 * activations; inference binds the blocks alternately into two regions.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/tv_resnet_tower.h"
#include "clipc.h"
#include "base/error.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/maxpool.h"
#include "nn/relu.h"
#include "nn/tv_bottleneck.h"

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Bump allocator over a->mem, or a counter when base is NULL. */
typedef struct { float *base; size_t used; } carve;
static float *take(carve *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

/* Sets every shape and view for batch B; returns the floats used. */
static size_t layout(tv_resnet_acts *a, int B, float *base) {
    carve c = {base, 0};
    int R = a->R, w = a->w, tr = a->training;
    a->B = B;
    conv_shape_set(&a->s1, B, R, R, 3, w, 7, 2, 3);
    a->h = a->s1.Ho;
    a->q = maxpool_out(a->h, 3, 2, 1);
    size_t hh = (size_t)B * a->h * a->h, mx = hh * w, cols = conv2d_cols_floats(&a->s1), region = 0;
    a->x = take(&c, (size_t)B * R * R * 3);
    a->a1 = take(&c, hh * w);
    a->y1 = tr ? take(&c, hh * w) : a->a1;
    a->st1.mean = take(&c, (size_t)w);
    a->st1.rstd = take(&c, (size_t)w);
    a->mp = take(&c, (size_t)B * a->q * a->q * w);
    int H = a->q, Cin = w, i = 0;
    for (int l = 0; l < 4; l++) {
        int P = w << l, n = a->stage_n[l];
        for (int k = 0; k < n; k++, i++) {
            int stride = (l > 0 && k == 0) ? 2 : 1, ds = stride > 1 || Cin != 4 * P; /* torchvision's rule */
            tv_bottleneck_acts *bk = &a->blocks[i];
            region = zmax(region, tv_bottleneck_plan(bk, B, H, H, Cin, P, stride, ds, tr));
            bk->bn_train = a->bn_train;
            mx = zmax(mx, tv_bottleneck_max_floats(bk));
            cols = zmax(cols, tv_bottleneck_cols_floats(bk));
            H = bk->Ho;
            Cin = 4 * P;
        }
    }
    a->S = H;
    float *reg[2] = {NULL, NULL};
    if (!tr) reg[0] = take(&c, region), reg[1] = take(&c, region);
    for (int b = 0; b < a->nblocks; b++) {
        tv_bottleneck_acts *k = &a->blocks[b];
        size_t n = tv_bottleneck_plan(k, k->B, k->H, k->W, k->Cin, k->P, k->stride, k->ds, tr);
        k->bn_train = a->bn_train;
        float *m = tr ? take(&c, n) : reg[b & 1];
        if (m) tv_bottleneck_bind(k, m);
    }
    a->sc.cols = take(&c, cols);
    a->sc.dcols = tr ? take(&c, cols) : NULL;
    a->sc.t1 = take(&c, mx);
    a->sc.t2 = tr ? take(&c, mx) : NULL;
    a->sc.t3 = NULL;
    a->g1 = tr ? take(&c, mx) : NULL;
    a->g2 = tr ? take(&c, mx) : NULL;
    return c.used;
}

/* The shape fields layout() needs, from the config. */
static clipc_status setup(tv_resnet_acts *a, const clipc_config *cfg, int training) {
    memset(a, 0, sizeof *a);
    a->R = cfg->image_resolution, a->w = cfg->vision_width, a->D = tv_resnet_feat_dim(cfg);
    a->training = a->bn_train = training;
    for (int l = 0; l < 4; l++) {
        a->stage_n[l] = cfg->vision_blocks[l];
        a->nblocks += cfg->vision_blocks[l];
    }
    a->blocks = mem_calloc((size_t)a->nblocks, sizeof(tv_bottleneck_acts), "resnet blocks");
    return a->blocks ? CLIPC_OK : CLIPC_ERR_NOMEM;
}

int tv_resnet_feat_dim(const clipc_config *cfg) { return 32 * cfg->vision_width; }

size_t tv_resnet_acts_floats(const clipc_config *cfg, int B, int training) {
    tv_resnet_acts a;
    if (setup(&a, cfg, training)) return (size_t)-1;
    size_t n = layout(&a, B, NULL);
    free(a.blocks);
    return n;
}

clipc_status tv_resnet_acts_alloc(tv_resnet_acts *a, const clipc_config *cfg, int B, int training) {
    clipc_status s = setup(a, cfg, training);
    if (s) return s;
    size_t n = layout(a, B, NULL);
    a->mem = mem_alloc(n * sizeof(float), "resnet activations");
    if (!a->mem) {
        tv_resnet_acts_free(a);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory: ResNet activations for batch %d need %.1f MiB", B,
                           (double)n * 4 / 1048576);
    }
    a->cap = B;
    layout(a, B, a->mem);
    return CLIPC_OK;
}

void tv_resnet_acts_free(tv_resnet_acts *a) {
    free(a->mem);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

void tv_resnet_forward(tv_resnet_acts *a, float *pooled, const float *pixels, const tv_resnet_weights *w, int B) {
    if (B != a->B) layout(a, B, a->mem);
    int R = a->R, C = a->D, t = a->bn_train;
    size_t RR = (size_t)R * R, hh = (size_t)B * a->h * a->h;
    for (int b = 0; b < B; b++) /* NCHW -> NHWC */
        for (size_t p = 0; p < RR; p++)
            for (int ch = 0; ch < 3; ch++) a->x[((size_t)b * RR + p) * 3 + ch] = pixels[((size_t)b * 3 + ch) * RR + p];
    conv2d_forward(a->a1, a->sc.cols, a->x, w->conv1, &a->s1);
    tv_bn_forward(a->y1, a->a1, &w->bn1, &a->st1, hh, a->w, t, a->sync);
    relu_forward(a->y1, a->y1, hh * a->w);
    maxpool_forward(a->mp, a->y1, B, a->h, a->h, a->w, 3, 2, 1);
    const float *x = a->mp;
    for (int b = 0; b < a->nblocks; b++) {
        a->blocks[b].bn_train = t;
        a->blocks[b].sync = a->sync;
        tv_bottleneck_forward(&a->blocks[b], x, &w->blocks[b], &a->sc);
        x = a->blocks[b].out;
    }
    /* Global average pool, summed in double in row order. */
    int SS = a->S * a->S;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int p = 0; p < SS; p++) s += x[((size_t)b * SS + p) * C + c];
            pooled[(size_t)b * C + c] = (float)(s / SS);
        }
}

/* One BatchNorm's collectives with no rows: forward (g NULL) or backward. */
static void idle_bn(const bn_weights *w, const bn_weights *g, const bn_stats *st, int C, bn_sync *sync) {
    if (g) batchnorm_train_backward(NULL, g->w, g->b, NULL, NULL, w->w, st->mean, st->rstd, 0, C, sync);
    else batchnorm_train_forward(NULL, st->mean, st->rstd, NULL, w->w, w->b, w->mean, w->var, 0, C, sync);
}

void tv_resnet_sync_idle(tv_resnet_acts *a, const tv_resnet_weights *w, const tv_resnet_weights *g) {
    if (!g) idle_bn(&w->bn1, NULL, &a->st1, a->w, a->sync); /* forward: the stem first */
    for (int i = 0; i < a->nblocks; i++) {
        int b = g ? a->nblocks - 1 - i : i; /* backward: the blocks in reverse */
        const tv_bottleneck_acts *k = &a->blocks[b];
        const bottleneck_weights *bw = &w->blocks[b], *bg = g ? &g->blocks[b] : NULL;
        int P = k->P;
        if (!g) {
            idle_bn(&bw->bn1, NULL, &k->s1, P, a->sync);
            idle_bn(&bw->bn2, NULL, &k->s2, P, a->sync);
            idle_bn(&bw->bn3, NULL, &k->s3, 4 * P, a->sync);
            if (k->ds) idle_bn(&bw->ds_bn, NULL, &k->sd, 4 * P, a->sync);
        } else { /* tv_bottleneck_backward's order: the shortcut, then bn3, bn2, bn1 */
            if (k->ds) idle_bn(&bw->ds_bn, &bg->ds_bn, &k->sd, 4 * P, a->sync);
            idle_bn(&bw->bn3, &bg->bn3, &k->s3, 4 * P, a->sync);
            idle_bn(&bw->bn2, &bg->bn2, &k->s2, P, a->sync);
            idle_bn(&bw->bn1, &bg->bn1, &k->s1, P, a->sync);
        }
    }
    if (g) idle_bn(&w->bn1, &g->bn1, &a->st1, a->w, a->sync); /* backward: the stem last */
}

void tv_resnet_backward(tv_resnet_acts *a, const tv_resnet_weights *g, const float *dpooled,
                        const tv_resnet_weights *w, int B) {
    (void)B; /* the batch of the last forward (a->B) */
    float *cur = a->g1, *nxt = a->g2;
    int C = a->D, SS = a->S * a->S, t = a->bn_train;
    float inv = 1.0f / (float)SS;
    for (int b = 0; b < a->B; b++)
        for (int p = 0; p < SS; p++)
            for (int c = 0; c < C; c++) cur[((size_t)b * SS + p) * C + c] = dpooled[(size_t)b * C + c] * inv;
    for (int b = a->nblocks - 1; b >= 0; b--) {
        const float *x = b ? a->blocks[b - 1].out : a->mp;
        tv_bottleneck_backward(nxt, cur, &g->blocks[b], &a->blocks[b], x, &w->blocks[b], &a->sc);
        float *tmp = cur;
        cur = nxt, nxt = tmp;
    }
    size_t hh = (size_t)a->B * a->h * a->h;
    maxpool_backward(nxt, cur, a->y1, a->B, a->h, a->h, a->w, 3, 2, 1);
    relu_backward(nxt, nxt, a->y1, hh * a->w);
    tv_bn_backward(a->sc.t1, &g->bn1, nxt, a->a1, &w->bn1, &a->st1, hh, a->w, t, a->sync);
    conv2d_backward(NULL, g->conv1, a->sc.t1, a->x, w->conv1, a->sc.cols, a->sc.dcols, &a->s1);
}
