/*
 * metrics.c — retrieval Recall@K / median / mean rank and zero-shot top-K
 * accuracy: the one implementation used by training's evaluation and by
 * `clipc eval`, so the numbers they print are the same numbers.
 *
 * Protocol (pitfalls.md #10): Flickr/COCO retrieval, 1k (5k) test images x 5
 * captions.  Image->text: a hit at K if ANY of the image's captions is in the
 * top K; text->image over images.  open_clip's in-training 1:1 paired metric
 * is not this and its numbers are not comparable.
 *
 * A rank is computed without sorting: rank = 1 + number of wrong candidates
 * scoring >= the correct score.  Counting ">=" puts ties against the query
 * (pessimistic), so the result cannot depend on the order a sort happens to
 * leave equal scores in, and it is O(n_images * n_texts) with streaming
 * row-major access (1k x 5k is a few milliseconds).  Counts are integers, so
 * the OpenMP split does not change any result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"

static const int default_ks[3] = {1, 5, 10};

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* floor(median) and mean of n ranks (sorts r in place). */
static void rank_stats(int *r, int n, double *median, double *mean) {
    if (n == 0) {
        *median = *mean = 0;
        return;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += r[i];
    qsort(r, (size_t)n, sizeof *r, cmp_int);
    double med = n % 2 ? r[n / 2] : 0.5 * ((double)r[n / 2 - 1] + (double)r[n / 2]);
    *median = floor(med);
    *mean = sum / n;
}

static clipc_status check_ks(const int *ks, int n_k) {
    if (n_k < 0 || n_k > CLIPC_METRICS_MAX_K)
        return clipc_error(CLIPC_ERR_INVALID, "metrics: %d values of K (at most %d)", n_k,
                           CLIPC_METRICS_MAX_K);
    for (int j = 0; j < n_k; j++)
        if (ks[j] <= 0) return clipc_error(CLIPC_ERR_INVALID, "metrics: K = %d must be positive", ks[j]);
    return CLIPC_OK;
}

static clipc_status check_nan(const float *x, int rows, int cols, const char *what) {
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return clipc_error(CLIPC_ERR_INVALID, "metrics: %s has NaN at [%zu, %zu]", what,
                               i / (size_t)cols, i % (size_t)cols);
    return CLIPC_OK;
}

clipc_status clipc_retrieval_eval(const float *sim, int n_images, int n_texts,
                                  const int *text_image, const int *ks, int n_k,
                                  clipc_retrieval_metrics *out, int *i2t_ranks,
                                  int *t2i_ranks) {
    if (!sim || !text_image || !out || n_images <= 0 || n_texts <= 0)
        return clipc_error(CLIPC_ERR_INVALID, "metrics: empty similarity matrix (%d x %d)", n_images,
                           n_texts);
    if (!ks || n_k == 0) ks = default_ks, n_k = 3;
    clipc_status s = check_ks(ks, n_k);
    if (s) return s;
    for (int t = 0; t < n_texts; t++)
        if (text_image[t] < 0 || text_image[t] >= n_images)
            return clipc_error(CLIPC_ERR_INVALID, "metrics: text %d belongs to image %d of %d", t,
                               text_image[t], n_images);
    s = check_nan(sim, n_images, n_texts, "the similarity matrix");
    if (s) return s;

    size_t ni = (size_t)n_images, nt = (size_t)n_texts;
    int *off = calloc(ni + 1, sizeof *off);       /* image -> its texts (CSR) */
    int *own = malloc(nt * sizeof *own);
    int *ri = malloc(ni * sizeof *ri);            /* i2t ranks, 0 = no texts */
    int *rt = malloc(nt * sizeof *rt);            /* t2i ranks */
    float *correct = malloc(nt * sizeof *correct);
    if (!off || !own || !ri || !rt || !correct) {
        free(off), free(own), free(ri), free(rt), free(correct);
        return clipc_error(CLIPC_ERR_NOMEM, "metrics: out of memory");
    }
    for (size_t t = 0; t < nt; t++) off[text_image[t] + 1]++;
    for (size_t i = 0; i < ni; i++) off[i + 1] += off[i];
    {
        int *fill = ri; /* borrow as a cursor array */
        memcpy(fill, off, ni * sizeof *fill);
        for (size_t t = 0; t < nt; t++) own[fill[text_image[t]]++] = (int)t;
    }
    for (size_t t = 0; t < nt; t++) correct[t] = sim[(size_t)text_image[t] * nt + t];

    /* text -> image: column counts, parallel over column blocks so each
     * thread streams rows and owns its counters.  The own image always
     * scores >= itself, so the count is already 1 + wrong images >= it. */
    const int CB = 512;
    int nblk = (n_texts + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblk; b++) {
        int t0 = b * CB, t1 = t0 + CB < n_texts ? t0 + CB : n_texts;
        for (int t = t0; t < t1; t++) rt[t] = 0;
        for (size_t i = 0; i < ni; i++) {
            const float *row = sim + i * nt;
            for (int t = t0; t < t1; t++) rt[t] += row[t] >= correct[t];
        }
    }

    /* image -> text: best own score, then texts of other images >= it. */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n_images; i++) {
        const float *row = sim + (size_t)i * nt;
        int f = off[i], e = off[i + 1];
        if (f == e) {
            ri[i] = 0;
            continue;
        }
        float best = row[own[f]];
        for (int k = f + 1; k < e; k++)
            if (row[own[k]] > best) best = row[own[k]];
        int ge = 0;
        for (size_t t = 0; t < nt; t++) ge += row[t] >= best;
        int own_ge = 0;
        for (int k = f; k < e; k++) own_ge += row[own[k]] >= best;
        ri[i] = 1 + ge - own_ge;
    }

    memset(out, 0, sizeof *out);
    out->n_k = n_k;
    int n_i2t = 0;
    for (size_t i = 0; i < ni; i++) n_i2t += ri[i] > 0;
    out->n_i2t = n_i2t;
    out->n_t2i = n_texts;
    for (int j = 0; j < n_k; j++) {
        out->k[j] = ks[j];
        int hi = 0, ht = 0;
        for (size_t i = 0; i < ni; i++) hi += ri[i] > 0 && ri[i] <= ks[j];
        for (size_t t = 0; t < nt; t++) ht += rt[t] <= ks[j];
        out->i2t_recall[j] = n_i2t ? (double)hi / n_i2t : 0;
        out->t2i_recall[j] = (double)ht / n_texts;
    }
    if (i2t_ranks) memcpy(i2t_ranks, ri, ni * sizeof *ri);
    if (t2i_ranks) memcpy(t2i_ranks, rt, nt * sizeof *rt);
    /* Medians need sorted copies: pack the i2t ranks of images with texts. */
    int m = 0;
    for (size_t i = 0; i < ni; i++)
        if (ri[i] > 0) ri[m++] = ri[i];
    rank_stats(ri, m, &out->i2t_median_rank, &out->i2t_mean_rank);
    rank_stats(rt, n_texts, &out->t2i_median_rank, &out->t2i_mean_rank);
    free(off), free(own), free(ri), free(rt), free(correct);
    return CLIPC_OK;
}

clipc_status clipc_topk_accuracy(const float *logits, int n, int n_classes, const int *labels,
                                 const int *ks, int n_k, double *acc) {
    if (!logits || !labels || !acc || n <= 0 || n_classes <= 0)
        return clipc_error(CLIPC_ERR_INVALID, "zero-shot accuracy: empty logits (%d x %d)", n, n_classes);
    if (!ks || n_k <= 0) return clipc_error(CLIPC_ERR_INVALID, "zero-shot accuracy: no K given");
    clipc_status s = check_ks(ks, n_k);
    if (s) return s;
    for (int r = 0; r < n; r++)
        if (labels[r] < 0 || labels[r] >= n_classes)
            return clipc_error(CLIPC_ERR_INVALID, "zero-shot accuracy: label %d of row %d not in 0..%d",
                               labels[r], r, n_classes - 1);
    s = check_nan(logits, n, n_classes, "the logits");
    if (s) return s;
    int hits[CLIPC_METRICS_MAX_K] = {0};
    for (int r = 0; r < n; r++) {
        const float *row = logits + (size_t)r * (size_t)n_classes;
        float c = row[labels[r]];
        int ge = 0; /* classes scoring >= the label, the label included */
        for (int j = 0; j < n_classes; j++) ge += row[j] >= c;
        for (int j = 0; j < n_k; j++) hits[j] += ge <= ks[j];
    }
    for (int j = 0; j < n_k; j++) acc[j] = (double)hits[j] / n;
    return CLIPC_OK;
}

clipc_status clipc_zeroshot_accuracy(const float *logits, int n, int n_classes,
                                     const int *labels, double *top1, double *top5) {
    static const int ks[2] = {1, 5};
    double acc[2];
    clipc_status s = clipc_topk_accuracy(logits, n, n_classes, labels, ks, 2, acc);
    if (s) return s;
    if (top1) *top1 = acc[0];
    if (top5) *top5 = acc[1];
    return CLIPC_OK;
}
