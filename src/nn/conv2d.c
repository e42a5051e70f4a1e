/*
 * conv2d.c — convolution as im2col + GEMM (see conv2d.h).
 *
 * Why im2col rather than a direct loop: the product then runs on the
 * project's thread-count-independent GEMM (kernels/gemm.h) at BLAS speed.
 * Backward recomputes the columns instead of caching them; the rebuild is a
 * copy, small next to the GEMMs, and caching would hold k*k = 9 copies of
 * every 3x3 convolution's input for the whole step.  col2im adds the column
 * gradients back per image, in a fixed order, so it is deterministic too.
 */
#include <string.h>

#include "nn/conv2d.h"
#include "base/parallel.h"
#include "nn/linear.h"

void conv_shape_set(conv_shape *s, int B, int H, int W, int C, int O, int k, int stride, int pad) {
    s->B = B, s->H = H, s->W = W, s->C = C, s->O = O, s->k = k, s->stride = stride, s->pad = pad;
    s->Ho = (H + 2 * pad - k) / stride + 1;
    s->Wo = (W + 2 * pad - k) / stride + 1;
}

static int direct(const conv_shape *s) { return s->k == 1 && s->stride == 1 && s->pad == 0; }

size_t conv2d_cols_floats(const conv_shape *s) {
    return direct(s) ? 0 : (size_t)s->B * s->Ho * s->Wo * s->C * s->k * s->k;
}

/* cols (B*Ho*Wo, C*k*k): row (b, oy, ox), column (c, ky, kx). */
static void im2col(float *cols, const float *inp, const conv_shape *s) {
    int k = s->k, K = s->C * k * k;
#pragma omp parallel for schedule(static) if ((size_t)s->B * s->Ho * s->Wo * K > PAR_MIN)
    for (int r = 0; r < s->B * s->Ho; r++) {
        int b = r / s->Ho, oy = r % s->Ho;
        for (int ox = 0; ox < s->Wo; ox++) {
            float *row = cols + ((size_t)r * s->Wo + ox) * K;
            for (int ky = 0; ky < k; ky++) {
                int y = oy * s->stride - s->pad + ky;
                for (int kx = 0; kx < k; kx++) {
                    int x = ox * s->stride - s->pad + kx;
                    float *dst = row + ky * k + kx;
                    if (y < 0 || y >= s->H || x < 0 || x >= s->W) {
                        for (int c = 0; c < s->C; c++) dst[(size_t)c * k * k] = 0.0f;
                        continue;
                    }
                    const float *src = inp + (((size_t)b * s->H + y) * s->W + x) * s->C;
                    for (int c = 0; c < s->C; c++) dst[(size_t)c * k * k] = src[c];
                }
            }
        }
    }
}

/* dinp (overwritten) = the sum of every column entry that copied it; one
 * thread per image, output rows in order: a fixed summation order. */
static void col2im(float *dinp, const float *dcols, const conv_shape *s) {
    int k = s->k, K = s->C * k * k;
    size_t img = (size_t)s->H * s->W * s->C;
#pragma omp parallel for schedule(static) if ((size_t)s->B * s->Ho * s->Wo * K > PAR_MIN)
    for (int b = 0; b < s->B; b++) {
        float *d = dinp + (size_t)b * img;
        memset(d, 0, img * sizeof(float));
        for (int oy = 0; oy < s->Ho; oy++)
            for (int ox = 0; ox < s->Wo; ox++) {
                const float *row = dcols + (((size_t)b * s->Ho + oy) * s->Wo + ox) * K;
                for (int ky = 0; ky < k; ky++) {
                    int y = oy * s->stride - s->pad + ky;
                    if (y < 0 || y >= s->H) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int x = ox * s->stride - s->pad + kx;
                        if (x < 0 || x >= s->W) continue;
                        float *dst = d + ((size_t)y * s->W + x) * s->C;
                        const float *src = row + ky * k + kx;
                        for (int c = 0; c < s->C; c++) dst[c] += src[(size_t)c * k * k];
                    }
                }
            }
    }
}

void conv2d_forward(float *out, float *cols, const float *inp, const float *w, const conv_shape *s) {
    int K = s->C * s->k * s->k, N = s->B * s->Ho * s->Wo;
    const float *x = inp;
    if (!direct(s)) {
        im2col(cols, inp, s);
        x = cols;
    }
    linear_forward(out, x, w, NULL, N, K, s->O, NULL);
}

void conv2d_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, float *cols,
                     float *dcols, const conv_shape *s) {
    int K = s->C * s->k * s->k, N = s->B * s->Ho * s->Wo;
    if (direct(s)) {
        linear_backward(dinp, dw, NULL, dout, inp, w, N, K, s->O);
        return;
    }
    im2col(cols, inp, s);
    linear_backward(dinp ? dcols : NULL, dw, NULL, dout, cols, w, N, K, s->O);
    if (dinp) col2im(dinp, dcols, s);
}
