/*
 * gemm_bf16.h — opt-in bfloat16 GEMMs for inference (oneDNN matmul).
 *
 * A gemm_bf16 holds a bf16 copy of a model's flat parameter buffer (same
 * offsets, so the bf16 twin of a weight pointer is found by subtraction)
 * and a cache of oneDNN matmul primitives per shape.  linear_forward and
 * matmul_forward ask gemm_bf16_try() first; it does the product only when
 * the calling thread has bound a gemm_bf16 (clipc_encode_* do, for a model
 * set to CLIPC_PRECISION_BF16) and the weight lies in its buffer, so
 * training and every f32 path are untouched.  A thread-local binding keeps
 * the layer and tower signatures unchanged.
 */
#ifndef CLIPC_GEMM_BF16_H
#define CLIPC_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

typedef struct gemm_bf16 gemm_bf16;

/* 1 when the CPU multiplies bf16 natively (AVX512_BF16 or newer, as oneDNN
 * sees it).  oneDNN's emulation on plain AVX-512 measured 2.7x slower than
 * OpenBLAS sgemm, and AVX2 has no bf16 matmul at all, so without it the
 * model stays f32. */
int gemm_bf16_available(void);
/* Tests only: 1 makes gemm_bf16_available() answer 0 (the fallback path). */
void gemm_bf16_force_unavailable(int on);

/* Converts n floats of params (round to nearest even) into a new context. */
clipc_status gemm_bf16_create(gemm_bf16 **out, const float *params, size_t n);
void gemm_bf16_free(gemm_bf16 *g);

/* Binds g (NULL = none) for this thread; returns the previous binding. */
const gemm_bf16 *gemm_bf16_bind(const gemm_bf16 *g);

/* out (N, OUT) = inp (N, IN) times w, with w (OUT, IN) when w_is_out_in
 * (nn.Linear, x W^T) or (IN, OUT) otherwise (x P).  Returns 1 when it did
 * the product in bf16, 0 when the caller must (nothing bound, w not in the
 * bound buffer, or oneDNN refused). */
int gemm_bf16_try(float *out, const float *inp, const float *w, int N, int IN, int OUT, int w_is_out_in);

/* Round to nearest even, as oneDNN and torch.bfloat16 do (NaN stays NaN). */
static inline uint16_t gemm_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

#endif
