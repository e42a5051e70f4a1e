/*
 * blas_core.h — OpenBLAS's kernel choice checked against the CPU's features
 * (blas_core.c; the public side is clipc_blas_core_override in clipc.h).
 */
#ifndef CLIPC_KERNELS_BLAS_CORE_H
#define CLIPC_KERNELS_BLAS_CORE_H

/* The OPENBLAS_CORETYPE to start with when OpenBLAS's `detected` core is of
 * a lower class than a CPU with these features runs, else NULL (a pure
 * function of its arguments, for tests). */
const char *blas_core_better(const char *detected, int avx512, int avx2_fma, int avx);

#endif
