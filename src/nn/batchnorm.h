/*
 * batchnorm.h — BatchNorm2d in EVAL mode (batchnorm.c) on NHWC rows:
 * y = (x - running_mean) / sqrt(running_var + 1e-5) * weight + bias, per
 * channel, as PyTorch's model.eval() computes it for OpenAI's ModifiedResNet.
 *
 * The running statistics are constants here: backward goes through the
 * affine map only (dx = dy * weight / sqrt(var + eps)) and gives gradients
 * to weight and bias, never to the statistics, which training does not
 * update either (they are buffers, not parameters: see nn/params.h).
 * Train-mode BatchNorm (batch statistics, their gradient, running-average
 * updates) belongs to the tutorial ResNet-50 issue and is NOT done here.
 */
#ifndef CLIPC_NN_BATCHNORM_H
#define CLIPC_NN_BATCHNORM_H

#include <stddef.h>

#define BN_EPS 1e-5f

/* out (N, C) = bn(inp); out may equal inp. */
void batchnorm_forward(float *out, const float *inp, const float *w, const float *b, const float *mean,
                       const float *var, size_t N, int C);
/* dinp = dout * w / sqrt(var + eps) (overwritten; may equal dout; NULL to
 * skip), dw += sum_rows dout * (inp - mean) / sqrt(var + eps),
 * db += sum_rows dout.  inp is the forward input. */
void batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *var, size_t N, int C);

#endif
