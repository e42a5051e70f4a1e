/*
 * similarity.c — cosine similarity of two sets of embeddings, top-k, and the
 * retrieval metrics of an image set against a text set.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

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
