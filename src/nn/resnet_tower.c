/*
 * resnet_tower.c — the ModifiedResNet tower (resnet_tower.h): lays out the
 * activations, runs the stem, the bottleneck stages and the attention pool,
 * forward and backward.
 *
 * One allocation, carved by layout(): the same function computes the size
 * (base NULL: offsets only) and binds the views, so the two cannot disagree.
 * A batch smaller than the capacity is laid out again in the same memory.
 * Training keeps every block's activations; inference binds the blocks
 * alternately into two regions (block l's input is block l-1's output, in
 * the other region), so its memory does not grow with depth.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/resnet_tower.h"
#include "clipc.h"
#include "base/error.h"
#include "nn/attnpool.h"
#include "nn/avgpool.h"
#include "nn/batchnorm.h"
#include "nn/bottleneck.h"
#include "nn/conv2d.h"
#include "nn/relu.h"

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Bump allocator over a->mem, or a counter when base is NULL. */
typedef struct { float *base; size_t used; } carve;
static float *take(carve *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

/* Sets every shape and view for batch B; returns the floats used. */
static size_t layout(resnet_acts *a, int B, float *base) {
    carve c = {base, 0};
    int R = a->R, w = a->w, h = R / 2, q = R / 4, tr = a->training;
    a->B = B;
    conv_shape_set(&a->s1, B, R, R, 3, w / 2, 3, 2, 1);
    conv_shape_set(&a->s2, B, h, h, w / 2, w / 2, 3, 1, 1);
    conv_shape_set(&a->s3, B, h, h, w / 2, w, 3, 1, 1);
    size_t hh = (size_t)B * h * h, mx = hh * w, cols = 0;
    cols = zmax(cols, conv2d_cols_floats(&a->s1));
    cols = zmax(cols, conv2d_cols_floats(&a->s2));
    cols = zmax(cols, conv2d_cols_floats(&a->s3));
    a->x = take(&c, (size_t)B * R * R * 3);
    a->a1 = take(&c, hh * w / 2);
    a->y1 = tr ? take(&c, hh * w / 2) : a->a1;
    a->a2 = take(&c, hh * w / 2);
    a->y2 = tr ? take(&c, hh * w / 2) : a->a2;
    a->a3 = take(&c, hh * w);
    a->y3 = tr ? take(&c, hh * w) : a->a3;
    a->stem = take(&c, (size_t)B * q * q * w);
    /* Blocks: plan all first (sizes), then bind. */
    size_t region = 0;
    int H = q, Cin = w, i = 0;
    for (int l = 0; l < 4; l++) {
        int P = w << l;
        for (int k = 0; k < a->stage_last[l] + 1 - (l ? a->stage_last[l - 1] + 1 : 0); k++, i++) {
            int stride = (l > 0 && k == 0) ? 2 : 1, ds = stride > 1 || Cin != 4 * P;
            size_t n = bottleneck_plan(&a->blocks[i], B, H, H, Cin, P, stride, ds, tr);
            region = zmax(region, n);
            mx = zmax(mx, bottleneck_max_floats(&a->blocks[i]));
            cols = zmax(cols, conv2d_cols_floats(&a->blocks[i].c2));
            H /= stride;
            Cin = 4 * P;
        }
    }
    float *reg[2] = {NULL, NULL};
    if (!tr) reg[0] = take(&c, region), reg[1] = take(&c, region);
    for (int b = 0; b < a->nblocks; b++) {
        bottleneck_acts *k = &a->blocks[b];
        int ds = k->stride > 1 || k->Cin != 4 * k->P; /* OpenAI's rule for a downsample */
        size_t n = bottleneck_plan(k, k->B, k->H, k->W, k->Cin, k->P, k->stride, ds, tr);
        float *m = tr ? take(&c, n) : reg[b & 1];
        if (m) bottleneck_bind(k, m, ds);
    }
    size_t ap = attnpool_acts_floats(B, a->S * a->S, a->D, a->NH, tr);
    float *apm = take(&c, ap);
    if (apm) attnpool_acts_bind(&a->ap, apm, B, a->S * a->S, a->D, a->NH, a->E, tr);
    mx = zmax(mx, (size_t)B * a->S * a->S * a->D);
    a->sc.cols = take(&c, cols);
    a->sc.dcols = tr ? take(&c, cols) : NULL;
    a->sc.t1 = take(&c, mx);
    a->sc.t2 = tr ? take(&c, mx) : NULL;
    a->sc.t3 = tr ? take(&c, mx) : NULL;
    a->g1 = tr ? take(&c, mx) : NULL;
    a->g2 = tr ? take(&c, mx) : NULL;
    return c.used;
}

/* The shape fields layout() needs, from the config. */
static clipc_status setup(resnet_acts *a, const clipc_config *cfg, int training) {
    memset(a, 0, sizeof *a);
    a->R = cfg->image_resolution, a->w = cfg->vision_width, a->D = 32 * cfg->vision_width;
    a->E = cfg->embed_dim, a->NH = cfg->vision_heads, a->S = cfg->image_resolution / 32, a->training = training;
    for (int l = 0; l < 4; l++) {
        a->nblocks += cfg->vision_blocks[l];
        a->stage_last[l] = a->nblocks - 1;
    }
    a->blocks = mem_calloc((size_t)a->nblocks, sizeof(bottleneck_acts), "resnet blocks");
    return a->blocks ? CLIPC_OK : CLIPC_ERR_NOMEM;
}

size_t resnet_acts_floats(const clipc_config *cfg, int B, int training) {
    resnet_acts a;
    if (setup(&a, cfg, training)) return (size_t)-1;
    size_t n = layout(&a, B, NULL);
    free(a.blocks);
    return n;
}

clipc_status resnet_acts_alloc(resnet_acts *a, const clipc_config *cfg, int B, int training) {
    clipc_status s = setup(a, cfg, training);
    if (s) return s;
    size_t n = layout(a, B, NULL);
    a->mem = mem_alloc(n * sizeof(float), "resnet activations");
    if (!a->mem) {
        resnet_acts_free(a);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory: ResNet activations for batch %d need %.1f MiB", B,
                           (double)n * 4 / 1048576);
    }
    layout(a, B, a->mem);
    return CLIPC_OK;
}

void resnet_acts_free(resnet_acts *a) {
    free(a->mem);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

const float *resnet_stage_out(const resnet_acts *a, int i) { return a->blocks[a->stage_last[i]].out; }

/* conv -> bn -> relu of the stem; y may equal a (inference). */
static void stem_layer(float *a, float *y, float *cols, const float *x, const float *cw, const bn_weights *bn,
                       const conv_shape *s) {
    size_t n = (size_t)s->B * s->Ho * s->Wo;
    conv2d_forward(a, cols, x, cw, s);
    batchnorm_forward(y, a, bn->w, bn->b, bn->mean, bn->var, n, s->O);
    relu_forward(y, y, n * s->O);
}

void resnet_forward(resnet_acts *a, float *feat, const float *pixels, const resnet_weights *w, int B) {
    if (B != a->B) layout(a, B, a->mem);
    int R = a->R;
    size_t RR = (size_t)R * R;
    for (int b = 0; b < B; b++) /* NCHW -> NHWC */
        for (size_t p = 0; p < RR; p++)
            for (int ch = 0; ch < 3; ch++) a->x[((size_t)b * RR + p) * 3 + ch] = pixels[((size_t)b * 3 + ch) * RR + p];
    stem_layer(a->a1, a->y1, a->sc.cols, a->x, w->conv1, &w->bn1, &a->s1);
    stem_layer(a->a2, a->y2, a->sc.cols, a->y1, w->conv2, &w->bn2, &a->s2);
    stem_layer(a->a3, a->y3, a->sc.cols, a->y2, w->conv3, &w->bn3, &a->s3);
    avgpool_forward(a->stem, a->y3, B, R / 2, R / 2, a->w, 2);
    const float *x = a->stem;
    for (int b = 0; b < a->nblocks; b++) {
        bottleneck_forward(&a->blocks[b], x, &w->blocks[b], &a->sc);
        x = a->blocks[b].out;
    }
    attnpool_forward(feat, &a->ap, x, w);
}

/* Backward of stem_layer: dy is clobbered; dx (may be NULL) overwritten. */
static void stem_layer_backward(float *dx, float *dy, const float *xin, const float *a, const float *y,
                                const float *cw, float *gcw, const bn_weights *bn, const bn_weights *gbn,
                                const conv_shape *s, const bottleneck_scratch *sc) {
    size_t n = (size_t)s->B * s->Ho * s->Wo;
    relu_backward(dy, dy, y, n * s->O);
    batchnorm_backward(sc->t1, gbn->w, gbn->b, dy, a, bn->w, bn->mean, bn->var, n, s->O);
    conv2d_backward(dx, gcw, sc->t1, xin, cw, sc->cols, sc->dcols, s);
}

void resnet_backward(resnet_acts *a, const resnet_weights *g, const float *dfeat, const resnet_weights *w, int B) {
    (void)B; /* the batch of the last forward (a->B) */
    float *cur = a->g1, *nxt = a->g2;
    attnpool_backward(cur, g, dfeat, &a->ap, w);
    for (int b = a->nblocks - 1; b >= 0; b--) {
        const float *x = b ? a->blocks[b - 1].out : a->stem;
        bottleneck_backward(nxt, cur, &g->blocks[b], &a->blocks[b], x, &w->blocks[b], &a->sc);
        float *t = cur;
        cur = nxt, nxt = t;
    }
    int h = a->R / 2;
    avgpool_backward(nxt, cur, a->B, h, h, a->w, 2);
    stem_layer_backward(cur, nxt, a->y2, a->a3, a->y3, w->conv3, g->conv3, &w->bn3, &g->bn3, &a->s3, &a->sc);
    stem_layer_backward(nxt, cur, a->y1, a->a2, a->y2, w->conv2, g->conv2, &w->bn2, &g->bn2, &a->s2, &a->sc);
    stem_layer_backward(NULL, nxt, a->x, a->a1, a->y1, w->conv1, g->conv1, &w->bn1, &g->bn1, &a->s1, &a->sc);
}
