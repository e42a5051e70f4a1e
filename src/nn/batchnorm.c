/*
 * batchnorm.c — eval-mode BatchNorm2d forward and backward (batchnorm.h).
 *
 * Forward folds the statistics into a per-channel scale and shift, as
 * PyTorch's CPU kernel does (alpha = w / sqrt(var + eps), beta = b - mean *
 * alpha, y = x * alpha + beta).  The weight and bias gradients are sums over
 * rows: threads take blocks of 64 channels and walk the rows in order, so
 * the sums do not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>

#include "nn/batchnorm.h"
#include "base/parallel.h"

void batchnorm_forward(float *out, const float *inp, const float *w, const float *b, const float *mean,
                       const float *var, size_t N, int C) {
    float alpha[C > 0 ? C : 1], beta[C > 0 ? C : 1];
    for (int c = 0; c < C; c++) {
        alpha[c] = w[c] / sqrtf(var[c] + BN_EPS);
        beta[c] = b[c] - mean[c] * alpha[c];
    }
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        for (int c = 0; c < C; c++) y[c] = x[c] * alpha[c] + beta[c];
    }
}

void batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *var, size_t N, int C) {
    int nblk = (C + 63) / 64;
    /* Parameter gradients first: dinp may overwrite dout. */
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * 64, nc = C - c0 < 64 ? C - c0 : 64;
        float sw[64], sb[64], m[64], rs[64];
        for (int i = 0; i < nc; i++) {
            sw[i] = sb[i] = 0.0f;
            m[i] = mean[c0 + i];
            rs[i] = 1.0f / sqrtf(var[c0 + i] + BN_EPS);
        }
        for (size_t n = 0; n < N; n++) {
            const float *g = dout + n * C + c0, *x = inp + n * C + c0;
            for (int i = 0; i < nc; i++) {
                sw[i] += g[i] * (x[i] - m[i]) * rs[i];
                sb[i] += g[i];
            }
        }
        for (int i = 0; i < nc; i++) {
            if (dw) dw[c0 + i] += sw[i];
            if (db) db[c0 + i] += sb[i];
        }
    }
    if (!dinp) return;
    float alpha[C > 0 ? C : 1];
    for (int c = 0; c < C; c++) alpha[c] = w[c] / sqrtf(var[c] + BN_EPS);
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (size_t n = 0; n < N; n++) {
        const float *g = dout + n * C;
        float *d = dinp + n * C;
        for (int c = 0; c < C; c++) d[c] = g[c] * alpha[c];
    }
}
