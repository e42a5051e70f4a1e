/*
 * relu.c — ReLU (relu.h).  The gradient at exactly 0 is 0, as PyTorch's.
 */
#include "nn/relu.h"
#include "base/parallel.h"

void relu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}
