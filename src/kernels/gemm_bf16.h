/*
 * gemm_bf16.h — opt-in bfloat16 GEMMs for inference (oneDNN matmul).
 *
 * A gemm_bf16 holds a bf16 copy of a model's flat parameter buffer (same
 * offsets, so the bf16 twin of a weight pointer is found by subtraction)
 * and a cache of oneDNN matmul primitives per shape.  linear_forward and
 * matmul_forward ask gemm_bf16_run() first; it does the product only when
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
/* Tests only: makes the fused GEMMs (bf16 input or output, or a residual)
 * and/or the batched attention report failure, to exercise the fallbacks. */
enum { GEMM_BF16_FAIL_FUSED = 1, GEMM_BF16_FAIL_ATTENTION = 2 };
void gemm_bf16_test_fail(int what);
/* Tests only: the batched attention's scores budget in floats (0 = the
 * default), so that a small batch is cut into groups of sequences. */
void gemm_bf16_test_scores_max(size_t floats);

/* Converts n floats of params (round to nearest even) into a new context. */
clipc_status gemm_bf16_create(gemm_bf16 **out, const float *params, size_t n);
void gemm_bf16_free(gemm_bf16 *g);

/* Binds g (NULL = none) for this thread; returns the previous binding. */
const gemm_bf16 *gemm_bf16_bind(const gemm_bf16 *g);
/* 1 when this thread has a gemm_bf16 bound (inference on oneDNN), and
 * gemm_bf16_lowp() when that is a bf16 one (not the f32 context). */
int gemm_bf16_active(void);
int gemm_bf16_lowp(void);

/* The process-wide float32 context (made on first use; NULL if oneDNN
 * cannot make an engine, or in tests after gemm_f32_force_off(1)).  Bound
 * for f32 inference, it runs the same fused GEMMs in float32 on the
 * weights as they are: oneDNN's brgemm kernels beat OpenBLAS sgemm on the
 * narrow shapes of batch-1 and small models (docs/performance.md), and
 * the fused block needs no elementwise passes between GEMMs.  Training never
 * binds it, so it keeps OpenBLAS and its bits. */
const gemm_bf16 *gemm_f32_context(void);
void gemm_f32_force_off(int on);
/* A pass chaining bf16 buffers (block.c) has no f32 fallback halfway: when
 * one of its GEMMs fails it calls gemm_bf16_fail(), and the encoder, which
 * checks gemm_bf16_take_failure() (reads and clears this thread's flag)
 * after the forward, encodes the batch again in f32. */
void gemm_bf16_fail(void);
int gemm_bf16_take_failure(void);

/* What a bf16 GEMM fuses around inp x W (oneDNN post-ops): inference's
 * bias, activation and residual add then cost no pass of their own, and a
 * bf16 output can feed the next GEMM without a conversion. */
enum { GEMM_BF16_ACT_NONE = 0, GEMM_BF16_ACT_QUICKGELU, GEMM_BF16_ACT_GELU };
typedef struct {
    const float *bias;     /* OUT floats added to every row, or NULL */
    int act;               /* GEMM_BF16_ACT_*, applied after the bias */
    const float *residual; /* N x OUT floats added last, or NULL (must not overlap out) */
    int in_bf16;           /* inp holds N x IN bf16 values (an out_bf16 output) */
    int out_bf16;          /* out receives N x OUT bf16 values */
} gemm_bf16_ops;

/* out (N, OUT) = ops(inp (N, IN) times w), with w (OUT, IN) when
 * w_is_out_in (nn.Linear, x W^T) or (IN, OUT) otherwise (x P); ops may be
 * NULL (a plain product).  Returns 1 when it did the product in bf16, 0
 * when the caller must (nothing bound, w not in the bound buffer, or oneDNN
 * refused); out is to be recomputed then, inp is untouched. */
int gemm_bf16_run(void *out, const void *inp, const float *w, int N, int IN, int OUT, int w_is_out_in,
                  const gemm_bf16_ops *ops);

/* Inference attention without a causal mask over B sequences of T tokens
 * each (qkv (B T, 3C) packed q | k | v, NH heads; floats, or bf16 when
 * in_bf16) into out (B T, C), floats or bf16 (out_bf16, with in_bf16): the scores and the mixing are each one
 * batched oneDNN matmul per group of sequences instead of two small GEMMs
 * per (sequence, head); with in_bf16 both are bf16 products (softmax in
 * f32, probabilities rounded to bf16).  Returns 0 (out to be recomputed)
 * when nothing is bound, another thread holds the scores buffer, or oneDNN
 * refused. */
int gemm_bf16_attention(void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16, int out_bf16);

/* Turns n bf16 values at the start of buf into n floats, in place (the
 * fallback when a GEMM cannot take a bf16 input). */
void gemm_bf16_to_f32_inplace(float *buf, size_t n);

/* Round to nearest even, as oneDNN and torch.bfloat16 do (NaN stays NaN). */
static inline uint16_t gemm_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

#endif
