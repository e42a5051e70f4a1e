/*
 * vec.h — the elementwise kernels that sit between the GEMMs (QuickGELU and
 * its derivative, the exponentials of softmax), written so the compiler
 * vectorises them, in three builds chosen at run time: generic (SSE2, the
 * x86-64 baseline), AVX2 and AVX-512F.  The default build has no -march, so
 * one binary runs on any x86-64 and still uses wide vectors where present.
 *
 * Every build computes the same bits: the kernels are elementwise (no
 * reassociated sums), and C11 mode compiles without FMA contraction, so a
 * lane does exactly the scalar code's operations.  test_vec checks this.
 */
#ifndef CLIPC_VEC_H
#define CLIPC_VEC_H

#include <stddef.h>

/* pre[i] += b[i]; h[i] = quickgelu(pre[i]).  h may alias pre. */
void vec_quickgelu_bias(float *pre, float *h, const float *b, size_t n);
/* h[i] = quickgelu(pre[i]) */
void vec_quickgelu(float *h, const float *pre, size_t n);
/* dh[i] *= quickgelu'(pre[i]) */
void vec_quickgelu_backward(float *dh, const float *pre, size_t n);
/* x[i] = exp(x[i] - shift) */
void vec_exp_shift(float *x, size_t n, float shift);
/* A softmax row's exponentials: x[i] = exp(x[i] - max), max and sum in
 * index order (fixed bits); *mx receives the max, the return is 1 / sum. */
float vec_softmax_exp(float *x, size_t n, float *mx);
/* The scalar exp the kernels use (relative error about 1e-7; the argument
 * is clamped to [-87.3, 88.3], so it never returns 0 or inf): for tests. */
float vec_expf(float x);

/* What a fused inference GEMM applies after its product, over n outputs
 * of one row (backend.h's backend_gemm_ops, in the backends' order): y +=
 * bias (when not NULL), then the activation act (BACKEND_ACT_*: QuickGELU
 * through vec_quickgelu, GELU with erf), then y += res (when not NULL).
 * The int8 backend and sgemm_panel.c both end with it. */
void vec_gemm_epilogue(float *y, const float *bias, int act, const float *res, size_t n);
/* 0 generic, 1 AVX2, 2 AVX-512F: what runs now.  vec_set_level asks for a
 * level (clamped to what the CPU has; -1 = the best) and returns the one set. */
int vec_level(void);
int vec_set_level(int level);

#endif
