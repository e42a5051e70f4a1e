/*
 * relu.h — ReLU forward and backward (relu.c), elementwise, in place allowed.
 * Backward reads the forward OUTPUT (y > 0 exactly when x > 0), so a
 * BatchNorm + ReLU pair keeps one buffer: the ReLU runs in place on the
 * BatchNorm output, and BatchNorm's backward needs only its input.
 */
#ifndef CLIPC_NN_RELU_H
#define CLIPC_NN_RELU_H

#include <stddef.h>

/* out = max(inp, 0); out may equal inp. */
void relu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * (out > 0) (overwritten; may equal dout). */
void relu_backward(float *dinp, const float *dout, const float *out, size_t n);

#endif
