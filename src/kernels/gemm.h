/*
 * gemm.h — float32 matrix products for training and the OpenBLAS inference
 * fallback, with bits that do not depend on the thread count.
 *
 * OpenBLAS's own threading is not thread-count independent: its threaded
 * driver blocks K differently from its single-threaded one (for K between
 * GEMM_Q and 2 GEMM_Q, a CPU-specific range), so 1 and 2 threads gave
 * different last bits on some CPUs and not on others.  gemm_f32 therefore
 * cuts C into blocks fixed by the shape alone and runs each block as a
 * single-threaded sgemm (OpenBLAS does not thread inside an active OpenMP
 * region) on our own threads: every element is computed by the same call,
 * with the same blocking, whatever the thread count and the CPU's threshold.
 */
#ifndef CLIPC_GEMM_H
#define CLIPC_GEMM_H

/* C (M, N) = alpha op(A) op(B) + beta C, all row-major; op(A) is (M, K):
 * A is (M, K) with lda, or (K, M) when trans_a; op(B) is (K, N): B is
 * (K, N) with ldb, or (N, K) when trans_b. */
void gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

#endif
