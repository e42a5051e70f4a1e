/*
 * bottleneck.c — the ModifiedResNet Bottleneck forward and backward
 * (bottleneck.h), built from conv2d, batchnorm (eval), relu and avgpool.
 *
 * Memory: training keeps each convolution's output (BatchNorm's backward
 * needs its input) and each ReLU's output (its backward mask and the next
 * convolution's input); inference runs BatchNorm + ReLU in place, so a1/y1
 * and a2/y2 share a buffer.  Backward gradients flow through three shared
 * scratch buffers (t1..t3), the im2col columns through cols/dcols.
 */
#include <string.h>

#include "nn/bottleneck.h"
#include "nn/avgpool.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/params.h"
#include "nn/relu.h"

size_t bottleneck_plan(bottleneck_acts *a, int B, int H, int W, int Cin, int P, int stride, int ds, int training) {
    memset(a, 0, sizeof *a);
    a->B = B, a->H = H, a->W = W, a->Cin = Cin, a->P = P, a->stride = stride, a->training = training;
    a->Ho = H / stride, a->Wo = W / stride;
    conv_shape_set(&a->c1, B, H, W, Cin, P, 1, 1, 0);
    conv_shape_set(&a->c2, B, H, W, P, P, 3, 1, 1);
    conv_shape_set(&a->c3, B, a->Ho, a->Wo, P, 4 * P, 1, 1, 0);
    conv_shape_set(&a->cd, B, a->Ho, a->Wo, Cin, 4 * P, 1, 1, 0);
    size_t in = (size_t)B * H * W, o = (size_t)B * a->Ho * a->Wo;
    size_t n = (training ? 4 : 2) * in * P + 2 * o * 4 * (size_t)P;
    if (stride > 1) n += o * P + o * Cin;
    if (ds) n += o * 4 * (size_t)P;
    return n;
}

float *bottleneck_bind(bottleneck_acts *a, float *m, int ds) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo, P = (size_t)a->P;
    a->a1 = m, m += in * P;
    a->y1 = a->training ? m : a->a1, m += a->training ? in * P : 0;
    a->a2 = m, m += in * P;
    a->y2 = a->training ? m : a->a2, m += a->training ? in * P : 0;
    a->p2 = a->stride > 1 ? m : a->y2, m += a->stride > 1 ? o * P : 0;
    a->px = a->stride > 1 ? m : NULL, m += a->stride > 1 ? o * a->Cin : 0;
    a->a3 = m, m += o * 4 * P;
    a->ad = ds ? m : NULL, m += ds ? o * 4 * P : 0;
    a->out = m, m += o * 4 * P;
    return m;
}

size_t bottleneck_max_floats(const bottleneck_acts *a) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    size_t m = in * (a->Cin > a->P ? a->Cin : a->P);
    if (o * 4 * a->P > m) m = o * 4 * a->P;
    return m;
}

void bottleneck_forward(bottleneck_acts *a, const float *x, const bottleneck_weights *w,
                        const bottleneck_scratch *s) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    int P = a->P, k = a->stride;
    conv2d_forward(a->a1, NULL, x, w->conv1, &a->c1);
    batchnorm_forward(a->y1, a->a1, w->bn1.w, w->bn1.b, w->bn1.mean, w->bn1.var, in, P);
    relu_forward(a->y1, a->y1, in * P);
    conv2d_forward(a->a2, s->cols, a->y1, w->conv2, &a->c2);
    batchnorm_forward(a->y2, a->a2, w->bn2.w, w->bn2.b, w->bn2.mean, w->bn2.var, in, P);
    relu_forward(a->y2, a->y2, in * P);
    if (k > 1) avgpool_forward(a->p2, a->y2, a->B, a->H, a->W, P, k);
    conv2d_forward(a->a3, NULL, a->p2, w->conv3, &a->c3);
    batchnorm_forward(a->out, a->a3, w->bn3.w, w->bn3.b, w->bn3.mean, w->bn3.var, o, 4 * P);
    const float *sc = x;
    if (w->ds_conv) {
        const float *px = x;
        if (k > 1) {
            avgpool_forward(a->px, x, a->B, a->H, a->W, a->Cin, k);
            px = a->px;
        }
        conv2d_forward(a->ad, NULL, px, w->ds_conv, &a->cd);
        /* the shortcut's BatchNorm output goes to scratch: backward needs only ad */
        batchnorm_forward(s->t1, a->ad, w->ds_bn.w, w->ds_bn.b, w->ds_bn.mean, w->ds_bn.var, o, 4 * P);
        sc = s->t1;
    }
    for (size_t i = 0; i < o * 4 * P; i++) a->out[i] += sc[i];
    relu_forward(a->out, a->out, o * 4 * P);
}

void bottleneck_backward(float *dx, float *dout, const bottleneck_weights *g, const bottleneck_acts *a,
                         const float *x, const bottleneck_weights *w, const bottleneck_scratch *s) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    int P = a->P, k = a->stride, B = a->B;
    relu_backward(dout, dout, a->out, o * 4 * P);
    /* The shortcut: dx starts as its gradient. */
    if (w->ds_conv) {
        batchnorm_backward(s->t1, g->ds_bn.w, g->ds_bn.b, dout, a->ad, w->ds_bn.w, w->ds_bn.mean, w->ds_bn.var, o,
                           4 * P);
        if (k > 1) {
            conv2d_backward(s->t2, g->ds_conv, s->t1, a->px, w->ds_conv, NULL, NULL, &a->cd);
            avgpool_backward(dx, s->t2, B, a->H, a->W, a->Cin, k);
        } else {
            conv2d_backward(dx, g->ds_conv, s->t1, x, w->ds_conv, NULL, NULL, &a->cd);
        }
    } else {
        memcpy(dx, dout, in * a->Cin * sizeof(float));
    }
    /* The main path. */
    batchnorm_backward(s->t1, g->bn3.w, g->bn3.b, dout, a->a3, w->bn3.w, w->bn3.mean, w->bn3.var, o, 4 * P);
    conv2d_backward(s->t2, g->conv3, s->t1, a->p2, w->conv3, NULL, NULL, &a->c3);
    float *dy2 = s->t2;
    if (k > 1) {
        avgpool_backward(s->t3, s->t2, B, a->H, a->W, P, k);
        dy2 = s->t3;
    }
    relu_backward(dy2, dy2, a->y2, in * P);
    batchnorm_backward(s->t1, g->bn2.w, g->bn2.b, dy2, a->a2, w->bn2.w, w->bn2.mean, w->bn2.var, in, P);
    conv2d_backward(s->t2, g->conv2, s->t1, a->y1, w->conv2, s->cols, s->dcols, &a->c2);
    relu_backward(s->t2, s->t2, a->y1, in * P);
    batchnorm_backward(s->t1, g->bn1.w, g->bn1.b, s->t2, a->a1, w->bn1.w, w->bn1.mean, w->bn1.var, in, P);
    conv2d_backward(s->t2, g->conv1, s->t1, x, w->conv1, NULL, NULL, &a->c1);
    for (size_t i = 0; i < in * a->Cin; i++) dx[i] += s->t2[i];
}
