/*
 * layernorm.c — LayerNorm over the last dimension (eps 1e-5, biased
 * variance, float32 as OpenAI's fp32 LayerNorm subclass computes it).
 *
 * Statistics are accumulated in double: a row of 768 floats summed in float
 * loses a few bits, and the cost is nil next to the GEMMs.
 */
#include <math.h>
#include <string.h>

#include "nn/layernorm.h"
#include "base/parallel.h"
#include "kernels/bf16.h"

#define LN_EPS 1e-5

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C) {
    layernorm_forward_eps(out, mean, rstd, inp, w, b, N, C, LN_EPS);
}

void layernorm_forward_eps(float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, int N, int C, double eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double s = 0.0;
        for (int i = 0; i < C; i++) s += x[i];
        double m = s / C, v = 0.0;
        for (int i = 0; i < C; i++) {
            double d = x[i] - m;
            v += d * d;
        }
        v /= C;
        float mf = (float)m, rs = (float)(1.0 / sqrt(v + eps));
        float *y = out + (size_t)n * C;
#pragma omp simd
        for (int i = 0; i < C; i++) y[i] = (x[i] - mf) * rs * w[i] + b[i];
        if (mean) mean[n] = mf;
        if (rstd) rstd[n] = rs;
    }
}

/* Inference in bf16: the same normalisation, written in bf16 as the next
 * GEMM's input (bf16.h), so no separate conversion pass runs.  The
 * sums are vector reductions (their order differs from layernorm_forward's
 * serial one in the last bits of the statistics, far below bf16's 8 bits). */
void layernorm_forward_bf16(uint16_t *out, const float *inp, const float *w, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++) s += x[i];
        double m = s / C, v = 0.0;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++) {
            double d = x[i] - m;
            v += d * d;
        }
        float mf = (float)m, rs = (float)(1.0 / sqrt(v / C + LN_EPS));
        uint16_t *y = out + (size_t)n * C;
#pragma omp simd
        for (int i = 0; i < C; i++) y[i] = bf16_from_f32((x[i] - mf) * rs * w[i] + b[i]);
    }
}

void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd, const float *w,
                     const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C, mf = mean[n], rs = rstd[n];
#pragma omp simd
        for (int i = 0; i < C; i++) y[i] = (x[i] - mf) * rs * w[i] + b[i];
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    /* dinp per row: independent rows, any thread split is exact. */
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *x = inp + (size_t)n * C;
        float m = mean[n], rs = rstd[n];
        double dnorm_mean = 0.0, dnorm_norm_mean = 0.0;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * rs;
            float dn = w[i] * dy[i];
            dnorm_mean += dn;
            dnorm_norm_mean += (double)dn * norm;
        }
        float a = (float)(dnorm_mean / C), c = (float)(dnorm_norm_mean / C);
        float *dx = dinp + (size_t)n * C;
#pragma omp simd
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * rs;
            dx[i] += (w[i] * dy[i] - a - norm * c) * rs;
        }
    }
    /* dw, db: sums over rows.  Threads take blocks of 64 columns and walk
     * the rows in order, so each column's sum has the row order whatever
     * the thread count, and the reads stay contiguous. */
    int nblk = (C + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int i0 = blk * 64, nc = C - i0 < 64 ? C - i0 : 64;
        float sw[64], sb[64];
        for (int i = 0; i < nc; i++) sw[i] = sb[i] = 0.f;
        for (int n = 0; n < N; n++) {
            const float *dy = dout + (size_t)n * C + i0, *x = inp + (size_t)n * C + i0;
            float m = mean[n], rs = rstd[n];
#pragma omp simd
            for (int i = 0; i < nc; i++) { /* lanes are columns: no reordering */
                sw[i] += dy[i] * ((x[i] - m) * rs);
                sb[i] += dy[i];
            }
        }
        for (int i = 0; i < nc; i++) {
            dw[i0 + i] += sw[i];
            db[i0 + i] += sb[i];
        }
    }
}
