/*
 * batchnorm.c — BatchNorm2d forward and backward, eval and train mode
 * (batchnorm.h).
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

/* ---- train mode.  Channels go to threads in blocks of BN_BLK (16 floats:
 * one cache line of each row); within a block the rows are walked in order,
 * so every sum has one fixed order. */
#define BN_BLK 16

/* A sum over processes of n doubles (a no-op without sync); a failure is
 * recorded in sync->failed and the local sums are kept. */
static void reduce(bn_sync *sync, double *v, size_t n) {
    if (sync && sync->allreduce(v, n, sync->ud)) sync->failed = 1;
}

void batchnorm_train_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                             float *running_mean, float *running_var, size_t N, int C, bn_sync *sync) {
    int nblk = (C + BN_BLK - 1) / BN_BLK, Cp = C > 0 ? C : 1;
    /* S[0..C): per-channel sums, S[C]: the row count; Q: squared deviations
     * about the (global) mean.  Two passes: the variance from centred
     * values, not E[x^2] - E[x]^2. */
    double S[Cp + 1], Q[Cp];
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BN_BLK, nc = C - c0 < BN_BLK ? C - c0 : BN_BLK;
        double s[BN_BLK] = {0};
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C + c0;
            for (int i = 0; i < nc; i++) s[i] += x[i];
        }
        for (int i = 0; i < nc; i++) S[c0 + i] = s[i];
    }
    S[C] = (double)N;
    reduce(sync, S, (size_t)C + 1);
    double Ng = S[C];
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BN_BLK, nc = C - c0 < BN_BLK ? C - c0 : BN_BLK;
        double q[BN_BLK] = {0}, m[BN_BLK];
        for (int i = 0; i < nc; i++) m[i] = S[c0 + i] / Ng;
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C + c0;
            for (int i = 0; i < nc; i++) {
                double d = x[i] - m[i];
                q[i] += d * d;
            }
        }
        for (int i = 0; i < nc; i++) Q[c0 + i] = q[i];
    }
    reduce(sync, Q, (size_t)C);
    for (int c = 0; c < C; c++) {
        double m = S[c] / Ng, var = Q[c] / Ng;
        mean[c] = (float)m;
        rstd[c] = (float)(1.0 / sqrt(var + BN_EPS));
        if (running_mean) running_mean[c] = (float)((1 - BN_MOMENTUM) * running_mean[c] + BN_MOMENTUM * m);
        if (running_var && Ng > 1)
            running_var[c] = (float)((1 - BN_MOMENTUM) * running_var[c] + BN_MOMENTUM * Q[c] / (Ng - 1));
    }
    float alpha[Cp], beta[Cp];
    for (int c = 0; c < C; c++) {
        alpha[c] = w[c] * rstd[c];
        beta[c] = b[c] - mean[c] * alpha[c];
    }
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        for (int c = 0; c < C; c++) y[c] = x[c] * alpha[c] + beta[c];
    }
}

void batchnorm_train_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                              const float *w, const float *mean, const float *rstd, size_t N, int C, bn_sync *sync) {
    int nblk = (C + BN_BLK - 1) / BN_BLK, Cp = C > 0 ? C : 1;
    /* Per channel: k1 = mean(dout), k2 = mean(dout * xh); dinp is then
     * elementwise, so it may overwrite dout once the sums are done.
     * G[0..C): sum dout, G[C..2C): sum dout * xh, G[2C]: the row count. */
    double G[2 * Cp + 1];
    float k1[Cp], k2[Cp];
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BN_BLK, nc = C - c0 < BN_BLK ? C - c0 : BN_BLK;
        double sg[BN_BLK] = {0}, sgx[BN_BLK] = {0};
        for (size_t n = 0; n < N; n++) {
            const float *g = dout + n * C + c0, *x = inp + n * C + c0;
            for (int i = 0; i < nc; i++) {
                sg[i] += g[i];
                sgx[i] += (double)g[i] * ((x[i] - mean[c0 + i]) * rstd[c0 + i]);
            }
        }
        for (int i = 0; i < nc; i++) {
            if (dw) dw[c0 + i] += (float)sgx[i];
            if (db) db[c0 + i] += (float)sg[i];
            G[c0 + i] = sg[i], G[C + c0 + i] = sgx[i];
        }
    }
    G[2 * C] = (double)N;
    reduce(sync, G, 2 * (size_t)C + 1);
    for (int c = 0; c < C; c++) {
        k1[c] = (float)(G[c] / G[2 * C]);
        k2[c] = (float)(G[C + c] / G[2 * C]);
    }
    if (!dinp) return;
#pragma omp parallel for schedule(static) if (N * (size_t)C > PAR_MIN)
    for (size_t n = 0; n < N; n++) {
        const float *g = dout + n * C, *x = inp + n * C;
        float *d = dinp + n * C;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - mean[c]) * rstd[c];
            d[c] = rstd[c] * w[c] * (g[c] - k1[c] - xh * k2[c]);
        }
    }
}
