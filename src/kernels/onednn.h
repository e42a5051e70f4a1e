/*
 * onednn.h — the oneDNN inference backends (onednn.c): float32 on the
 * weights as they are, and opt-in bfloat16 on a bf16 twin of them.
 *
 * An onednn_ctx holds oneDNN's engine, a cache of matmul primitives per
 * shape and reusable buffers; a bf16 one also holds a bf16 copy of a
 * model's flat parameter buffer (same offsets, so the twin of a weight
 * pointer is found by subtraction).  Each context carries its
 * infer_backend (backend.h), which the model hands the towers: nothing
 * here is bound per thread, and training, which passes no backend, keeps
 * OpenBLAS and its bits.  Test switches are in onednn_testing.h.
 */
#ifndef CLIPC_ONEDNN_H
#define CLIPC_ONEDNN_H

#include <stddef.h>

#include "clipc.h"
#include "kernels/backend.h"

typedef struct onednn_ctx onednn_ctx;

/* 1 when the CPU multiplies bf16 natively (AVX512_BF16 or newer, as oneDNN
 * sees it).  oneDNN's emulation on plain AVX-512 measured 2.7x slower than
 * OpenBLAS sgemm, and AVX2 has no bf16 matmul at all, so without it the
 * model stays f32. */
int onednn_bf16_available(void);

/* A bf16 context: n floats of params converted (round to nearest even). */
clipc_status onednn_bf16_create(onednn_ctx **out, const float *params, size_t n);
void onednn_free(onednn_ctx *g);

/* The process-wide float32 context (made on first use; NULL if oneDNN
 * cannot make an engine, or in tests after onednn_test_f32_off(1)).  It
 * runs the same fused GEMMs in float32 on the weights as they are:
 * oneDNN's brgemm kernels beat OpenBLAS sgemm on the narrow shapes of
 * batch-1 and small models (docs/performance.md), and the fused block
 * needs no elementwise passes between GEMMs. */
const onednn_ctx *onednn_f32_context(void);

/* A float32 context of one model's n params (which must not change while
 * it lives: free it before the weights do): like the process-wide one,
 * but products of at most PACK_MAX_ROWS rows (batch 1-8 encodes) read the
 * weights in the blocked layout oneDNN's kernels want, each weight
 * reordered once on first use and kept (up to the size of params again).
 * On CPUs with AVX2 and no AVX-512, where oneDNN has no brgemm, those
 * products run sgemm_panel.c's kernel on its own packed copy instead. */
clipc_status onednn_f32_packed_create(onednn_ctx **out, const float *params, size_t n);
/* Bytes of packed weights g holds (0 for NULL or other contexts). */
size_t onednn_packed_bytes(const onednn_ctx *g);

/* The backend that runs its kernels on g (NULL for NULL).  Its GEMM does
 * a product only when w lies in g's twin (bf16) and, in f32, only on float
 * inputs and outputs; its attention is the batched one of onednn.c. */
const infer_backend *onednn_backend(const onednn_ctx *g);

#endif
