/*
 * maxpool.c — max pooling with padding (maxpool.h).
 *
 * Backward recomputes the argmax rather than storing it: forward's input
 * (the stem's ReLU output) is kept for training anyway, and an index per
 * output element would cost as much memory as the output itself.  One
 * thread per image in backward, windows in order, so the overlapping
 * windows add up in one fixed order.
 */
#include <math.h>
#include <string.h>

#include "nn/maxpool.h"
#include "base/parallel.h"

int maxpool_out(int n, int k, int stride, int pad) { return (n + 2 * pad - k) / stride + 1; }

/* The window of output (oy, ox): rows y0..y1-1, columns x0..x1-1, clipped. */
static void window(int o, int k, int stride, int pad, int n, int *lo, int *hi) {
    int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n ? n : b;
}

/* PyTorch's comparison: a larger value or a NaN replaces the current max. */
static int wins(float v, float best) { return v > best || isnan(v); }

void maxpool_forward(float *out, const float *inp, int B, int H, int W, int C, int k, int stride, int pad) {
    int Ho = maxpool_out(H, k, stride, pad), Wo = maxpool_out(W, k, stride, pad);
#pragma omp parallel for schedule(static) if ((size_t)B * H * W * C > PAR_MIN)
    for (int r = 0; r < B * Ho; r++) {
        int b = r / Ho, oy = r % Ho, y0, y1;
        window(oy, k, stride, pad, H, &y0, &y1);
        for (int ox = 0; ox < Wo; ox++) {
            int x0, x1;
            window(ox, k, stride, pad, W, &x0, &x1);
            float *o = out + ((size_t)r * Wo + ox) * C;
            for (int c = 0; c < C; c++) o[c] = -INFINITY;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    const float *v = inp + (((size_t)b * H + y) * W + x) * C;
                    for (int c = 0; c < C; c++)
                        if (wins(v[c], o[c])) o[c] = v[c];
                }
        }
    }
}

void maxpool_backward(float *dinp, const float *dout, const float *inp, int B, int H, int W, int C, int k,
                      int stride, int pad) {
    int Ho = maxpool_out(H, k, stride, pad), Wo = maxpool_out(W, k, stride, pad);
    size_t img = (size_t)H * W * C;
#pragma omp parallel for schedule(static) if ((size_t)B * H * W * C > PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *d = dinp + (size_t)b * img;
        const float *xi = inp + (size_t)b * img;
        memset(d, 0, img * sizeof(float));
        for (int oy = 0; oy < Ho; oy++) {
            int y0, y1;
            window(oy, k, stride, pad, H, &y0, &y1);
            for (int ox = 0; ox < Wo; ox++) {
                int x0, x1;
                window(ox, k, stride, pad, W, &x0, &x1);
                const float *g = dout + (((size_t)b * Ho + oy) * Wo + ox) * C;
                for (int c = 0; c < C; c++) {
                    float best = -INFINITY;
                    size_t at = ((size_t)y0 * W + x0) * C + c;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            size_t i = ((size_t)y * W + x) * C + c;
                            if (wins(xi[i], best)) best = xi[i], at = i;
                        }
                    d[at] += g[c];
                }
            }
        }
    }
}
