/*
 * embed.c — embedding an image file and a list of texts with a model: the
 * decode, preprocess and tokenize steps in front of encode.c.
 */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

clipc_status clipc_embed_image_file(const clipc_model *m, const char *path, float *out) {
    const clipc_config *c = &m->cfg;
    int R = c->image_resolution;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    float *px = mem_alloc(sizeof(float) * 3 * (size_t)R * R, "image pixels");
    if (!px) return CLIPC_ERR_NOMEM;
    clipc_image im;
    clipc_status s = clipc_image_load(path, &im);
    if (!s) {
        s = clipc_preprocess_transform(&im, &tf, px, NULL);
        if (s) clipc_error_prefix("%s", path);
        clipc_image_free(&im);
    }
    if (!s) s = clipc_encode_image(m, px, 1, out);
    if (!s) clipc_l2_normalize(out, 1, c->embed_dim);
    free(px);
    return s;
}

clipc_status clipc_embed_texts(const clipc_model *m, clipc_tokenizer *tok, const char *const *texts, int n,
                               float *out, int *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "embed_texts: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    int ctx = m->cfg.context_length;
    int32_t *ids = mem_calloc((size_t)n * ctx, sizeof(int32_t), "token ids");
    if (!ids) return CLIPC_ERR_NOMEM;
    clipc_status s = CLIPC_OK;
    for (int i = 0; i < n && !s; i++) {
        size_t len = strlen(texts[i]);
        s = clipc_tokenize_context(tok, texts[i], len, ctx, 0, ids + (size_t)i * ctx);
        if (s == CLIPC_ERR_RANGE) {
            if (n_truncated) (*n_truncated)++;
            s = clipc_tokenize_context(tok, texts[i], len, ctx, 1, ids + (size_t)i * ctx);
        }
    }
    if (!s) s = clipc_encode_text(m, ids, n, out);
    if (!s) clipc_l2_normalize(out, n, m->cfg.embed_dim);
    free(ids);
    return s;
}
