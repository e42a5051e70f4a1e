/*
 * linear.h — fully connected layers and the plain projections (linear.c).
 * Backward accumulates into weight gradients, overwrites the input gradient.
 * Forward takes an inference backend (backend.h) or NULL (training: gemm_f32).
 */
#ifndef CLIPC_NN_LINEAR_H
#define CLIPC_NN_LINEAR_H

#include "kernels/backend.h"

/* ---- linear.c: y = x W^T + b with W (OUT, IN) as nn.Linear stores it; b may be NULL */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT,
                    const infer_backend *be);
/* dinp = dout W (overwritten; NULL to skip), dw += dout^T x, db += sum rows (NULL to skip) */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IN, int OUT);
/* y = x P with P (IN, OUT), as CLIP's proj / text_projection are stored (no bias) */
void matmul_forward(float *out, const float *inp, const float *p, int N, int IN, int OUT, const infer_backend *be);
/* dinp = dout P^T (overwritten; NULL to skip), dp += x^T dout */
void matmul_backward(float *dinp, float *dp, const float *dout, const float *inp, const float *p,
                     int N, int IN, int OUT);

#endif
