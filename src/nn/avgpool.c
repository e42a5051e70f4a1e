/*
 * avgpool.c — k x k average pooling with stride k (avgpool.h).  The window
 * is summed in row-major order and divided by k*k, as PyTorch's CPU kernel
 * (count_include_pad is moot without padding).
 */
#include <string.h>

#include "nn/avgpool.h"
#include "base/parallel.h"

void avgpool_forward(float *out, const float *inp, int B, int H, int W, int C, int k) {
    int Ho = H / k, Wo = W / k;
    float div = (float)(k * k);
#pragma omp parallel for schedule(static) if ((size_t)B * H * W * C > PAR_MIN)
    for (int r = 0; r < B * Ho; r++) {
        int b = r / Ho, oy = r % Ho;
        for (int ox = 0; ox < Wo; ox++) {
            float *y = out + ((size_t)r * Wo + ox) * C;
            for (int c = 0; c < C; c++) y[c] = 0.0f;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *x = inp + (((size_t)b * H + oy * k + ky) * W + ox * k + kx) * C;
                    for (int c = 0; c < C; c++) y[c] += x[c];
                }
            for (int c = 0; c < C; c++) y[c] /= div;
        }
    }
}

void avgpool_backward(float *dinp, const float *dout, int B, int H, int W, int C, int k) {
    int Ho = H / k, Wo = W / k;
    float inv = 1.0f / (float)(k * k);
    if (Ho * k != H || Wo * k != W) memset(dinp, 0, (size_t)B * H * W * C * sizeof(float));
#pragma omp parallel for schedule(static) if ((size_t)B * H * W * C > PAR_MIN)
    for (int r = 0; r < B * Ho; r++) {
        int b = r / Ho, oy = r % Ho;
        for (int ox = 0; ox < Wo; ox++) {
            const float *g = dout + ((size_t)r * Wo + ox) * C;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    float *d = dinp + (((size_t)b * H + oy * k + ky) * W + ox * k + kx) * C;
                    for (int c = 0; c < C; c++) d[c] = g[c] * inv;
                }
        }
    }
}
