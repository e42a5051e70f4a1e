/*
 * linear.c — fully connected layers on OpenBLAS sgemm.
 *
 * nn.Linear stores W as (OUT, IN) and computes x W^T + b; CLIP's two
 * projections are plain (IN, OUT) matrices used as x P.  Both are one GEMM
 * forward and two backward.  OpenBLAS splits GEMMs over M and N, never over
 * K, so its results do not depend on thread timing.
 */
#include <cblas.h>
#include <string.h>

#include "layers.h"

/* Adds b to every row of out (N, C). */
static void add_bias(float *out, const float *b, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * C;
        for (int i = 0; i < C; i++) y[i] += b[i];
    }
}

/* db += column sums of dout (N, C), in row order per column (deterministic). */
static void bias_backward(float *db, const float *dout, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < C; i++) {
        float s = 0.f;
        for (int n = 0; n < N; n++) s += dout[(size_t)n * C + i];
        db[i] += s;
    }
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, out, OUT);
    if (b) add_bias(out, b, N, OUT);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IN, int OUT) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, w, IN, 0.0f,
                    dinp, IN);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, dw,
                    IN);
    if (db) bias_backward(db, dout, N, OUT);
}

void matmul_forward(float *out, const float *inp, const float *p, int N, int IN, int OUT) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OUT, IN, 1.0f, inp, IN, p, OUT, 0.0f, out, OUT);
}

void matmul_backward(float *dinp, float *dp, const float *dout, const float *inp, const float *p,
                     int N, int IN, int OUT) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, IN, OUT, 1.0f, dout, OUT, p, OUT, 0.0f, dinp,
                    IN);
    if (dp)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, IN, OUT, N, 1.0f, inp, IN, dout, OUT, 1.0f, dp,
                    OUT);
}
