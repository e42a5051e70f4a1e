/*
 * linear.c — fully connected layers on OpenBLAS sgemm.
 *
 * nn.Linear stores W as (OUT, IN) and computes x W^T + b; CLIP's two
 * projections are plain (IN, OUT) matrices used as x P.  Both are one GEMM
 * forward and two backward.
 *
 * Determinism: the forward and d(input) GEMMs give the same bits for any
 * thread count, but OpenBLAS's threaded weight-gradient GEMM (K = batch
 * rows, large) does not: with 480 rows, 1 and 2 threads differed in the
 * last bits.  So weight gradients are computed in blocks of output rows
 * fixed by the shape, each a single-threaded GEMM (OpenBLAS does not thread
 * inside an OpenMP region), spread over our threads: every element is then
 * computed by the same call whatever the thread count.
 */
#include <cblas.h>
#include <string.h>

#include "gemm_bf16.h"
#include "layers.h"

/* Adds b to every row of out (N, C). */
static void add_bias(float *out, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > CLIPC_PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * C;
        for (int i = 0; i < C; i++) y[i] += b[i];
    }
}

/* db += column sums of dout (N, C): threads take blocks of 64 columns and
 * walk the rows in order (deterministic, contiguous reads). */
static void bias_backward(float *db, const float *dout, int N, int C) {
    int nblk = (C + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)N * C > CLIPC_PAR_MIN)
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

/* C (M, N) += A^T B with A (K, M) lda, B (K, N) ldb, in at most 8 blocks of
 * rows of C (at least 64 rows each, a multiple of 16).  The split depends on
 * the shape only.  Each block re-packs B, so there are few: 8 keep 2-8
 * threads busy while the packing stays a few per cent of the FLOPs. */
static void gemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *Cm, int ldc) {
    int rows = (M + 7) / 8;
    rows = (rows + 15) / 16 * 16;
    if (rows < 64) rows = 64;
    int nb = (M + rows - 1) / rows;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nb; blk++) {
        int m0 = blk * rows, m = M - m0 < rows ? M - m0 : rows;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, N, K, 1.0f, A + m0, lda, B, ldb, 1.0f,
                    Cm + (size_t)m0 * ldc, ldc);
    }
}

/* The forward GEMMs go to oneDNN only when the calling thread bound an
 * inference context (clipc_encode_*: bf16, or the f32 context); see
 * gemm_bf16.h.  There the bias is added inside the GEMM.  Training binds
 * none, so its GEMMs stay on OpenBLAS. */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT) {
    gemm_bf16_ops ops = {.bias = b};
    if (gemm_bf16_run(out, inp, w, N, IN, OUT, 1, &ops)) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, out, OUT);
    if (b) add_bias(out, b, N, OUT);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IN, int OUT) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, w, IN, 0.0f,
                    dinp, IN);
    if (dw) gemm_tn_acc(OUT, IN, N, dout, OUT, inp, IN, dw, IN);
    if (db) bias_backward(db, dout, N, OUT);
}

void matmul_forward(float *out, const float *inp, const float *p, int N, int IN, int OUT) {
    if (!gemm_bf16_run(out, inp, p, N, IN, OUT, 0, NULL))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OUT, IN, 1.0f, inp, IN, p, OUT, 0.0f, out, OUT);
}

void matmul_backward(float *dinp, float *dp, const float *dout, const float *inp, const float *p,
                     int N, int IN, int OUT) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, IN, OUT, 1.0f, dout, OUT, p, OUT, 0.0f, dinp,
                    IN);
    if (dp) gemm_tn_acc(IN, OUT, N, inp, IN, dout, OUT, dp, OUT);
}
