/*
 * encode.c — the inference API: images and token ids to embeddings, in
 * chunks, on the model's inference context (oneDNN f32 or bf16, OpenBLAS as
 * the fallback).
 */
#include <math.h>
#include <stddef.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "kernels/gemm_bf16.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"

/* The oneDNN context encoding binds: the model's bf16 twin, else the
 * process-wide f32 one (NULL: OpenBLAS). */
static const gemm_bf16 *encode_context(const clipc_model *m) { return m->bf16 ? m->bf16 : gemm_f32_context(); }

/* Images or texts per forward: batch 64 at once keeps GEMMs tall for small
 * models; inference views are shared by all blocks, so memory stays modest. */
#define ENCODE_CHUNK 64

void clipc_l2_normalize(float *x, int n, int d) {
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        double nrm = sqrt(s);
        if (nrm < 1e-12) nrm = 1e-12;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] / nrm);
    }
}

clipc_status clipc_encode_image(const clipc_model *m, const float *pixels, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_image: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    vision_acts a;
    clipc_status s = vision_acts_alloc(&a, c, chunk, 0);
    if (s) return s;
    size_t img = (size_t)3 * c->image_resolution * c->image_resolution;
    const gemm_bf16 *g = encode_context(m), *prev = gemm_bf16_bind(g);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        vision_forward(&a, out + (size_t)i * c->embed_dim, pixels + (size_t)i * img, &m->w.v, c, b);
        if (gemm_bf16_take_failure()) { /* oneDNN failed halfway: this chunk again on OpenBLAS f32 */
            gemm_bf16_bind(NULL);
            vision_forward(&a, out + (size_t)i * c->embed_dim, pixels + (size_t)i * img, &m->w.v, c, b);
            gemm_bf16_bind(g);
        }
    }
    gemm_bf16_bind(prev);
    vision_acts_free(&a);
    return CLIPC_OK;
}

clipc_status clipc_encode_text(const clipc_model *m, const int32_t *ids, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_text: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
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
    text_acts a;
    clipc_status s = text_acts_alloc(&a, c, chunk, R, 0);
    if (s) return s;
    const gemm_bf16 *g = encode_context(m), *prev = gemm_bf16_bind(g);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        text_forward(&a, out + (size_t)i * c->embed_dim, ids + (size_t)i * ctx, &m->w.t, c, b, 0);
        if (gemm_bf16_take_failure()) { /* as for images */
            gemm_bf16_bind(NULL);
            text_forward(&a, out + (size_t)i * c->embed_dim, ids + (size_t)i * ctx, &m->w.t, c, b, 0);
            gemm_bf16_bind(g);
        }
    }
    gemm_bf16_bind(prev);
    text_acts_free(&a);
    return CLIPC_OK;
}
