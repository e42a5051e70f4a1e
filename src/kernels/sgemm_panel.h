/*
 * sgemm_panel.h — float32 products of few rows (batch 1-8 encodes) on
 * weights packed once into 16-column panels, with the bias, activation and
 * residual of backend_gemm_ops fused (sgemm_panel.c).
 *
 * Why our own: on CPUs with AVX2 and no AVX-512 (AMD EPYC Zen 2/3, older
 * Intel), oneDNN 2.6's f32 matmul has no brgemm and runs "gemm:jit" on the
 * weights' plain layout, whatever layout it is offered; at 40-60 rows that
 * kernel reached about half of the SGEMM peak (docs/performance.md), and
 * batch-1 encoding is nothing but such products.  A panel kernel with the
 * weights packed once is the textbook cure (it is what ONNX Runtime's MLAS
 * does with constant weights); no library in Debian offers it for f32.
 *
 * Every output element is one thread's fixed-order sum (k ascending, one
 * FMA per k), and threads split the columns only, so the bits depend on the
 * shape alone, never on the thread count.
 */
#ifndef CLIPC_SGEMM_PANEL_H
#define CLIPC_SGEMM_PANEL_H

#include <stddef.h>

#include "kernels/backend.h"

/* 1 when the panel kernel can run here (AVX2 and FMA). */
int sgemm_panel_available(void);

/* 1 when it should replace oneDNN for small products: AVX2 + FMA without
 * AVX-512F (where oneDNN has brgemm and packs weights itself), unless the
 * environment says otherwise (CLIPC_PANEL_GEMM=0 / 1, for benchmarks). */
int sgemm_panel_preferred(void);

/* Floats of the packed form of a (K, N) product's weights: N rounded up to
 * 16, times K. */
size_t sgemm_panel_floats(int K, int N);

/* Packs w into dst (sgemm_panel_floats(K, N) floats, 32-byte aligned):
 * w is (N, K) when w_is_out_in (nn.Linear's x W^T), else (K, N). */
void sgemm_panel_pack(float *dst, const float *w, int K, int N, int w_is_out_in);

/* out (M, N) = ops(inp (M, K) x W) with W packed by sgemm_panel_pack; ops
 * may be NULL; its bf16 flags are not supported (the caller checks).
 * Requires sgemm_panel_available(). */
void sgemm_panel_run(float *out, const float *inp, const float *packed, int M, int K, int N,
                     const backend_gemm_ops *ops);

#endif
