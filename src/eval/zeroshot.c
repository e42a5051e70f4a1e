/*
 * zeroshot.c — zero-shot classification: classifier weights from label
 * names and prompt templates (ensembled), and class probabilities.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

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
    int E = clipc_model_config(m)->embed_dim;
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
            if (!isfinite(p[c])) /* a nan model: no probabilities to print as "nan%" */
                return clipc_error(CLIPC_ERR_INVALID, "classify: image %d, label %d: the logit is %s (the model's "
                                   "weights or the embeddings hold nan/inf)", i, c, isnan(p[c]) ? "nan" : "inf");
        }
        for (int c = 0; c < n_labels; c++) sum += exp(p[c] - mx);
        for (int c = 0; c < n_labels; c++) p[c] = (float)(exp(p[c] - mx) / sum);
    }
    return CLIPC_OK;
}
