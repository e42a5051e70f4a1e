/*
 * use.c — using a trained model: embedding files and texts, cosine
 * similarity, zero-shot classifier weights with prompt ensembling, and class
 * probabilities.  The pieces `clipc classify`, `eval`, `index` and `search`
 * are built from (and the public API a C program links against).
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "model/model.h"

float clipc_model_logit_scale(const clipc_model *m) { return expf(m->w.logit_scale[0]); }

clipc_status clipc_embed_image_file(const clipc_model *m, const char *path, float *out) {
    const clipc_config *c = &m->cfg;
    int R = c->image_resolution;
    float *px = mem_alloc(sizeof(float) * 3 * (size_t)R * R, "image pixels");
    if (!px) return CLIPC_ERR_NOMEM;
    clipc_image im;
    clipc_status s = clipc_image_load(path, &im);
    if (!s) {
        s = clipc_preprocess(&im, R, px, NULL);
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

static float *normalized_copy(const float *x, int n, int d) {
    float *y = mem_alloc(sizeof(float) * ((size_t)n * d + 1), "similarity operand");
    if (!y) return NULL;
    memcpy(y, x, sizeof(float) * (size_t)n * d);
    clipc_l2_normalize(y, n, d); /* zero rows stay zero: the norm is floored at 1e-12 */
    return y;
}

clipc_status clipc_similarity(const float *a, int n_a, const float *b, int n_b, int d, float *out) {
    if (n_a < 0 || n_b < 0 || d <= 0)
        return clipc_error(CLIPC_ERR_INVALID, "similarity: bad shapes %d x %d, %d x %d", n_a, d, n_b, d);
    if (n_a == 0 || n_b == 0) return CLIPC_OK;
    float *an = normalized_copy(a, n_a, d), *bn = an ? normalized_copy(b, n_b, d) : NULL;
    if (!an || !bn) {
        free(an);
        return CLIPC_ERR_NOMEM;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_a, n_b, d, 1.0f, an, d, bn, d, 0.0f, out, n_b);
    free(an);
    free(bn);
    return CLIPC_OK;
}

/* template with "{}" -> label; otherwise "template label". */
static char *fill_template(const char *tmpl, const char *label) {
    const char *hole = strstr(tmpl, "{}");
    size_t lt = strlen(tmpl), ll = strlen(label);
    char *s = mem_alloc(lt + ll + 2, "prompt");
    if (!s) return NULL;
    if (hole) {
        size_t pre = (size_t)(hole - tmpl);
        memcpy(s, tmpl, pre);
        memcpy(s + pre, label, ll);
        strcpy(s + pre + ll, hole + 2);
    } else {
        memcpy(s, tmpl, lt);
        s[lt] = ' ';
        strcpy(s + lt + 1, label);
    }
    return s;
}

clipc_status clipc_zeroshot_weights(const clipc_model *m, clipc_tokenizer *tok, const char *const *labels,
                                    int n_labels, const char *const *templates, int n_templates, float *out) {
    static const char *const def[] = {"a photo of a {}."};
    if (n_templates == 0) templates = def, n_templates = 1;
    if (n_labels <= 0 || n_templates < 0)
        return clipc_error(CLIPC_ERR_INVALID, "zero-shot weights: %d labels, %d templates", n_labels, n_templates);
    int E = m->cfg.embed_dim;
    char **prompts = mem_calloc((size_t)n_templates, sizeof *prompts, "prompts");
    float *emb = mem_alloc(sizeof(float) * (size_t)n_templates * E, "prompt embeddings");
    clipc_status s = (!prompts || !emb) ? CLIPC_ERR_NOMEM : CLIPC_OK;
    for (int c = 0; c < n_labels && !s; c++) {
        for (int t = 0; t < n_templates && !s; t++)
            if (!(prompts[t] = fill_template(templates[t], labels[c]))) s = CLIPC_ERR_NOMEM;
        if (!s) s = clipc_embed_texts(m, tok, (const char *const *)prompts, n_templates, emb, NULL);
        if (!s) {
            /* Mean of unit vectors, renormalised (OpenAI's zeroshot_classifier). */
            float *w = out + (size_t)c * E;
            for (int j = 0; j < E; j++) {
                double acc = 0;
                for (int t = 0; t < n_templates; t++) acc += emb[(size_t)t * E + j];
                w[j] = (float)(acc / n_templates);
            }
            clipc_l2_normalize(w, 1, E);
        }
        for (int t = 0; t < n_templates && prompts; t++) {
            free(prompts[t]);
            prompts[t] = NULL;
        }
    }
    free(prompts);
    free(emb);
    return s;
}

clipc_status clipc_classify(const float *image_emb, int n, const float *weights, int n_labels, int d, float scale,
                            float *probs, float *logits) {
    if (n < 0 || n_labels <= 0 || d <= 0 || !(scale > 0) || !isfinite(scale))
        return clipc_error(CLIPC_ERR_INVALID, "classify: bad arguments (n %d, labels %d, dim %d, scale %g)", n,
                           n_labels, d, (double)scale);
    clipc_status s = clipc_similarity(image_emb, n, weights, n_labels, d, probs);
    if (s) return s;
    for (int i = 0; i < n; i++) {
        float *p = probs + (size_t)i * n_labels;
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < n_labels; c++) {
            p[c] *= scale;
            if (logits) logits[(size_t)i * n_labels + c] = p[c];
            if (p[c] > mx) mx = p[c];
        }
        for (int c = 0; c < n_labels; c++) sum += exp(p[c] - mx);
        for (int c = 0; c < n_labels; c++) p[c] = (float)(exp(p[c] - mx) / sum);
    }
    return CLIPC_OK;
}

int clipc_topk(const float *scores, int n, int k, int *idx) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    /* Insertion into a sorted prefix: k is small (labels, results shown). */
    int got = 0;
    for (int i = 0; i < n; i++) {
        int j = got < k ? got++ : k;
        if (j == k && !(scores[i] > scores[idx[k - 1]])) continue;
        if (j == k) j = k - 1;
        while (j > 0 && scores[i] > scores[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return k;
}

clipc_status clipc_eval_embeddings(const float *image_emb, int n_images, const float *text_emb, int n_texts, int d,
                                   const int *text_image, clipc_retrieval_metrics *out) {
    size_t cells;
    if (n_images <= 0 || n_texts <= 0 || mul_overflow((size_t)n_images, (size_t)n_texts, &cells))
        return clipc_error(CLIPC_ERR_INVALID, "eval: %d images x %d texts", n_images, n_texts);
    float *sim = mem_alloc(cells * sizeof(float), "similarity matrix");
    if (!sim) return CLIPC_ERR_NOMEM;
    clipc_status s = clipc_similarity(image_emb, n_images, text_emb, n_texts, d, sim);
    if (!s) s = clipc_retrieval_eval(sim, n_images, n_texts, text_image, NULL, 0, out, NULL, NULL);
    free(sim);
    return s;
}
