/*
 * loss.c — CLIP's symmetric contrastive loss:
 *   logits = exp(s) * norm(img) norm(txt)^T,
 *   loss   = (CE(logits, diag) + CE(logits^T, diag)) / 2, mean over the batch,
 * with s = logit_scale stored as a log (it gets a gradient too).
 * Normalisation is x / max(|x|, 1e-12) as F.normalize does.
 */
#include <math.h>
#include <string.h>

#include "nn/loss.h"
#include "kernels/gemm.h"

size_t clip_loss_cache_floats(int B, int E) { return 2 * (size_t)B * E + 2 * (size_t)B + 3 * (size_t)B * B; }

void clip_loss_cache_bind(clip_loss_cache *c, float *mem, int B, int E) {
    c->img_n = mem;
    c->txt_n = c->img_n + (size_t)B * E;
    c->img_norm = c->txt_n + (size_t)B * E;
    c->txt_norm = c->img_norm + B;
    c->logits = c->txt_norm + B;
    c->probs_i = c->logits + (size_t)B * B;
    c->probs_t = c->probs_i + (size_t)B * B;
}

static void normalize_rows(float *out, float *norms, const float *x, int B, int E) {
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int i = 0; i < E; i++) s += (double)x[(size_t)b * E + i] * x[(size_t)b * E + i];
        float n = (float)sqrt(s);
        if (n < 1e-12f) n = 1e-12f;
        norms[b] = n;
        for (int i = 0; i < E; i++) out[(size_t)b * E + i] = x[(size_t)b * E + i] / n;
    }
}

/* Row softmax of logits (or of its transpose) into p; returns sum of -log p[i][i]. */
static double softmax_ce(float *p, const float *logits, int B, int transpose) {
    double loss = 0.0;
    for (int i = 0; i < B; i++) {
        float mx = -INFINITY;
        for (int j = 0; j < B; j++) {
            float v = transpose ? logits[(size_t)j * B + i] : logits[(size_t)i * B + j];
            mx = v > mx ? v : mx;
        }
        double s = 0.0;
        for (int j = 0; j < B; j++) {
            float v = transpose ? logits[(size_t)j * B + i] : logits[(size_t)i * B + j];
            s += exp((double)v - mx);
        }
        for (int j = 0; j < B; j++) {
            float v = transpose ? logits[(size_t)j * B + i] : logits[(size_t)i * B + j];
            p[(size_t)i * B + j] = (float)(exp((double)v - mx) / s);
        }
        float d = transpose ? logits[(size_t)i * B + i] : logits[(size_t)i * B + i];
        loss += -((double)d - mx - log(s));
    }
    return loss;
}

float clip_loss_forward(clip_loss_cache *c, const float *img, const float *txt, float logit_scale, int B,
                        int E) {
    normalize_rows(c->img_n, c->img_norm, img, B, E);
    normalize_rows(c->txt_n, c->txt_norm, txt, B, E);
    float scale = expf(logit_scale);
    gemm_f32(0, 1, B, B, E, scale, c->img_n, E, c->txt_n, E, 0.0f, c->logits, B);
    double li = softmax_ce(c->probs_i, c->logits, B, 0);
    double lt = softmax_ce(c->probs_t, c->logits, B, 1);
    return (float)(0.5 * (li + lt) / B);
}

/* d of y = x/|x| given dy: (dy - y (y . dy)) / |x|, written over dy. */
static void normalize_backward(float *dx, const float *dy, const float *y, const float *norms, int B, int E) {
    for (int b = 0; b < B; b++) {
        double dot = 0.0;
        for (int i = 0; i < E; i++) dot += (double)y[(size_t)b * E + i] * dy[(size_t)b * E + i];
        for (int i = 0; i < E; i++)
            dx[(size_t)b * E + i] = (dy[(size_t)b * E + i] - y[(size_t)b * E + i] * (float)dot) / norms[b];
    }
}

void clip_loss_backward(float *dimg, float *dtxt, float *dscale, const clip_loss_cache *c, float logit_scale,
                        int B, int E) {
    /* dlogits[i][j] = (P_i[i][j] - d_ij + P_t[j][i] - d_ij) / (2B), written over
     * probs_i element by element (each is read just before it is replaced). */
    float scale = expf(logit_scale);
    float *dl = c->probs_i;
    double ds = 0.0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            float g = (c->probs_i[(size_t)i * B + j] + c->probs_t[(size_t)j * B + i] - (i == j ? 2.f : 0.f)) /
                      (2.f * B);
            dl[(size_t)i * B + j] = g;
            ds += (double)g * c->logits[(size_t)i * B + j];
        }
    *dscale += (float)ds;
    /* d img_n = scale * dl txt_n ; d txt_n = scale * dl^T img_n, then through the normalisation. */
    gemm_f32(0, 0, B, E, B, scale, dl, B, c->txt_n, E, 0.0f, dimg, E);
    gemm_f32(1, 0, B, E, B, scale, dl, B, c->img_n, E, 0.0f, dtxt, E);
    normalize_backward(dimg, dimg, c->img_n, c->img_norm, B, E);
    normalize_backward(dtxt, dtxt, c->txt_n, c->txt_norm, B, E);
}
