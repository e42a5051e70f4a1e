/*
 * linear.c — fully connected layers on OpenBLAS sgemm.
 *
 * nn.Linear stores W as (OUT, IN) and computes x W^T + b; CLIP's two
 * projections are plain (IN, OUT) matrices used as x P.  Both are one GEMM
 * forward and two backward.
 *
 * Determinism: every product goes through gemm_f32 (gemm.h), whose bits do
 * not depend on the thread count.  In inference the forward products go to
 * the backend the caller passes (backend.h) when it takes them.
 */
#include <string.h>

#include "nn/linear.h"
#include "base/parallel.h"
#include "kernels/backend.h"
#include "kernels/gemm.h"

/* Adds b to every row of out (N, C). */
static void add_bias(float *out, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * C;
        for (int i = 0; i < C; i++) y[i] += b[i];
    }
}

/* db += column sums of dout (N, C): threads take blocks of 64 columns and
 * walk the rows in order (deterministic, contiguous reads). */
static void bias_backward(float *db, const float *dout, int N, int C) {
    int nblk = (C + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int i0 = blk * 64, nc = C - i0 < 64 ? C - i0 : 64;
        float s[64];
        for (int i = 0; i < nc; i++) s[i] = 0.f;
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * C + i0;
#pragma omp simd
            for (int i = 0; i < nc; i++) s[i] += g[i]; /* lanes are columns: no reordering */
        }
        for (int i = 0; i < nc; i++) db[i0 + i] += s[i];
    }
}

/* The forward GEMMs go to the inference backend be when the caller passes
 * one (clipc_encode_*: oneDNN bf16 or f32) and it does the product, the
 * bias added inside the GEMM.  Training passes none, so its GEMMs stay on
 * OpenBLAS. */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT,
                    const infer_backend *be) {
    backend_gemm_ops ops = {.bias = b};
    if (backend_gemm(be, out, inp, w, N, IN, OUT, 1, &ops)) return;
    gemm_f32(0, 1, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, out, OUT);
    if (b) add_bias(out, b, N, OUT);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IN, int OUT) {
    if (dinp)
        gemm_f32(0, 0, N, IN, OUT, 1.0f, dout, OUT, w, IN, 0.0f, dinp, IN);
    if (dw) gemm_f32(1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, dw, IN);
    if (db) bias_backward(db, dout, N, OUT);
}

void matmul_forward(float *out, const float *inp, const float *p, int N, int IN, int OUT, const infer_backend *be) {
    if (!backend_gemm(be, out, inp, p, N, IN, OUT, 0, NULL))
        gemm_f32(0, 0, N, OUT, IN, 1.0f, inp, IN, p, OUT, 0.0f, out, OUT);
}

void matmul_backward(float *dinp, float *dp, const float *dout, const float *inp, const float *p,
                     int N, int IN, int OUT) {
    if (dinp)
        gemm_f32(0, 1, N, IN, OUT, 1.0f, dout, OUT, p, OUT, 0.0f, dinp, IN);
    if (dp) gemm_f32(1, 0, IN, OUT, N, 1.0f, inp, IN, dout, OUT, 1.0f, dp, OUT);
}
