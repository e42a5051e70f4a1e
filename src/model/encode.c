/*
 * encode.c — the inference API: images and token ids to embeddings, in
 * chunks, on the model's inference backend (model_backend: oneDNN f32 or
 * bf16), which it passes to the towers; OpenBLAS (no backend) is the
 * fallback.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/model.h"
#include "model/precision.h"
#include "clipc.h"
#include "clipc_util.h"
#include "kernels/backend.h"
#include "base/error.h"
#include "nn/resnet_tower.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"
#include "nn/distilbert_tower.h"
#include "nn/proj_head.h"
#include "nn/tv_resnet_tower.h"

/* Images or texts per forward: batch 64 at once keeps GEMMs tall for small
 * models; inference views are shared by all blocks, so memory stays modest. */
#define ENCODE_CHUNK 64
/* Chunks of at most this many inputs (the latency of a query or a few)
 * reuse the model's kept activations (encode_keep in model.h); bigger ones
 * allocate per call, where the allocation is a small share of the work and
 * holding their buffers would cost memory between calls. */
#define ENCODE_KEEP 8

/* Takes a kept buffer (1) or finds it in use (0: allocate your own). */
static int keep_take(int *busy) { return __atomic_exchange_n(busy, 1, __ATOMIC_ACQUIRE) == 0; }
static void keep_give(int *busy) { __atomic_store_n(busy, 0, __ATOMIC_RELEASE); }
/* The handle is logically const: only its kept buffers change. */
static encode_keep *keep_of(const clipc_model *m) { return &((clipc_model *)(uintptr_t)m)->keep; }

void clipc_l2_normalize(float *x, int n, int d) {
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        double nrm = sqrt(s);
        if (nrm < 1e-12) nrm = 1e-12;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] / nrm);
    }
}

/* ModifiedResNet: OpenBLAS f32 (no inference backend, see resnet_tower.h),
 * in chunks whose activations stay near 256 MiB: a ResNet's early stages
 * are large (RN50: about 7 MB of activations per image at 224). */
static clipc_status encode_image_resnet(const clipc_model *m, const float *pixels, int n, float *out) {
    const clipc_config *c = &m->cfg;
    size_t per = resnet_acts_floats(c, 1, 0) * sizeof(float);
    int chunk = (int)((256u << 20) / (per ? per : 1));
    if (chunk < 1) chunk = 1;
    if (chunk > ENCODE_CHUNK) chunk = ENCODE_CHUNK;
    if (chunk > n) chunk = n;
    resnet_acts a;
    clipc_status s = resnet_acts_alloc(&a, c, chunk, 0);
    if (s) return s;
    size_t img = (size_t)3 * c->image_resolution * c->image_resolution;
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        resnet_forward(&a, out + (size_t)i * c->embed_dim, pixels + (size_t)i * img, &m->w.v.rn, b);
    }
    resnet_acts_free(&a);
    return CLIPC_OK;
}

/* ---- the tutorial's family: a tower's pooled features through its head,
 * in eval mode (BatchNorm on running statistics, no dropout), chunked so
 * the ResNet's activations stay near 256 MiB. */
static clipc_status encode_image_tutorial(const clipc_model *m, const float *pixels, int n, float *out) {
    const clipc_config *c = &m->cfg;
    size_t per = tv_resnet_acts_floats(c, 1, 0) * sizeof(float);
    int chunk = (int)((256u << 20) / (per ? per : 1)), D = tv_resnet_feat_dim(c);
    chunk = chunk < 1 ? 1 : chunk > ENCODE_CHUNK ? ENCODE_CHUNK : chunk;
    if (chunk > n) chunk = n;
    tv_resnet_acts a;
    proj_head_acts h;
    float *pooled = mem_alloc((size_t)chunk * D * sizeof(float), "pooled features");
    clipc_status s = pooled ? tv_resnet_acts_alloc(&a, c, chunk, 0) : CLIPC_ERR_NOMEM;
    if (s) {
        free(pooled);
        return s;
    }
    if ((s = proj_head_acts_alloc(&h, c->head, chunk, D, c->embed_dim))) goto done;
    a.bn_train = 0;
    size_t img = (size_t)3 * c->image_resolution * c->image_resolution;
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        tv_resnet_forward(&a, pooled, pixels + (size_t)i * img, &m->w.v.tv, b);
        proj_head_forward(&h, out + (size_t)i * c->embed_dim, pooled, &m->w.img_head, b);
    }
    proj_head_acts_free(&h);
done:
    tv_resnet_acts_free(&a);
    free(pooled);
    return s;
}

static clipc_status encode_text_tutorial(const clipc_model *m, const int32_t *ids, int n, float *out) {
    const clipc_config *c = &m->cfg;
    int ctx = c->context_length, C = c->transformer_width, chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    clipc_status s = distilbert_check_ids(ids, n, ctx, c);
    if (s) return s;
    distilbert_acts a;
    proj_head_acts h;
    float *cls = mem_alloc((size_t)chunk * C * sizeof(float), "[CLS] features");
    s = cls ? distilbert_acts_alloc(&a, c, chunk, ctx, 0) : CLIPC_ERR_NOMEM;
    if (s) {
        free(cls);
        return s;
    }
    if ((s = proj_head_acts_alloc(&h, c->head, chunk, C, c->embed_dim))) goto done;
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        distilbert_forward(&a, cls, ids + (size_t)i * ctx, &m->w.t.db, c, b, ctx);
        proj_head_forward(&h, out + (size_t)i * c->embed_dim, cls, &m->w.txt_head, b);
    }
    proj_head_acts_free(&h);
done:
    distilbert_acts_free(&a);
    free(cls);
    return s;
}
/* ---- end of the tutorial's family */

clipc_status clipc_encode_image(const clipc_model *m, const float *pixels, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_image: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
    if (c->vision_arch == CLIPC_VISION_TV_RESNET && c->head == CLIPC_HEAD_OPENAI)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "encode_image: this ResNet tower has no projection head");
    if (c->vision_arch == CLIPC_VISION_TV_RESNET) return encode_image_tutorial(m, pixels, n, out);
    if (c->vision_arch == CLIPC_VISION_RESNET) return encode_image_resnet(m, pixels, n, out);
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    encode_keep *k = keep_of(m);
    int kept = chunk <= ENCODE_KEEP && keep_take(&k->v_busy);
    vision_acts own, *a = &own;
    clipc_status s = CLIPC_OK;
    int threads = clipc_get_threads();
    if (kept && k->v_ok && (k->v.B < chunk || k->v_threads < threads)) {
        vision_acts_free(&k->v);
        k->v_ok = 0;
    }
    if (kept && !k->v_ok && !(s = vision_acts_alloc(&k->v, c, chunk, 0))) k->v_ok = 1, k->v_threads = threads;
    if (kept) a = &k->v;
    else s = vision_acts_alloc(&own, c, chunk, 0);
    if (s) {
        if (kept) keep_give(&k->v_busy);
        return s;
    }
    size_t img = (size_t)3 * c->image_resolution * c->image_resolution;
    const infer_backend *be = model_backend(m);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        float *o = out + (size_t)i * c->embed_dim;
        const float *px = pixels + (size_t)i * img;
        if (vision_forward(a, o, px, &m->w.v, c, b, be)) /* the backend failed halfway: again on OpenBLAS f32 */
            vision_forward(a, o, px, &m->w.v, c, b, NULL);
    }
    if (kept) keep_give(&k->v_busy);
    else vision_acts_free(&own);
    return CLIPC_OK;
}

clipc_status clipc_encode_text(const clipc_model *m, const int32_t *ids, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_text: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
    if (c->text_arch == CLIPC_TEXT_DISTILBERT && c->head == CLIPC_HEAD_OPENAI)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "encode_text: this DistilBERT tower has no projection head");
    if (c->text_arch == CLIPC_TEXT_DISTILBERT) return encode_text_tutorial(m, ids, n, out);
    int ctx = c->context_length;
    for (size_t i = 0; i < (size_t)n * ctx; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return clipc_error(CLIPC_ERR_RANGE, "encode_text: token id %d (text %zu, position %zu) is outside the "
                               "vocabulary [0, %d)", ids[i], i / ctx, i % ctx, c->vocab_size);
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    /* Captions are packed up to their EOT (text.c): size the activations
     * for the most rows any chunk needs, not chunk x context. */
    int R = 1;
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk, r = text_packed_rows(ids + (size_t)i * ctx, b, ctx);
        if (r > R) R = r;
    }
    encode_keep *k = keep_of(m);
    int kept = chunk <= ENCODE_KEEP && keep_take(&k->t_busy);
    text_acts own, *a = &own;
    clipc_status s = CLIPC_OK;
    int threads = clipc_get_threads();
    if (kept && k->t_ok && (k->t.B < chunk || k->t.R < R || k->t_threads < threads)) {
        text_acts_free(&k->t);
        k->t_ok = 0;
    }
    if (kept && !k->t_ok && !(s = text_acts_alloc(&k->t, c, chunk, R, 0))) k->t_ok = 1, k->t_threads = threads;
    if (kept) a = &k->t;
    else s = text_acts_alloc(&own, c, chunk, R, 0);
    if (s) {
        if (kept) keep_give(&k->t_busy);
        return s;
    }
    const infer_backend *be = model_backend(m);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        float *o = out + (size_t)i * c->embed_dim;
        const int32_t *id = ids + (size_t)i * ctx;
        if (text_forward(a, o, id, &m->w.t, c, b, 0, be)) /* as for images */
            text_forward(a, o, id, &m->w.t, c, b, 0, NULL);
    }
    if (kept) keep_give(&k->t_busy);
    else text_acts_free(&own);
    return CLIPC_OK;
}
