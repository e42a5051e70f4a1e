/*
 * conv2d.h — 2-D convolution without bias (conv2d.c), as the convolutions of
 * OpenAI's ModifiedResNet: square kernel k, one stride, zero padding `pad`.
 *
 * Activations are NHWC: rows are pixels (b, y, x) in row-major order,
 * columns are channels, so a 1x1 convolution is exactly nn.Linear on the
 * rows and the channel-wise layers (BatchNorm, ReLU) walk contiguous rows.
 * Weights are OIHW as PyTorch stores them: row o of the (O, C*k*k) matrix
 * holds the kernel in (c, ky, kx) order, which is the column order im2col
 * writes.  Forward is im2col + one GEMM through gemm_f32 (nn/linear.h), so
 * training's bits do not depend on the thread count.
 */
#ifndef CLIPC_NN_CONV2D_H
#define CLIPC_NN_CONV2D_H

#include <stddef.h>

typedef struct {
    int B, H, W, C;  /* input: B images of H x W pixels, C channels */
    int O, k, stride, pad;
    int Ho, Wo;      /* output size: (H + 2 pad - k) / stride + 1 */
} conv_shape;

void conv_shape_set(conv_shape *s, int B, int H, int W, int C, int O, int k, int stride, int pad);
/* Floats of the im2col scratch this convolution needs (0: a 1x1 stride-1
 * convolution reads its input directly). */
size_t conv2d_cols_floats(const conv_shape *s);

/* out (B*Ho*Wo, O) = conv(inp (B*H*W, C)); cols: scratch of
 * conv2d_cols_floats (may be NULL when that is 0). */
void conv2d_forward(float *out, float *cols, const float *inp, const float *w, const conv_shape *s);
/* dinp (B*H*W, C) = the input gradient (overwritten; NULL to skip),
 * dw += dout^T cols.  The columns are rebuilt from inp into `cols` (not kept
 * from forward: they are k*k times the input); dcols is a second scratch of
 * the same size for the column gradient. */
void conv2d_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, float *cols,
                     float *dcols, const conv_shape *s);

#endif
