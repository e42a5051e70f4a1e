/*
 * int8.h — the int8 inference backend (int8.c): weight matrices quantised
 * once to s8 per output channel, GEMM inputs quantised per row at each
 * call, products on oneDNN's u8 x s8 -> s32 matmul (the s8 codes shifted), everything after the
 * product (scales, bias, activation, residual) in float32.
 *
 * The context holds the quantised copies of the matrices it was given,
 * found again by the float pointer the layers pass (backend.h's gemm);
 * a GEMM on a matrix it does not hold, and attention, go to the oneDNN
 * float32 backend (onednn.h), so the layers never see a refusal there.
 */
#ifndef CLIPC_INT8_H
#define CLIPC_INT8_H

#include <stddef.h>

#include "clipc.h"
#include "kernels/backend.h"

typedef struct int8_ctx int8_ctx;

/* One weight matrix to quantise: rows x cols floats, row-major.  out_in:
 * nn.Linear's (OUT, IN), used as x W^T (backend.h's w_is_out_in); else
 * (IN, OUT), used as x P.  The scale is per output channel either way. */
typedef struct {
    const float *w;
    int rows, cols, out_in;
} int8_matrix;

/* Quantises the n matrices (each s8, scale = max|w| / 127 per output
 * channel) into a new context.  The floats are not kept: they may change
 * or go away afterwards only if the context is freed first. */
clipc_status int8_create(int8_ctx **out, const int8_matrix *m, int n);
void int8_free(int8_ctx *g);

const infer_backend *int8_backend(const int8_ctx *g);

/* What the context's GEMMs ran on: oneDNN's implementation name of the
 * last int8 primitive built (e.g. "brg:avx512_core_amx"), "none" before
 * the first.  Copied into buf (n bytes). */
void int8_kernel_name(const int8_ctx *g, char *buf, size_t n);

/* How many GEMMs ran in int8 and how many went to the float32 fallback
 * since the context was made (bench, tests). */
void int8_counts(const int8_ctx *g, long *int8_gemms, long *f32_gemms);

/* The int8 ceiling of this machine as the benchmarks see it: the best
 * GOP/s (2 n^3 multiply-adds counted as operations) of oneDNN's u8 x s8 ->
 * s32 matmul on an n x n x n product, the kind the int8 GEMMs run, on
 * the current threads; 0 when oneDNN refuses.  Like the SGEMM probe, the
 * figure int8 throughput is read against. */
double int8_probe_gops(int n);

#endif
