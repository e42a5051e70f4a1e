/*
 * onednn_testing.h — switches of onednn.c for the tests only: they force
 * the paths a test cannot otherwise reach on a given machine (the f32
 * fallback without AVX512_BF16, OpenBLAS without the f32 context, a kernel
 * failing halfway, the attention cut into groups).  Compiled into the
 * library, included by tests alone; process-wide, not thread-safe.
 */
#ifndef CLIPC_ONEDNN_TESTING_H
#define CLIPC_ONEDNN_TESTING_H

#include <stddef.h>

/* 1 makes onednn_bf16_available() answer 0 (the fallback path). */
void onednn_test_bf16_unavailable(int on);
/* 1 makes onednn_f32_context() answer NULL (inference on OpenBLAS). */
void onednn_test_f32_off(int on);
/* Makes the fused GEMMs (bf16 input or output, or a residual) and/or the
 * batched attention report failure, to exercise the fallbacks. */
enum { ONEDNN_FAIL_FUSED = 1, ONEDNN_FAIL_ATTENTION = 2 };
void onednn_test_fail(int what);
/* The batched attention's scores budget in floats (0 = the default), so
 * that a small batch is cut into groups of sequences. */
void onednn_test_scores_max(size_t floats);
/* The packed f32 context's small products: -1 the CPU's choice
 * (sgemm_panel_preferred), 0 always oneDNN, 1 always the panel kernel
 * (where AVX2 + FMA exist). */
void onednn_test_panel(int mode);

#endif
