/*
 * validate.c — the validation pass of a training run (see validate.h): the
 * split's readable images and their captions, prepared once; each epoch
 * their embeddings, Recall@1/5/10 both ways and the validation loss.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/validate.h"
#include "clipc.h"
#include "clipc_util.h"
#include "model/model.h"

void valset_free(valset *v) {
    clipc_dataset_free(v->ds);
    free(v->img);
    free(v->text_image);
    free(v->ids);
    free(v->first_text);
    free(v->pixels);
    free(v->img_emb);
    free(v->txt_emb);
    free(v->sim);
    memset(v, 0, sizeof *v);
}

/* Decodes and preprocesses images img[0..n) into out; ok[i] (may be NULL)
 * tells which succeeded (failed slots are zero).  Returns the failures. */
static int decode_images(const clipc_dataset *ds, const int *img, int n, const clipc_transform *tf, float *out,
                         unsigned char *ok) {
    int R = tf->size;
    int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad)
    for (int i = 0; i < n; i++) {
        char path[4096];
        clipc_image im = {0};
        float *dst = out + (size_t)i * 3 * R * R;
        clipc_dataset_image_fullpath(ds, img[i], path, sizeof path);
        if (clipc_image_load(path, &im) || clipc_preprocess_transform(&im, tf, dst, NULL)) {
            memset(dst, 0, (size_t)3 * R * R * sizeof(float));
            bad++;
            if (ok) ok[i] = 0;
        } else if (ok) {
            ok[i] = 1;
        }
        clipc_image_free(&im);
    }
    return bad;
}

clipc_status valset_prepare(valset *v, clipc_tokenizer *tok, const clipc_model *m, char *warnbuf, size_t wcap) {
    const clipc_config *cfg = clipc_model_config(m);
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    const clipc_dataset *ds = v->ds;
    int ni = clipc_dataset_n_images(ds), R = cfg->image_resolution, ctx = cfg->context_length;
    size_t img_floats = (size_t)3 * R * R;
    int *cand = malloc((size_t)ni * sizeof(int));
    float *px = malloc(img_floats * sizeof(float) * 32);
    v->img = malloc((size_t)ni * sizeof(int));
    v->first_text = malloc((size_t)ni * sizeof(int));
    if (!cand || !px || !v->img || !v->first_text) {
        free(cand);
        free(px);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory preparing the validation set");
    }
    int nc = 0;
    for (int i = 0; i < ni; i++) {
        int first;
        if (clipc_dataset_image_captions(ds, i, &first) > 0) cand[nc++] = i;
    }
    /* Drop images that do not decode, so Recall is over real pairs only. */
    int kept = 0, bad = 0;
    for (int a = 0; a < nc; a += 32) {
        int n = nc - a < 32 ? nc - a : 32;
        unsigned char ok[32];
        decode_images(ds, cand + a, n, &tf, px, ok);
        for (int i = 0; i < n; i++) {
            if (!ok[i]) bad++;
            else v->img[kept++] = cand[a + i];
        }
    }
    free(cand);
    free(px);
    clipc_error_clear();
    v->n_img = kept;
    if (bad) snprintf(warnbuf, wcap, "validation: %d image(s) could not be read and are left out", bad);
    if (kept < 2) return clipc_error(CLIPC_ERR_INVALID, "validation split has %d readable image(s)", kept);
    int nt = 0;
    for (int i = 0; i < kept; i++) {
        int first;
        nt += clipc_dataset_image_captions(ds, v->img[i], &first);
    }
    v->n_txt = nt;
    v->text_image = malloc((size_t)nt * sizeof(int));
    v->ids = malloc((size_t)nt * ctx * sizeof(int32_t));
    v->img_emb = malloc((size_t)kept * cfg->embed_dim * sizeof(float));
    v->txt_emb = malloc((size_t)nt * cfg->embed_dim * sizeof(float));
    v->sim = malloc((size_t)kept * nt * sizeof(float));
    if (!v->text_image || !v->ids || !v->img_emb || !v->txt_emb || !v->sim)
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory preparing the validation set");
    int t = 0;
    for (int i = 0; i < kept; i++) {
        int first, n = clipc_dataset_image_captions(ds, v->img[i], &first);
        v->first_text[i] = t;
        for (int c = 0; c < n; c++, t++) {
            const char *s = clipc_dataset_caption(ds, first + c);
            v->text_image[t] = i;
            clipc_status st = clipc_tokenize_context(tok, s, strlen(s), ctx, 1, v->ids + (size_t)t * ctx);
            if (st) return st;
        }
    }
    /* Cache the preprocessed images when they are small (< 1 GiB). */
    if ((double)kept * img_floats * 4 < 1073741824.0) {
        v->pixels = malloc((size_t)kept * img_floats * sizeof(float));
        if (v->pixels) decode_images(ds, v->img, kept, &tf, v->pixels, NULL);
    }
    return CLIPC_OK;
}



/* The contrastive loss of (image, first caption) pairs from the similarities:
 * per batch of B images, the mean of the two cross-entropies, averaged over
 * batches weighted by their size. */
static double first_caption_loss(const valset *v, double scale, int B) {
    double total = 0;
    for (int a = 0; a < v->n_img; a += B) {
        int n = v->n_img - a < B ? v->n_img - a : B;
        double li = 0, lt = 0;
        for (int i = 0; i < n; i++) {
            /* row i: image a+i against the first captions of the batch */
            double mx = -INFINITY, mxc = -INFINITY;
            for (int j = 0; j < n; j++) {
                double x = scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + j]];
                double y = scale * v->sim[(size_t)(a + j) * v->n_txt + v->first_text[a + i]];
                if (x > mx) mx = x;
                if (y > mxc) mxc = y;
            }
            double si = 0, st = 0;
            for (int j = 0; j < n; j++) {
                si += exp(scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + j]] - mx);
                st += exp(scale * v->sim[(size_t)(a + j) * v->n_txt + v->first_text[a + i]] - mxc);
            }
            double diag = scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + i]];
            li += mx + log(si) - diag;
            lt += mxc + log(st) - diag;
        }
        total += 0.5 * (li + lt);
    }
    return total / v->n_img;
}

/* Encodes every kept image and caption, then Recall@1/5/10 both ways and
 * the contrastive loss of (image, first caption) pairs in batches of B,
 * in image order, from the same embeddings (no second forward). */
clipc_status valset_evaluate(valset *v, const clipc_model *m, int B, val_result *r) {
    const clipc_config *cfg = clipc_model_config(m);
    int R = cfg->image_resolution, E = cfg->embed_dim;
    size_t img_floats = (size_t)3 * R * R;
    clipc_status s = CLIPC_OK;
    if (v->pixels) {
        s = clipc_encode_image(m, v->pixels, v->n_img, v->img_emb);
    } else {
        float *px = malloc(img_floats * sizeof(float) * 32);
        if (!px) return clipc_error(CLIPC_ERR_NOMEM, "out of memory in evaluation");
        clipc_transform tf;
        clipc_model_transform(m, &tf);
        for (int a = 0; a < v->n_img && !s; a += 32) {
            int n = v->n_img - a < 32 ? v->n_img - a : 32;
            decode_images(v->ds, v->img + a, n, &tf, px, NULL);
            s = clipc_encode_image(m, px, n, v->img_emb + (size_t)a * E);
        }
        free(px);
    }
    if (!s) s = clipc_encode_text(m, v->ids, v->n_txt, v->txt_emb);
    if (s) return s;
    clipc_l2_normalize(v->img_emb, v->n_img, E);
    clipc_l2_normalize(v->txt_emb, v->n_txt, E);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, v->n_img, v->n_txt, E, 1.0f, v->img_emb, E, v->txt_emb, E,
                0.0f, v->sim, v->n_txt);
    clipc_retrieval_metrics rm;
    s = clipc_retrieval_eval(v->sim, v->n_img, v->n_txt, v->text_image, NULL, 0, &rm, NULL, NULL);
    if (s) return s;
    r->mean_recall = 0;
    for (int k = 0; k < 3; k++) {
        r->i2t[k] = rm.i2t_recall[k];
        r->t2i[k] = rm.t2i_recall[k];
        r->mean_recall += (rm.i2t_recall[k] + rm.t2i_recall[k]) / 6.0;
    }
    r->loss = first_caption_loss(v, exp((double)*m->w.logit_scale), B);
    return CLIPC_OK;
}
