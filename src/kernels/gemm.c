/*
 * gemm.c — thread-count-independent float32 GEMMs on OpenBLAS (see gemm.h).
 */
#include <cblas.h>

#include "kernels/gemm.h"

/* At most this many blocks: each block re-packs the operand it shares with
 * the others, so a few large blocks keep 2-8 threads busy while the packing
 * stays a few per cent of the FLOPs. */
#define GEMM_MAX_BLOCKS 8
/* Smallest block (rows or columns), a multiple of every sgemm kernel's unroll. */
#define GEMM_MIN_BLOCK 64

/* Block size for a dimension of n, from n alone. */
static int block_of(int n) {
    int b = (n + GEMM_MAX_BLOCKS - 1) / GEMM_MAX_BLOCKS;
    b = (b + 15) / 16 * 16;
    return b < GEMM_MIN_BLOCK ? GEMM_MIN_BLOCK : b;
}

void gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    /* Split the longer of M and N; the other operand is shared by the blocks. */
    int by_rows = M >= N;
    int len = by_rows ? M : N, blk = block_of(len), nb = (len + blk - 1) / blk;
    /* Always an OpenMP loop, even for one block: inside an active region
     * OpenBLAS runs single-threaded, so small products too are never split
     * by OpenBLAS's thread-dependent driver. */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nb; i++) {
        int o = i * blk, n = len - o < blk ? len - o : blk;
        if (by_rows) {
            const float *a = trans_a ? A + o : A + (size_t)o * lda;
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)o * ldc, ldc);
        } else {
            const float *b = trans_b ? B + (size_t)o * ldb : B + o;
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda, b, ldb, beta, C + o, ldc);
        }
    }
}
