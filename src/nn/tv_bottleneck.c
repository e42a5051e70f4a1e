/*
 * tv_bottleneck.c — torchvision's Bottleneck forward and backward
 * (tv_bottleneck.h), built from conv2d, batchnorm (train or eval), relu.
 *
 * Memory: training keeps each convolution's output (BatchNorm's backward
 * needs its input) and each ReLU's output (its mask and the next
 * convolution's input); inference runs BatchNorm + ReLU in place.  The
 * batch statistics (a few floats per channel) are kept in both, so a tower
 * built for inference can still run train-mode BatchNorm.  Backward
 * gradients flow through the tower's three scratch buffers (t1..t3), the
 * im2col columns through cols/dcols.
 */
#include <string.h>

#include "nn/tv_bottleneck.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/relu.h"

void tv_bn_forward(float *out, const float *inp, const bn_weights *bn, const bn_stats *st, size_t N, int C,
                   int train, bn_sync *sync) {
    if (train) batchnorm_train_forward(out, st->mean, st->rstd, inp, bn->w, bn->b, bn->mean, bn->var, N, C, sync);
    else batchnorm_forward(out, inp, bn->w, bn->b, bn->mean, bn->var, N, C);
}

void tv_bn_backward(float *dinp, const bn_weights *g, const float *dout, const float *inp, const bn_weights *bn,
                    const bn_stats *st, size_t N, int C, int train, bn_sync *sync) {
    if (train) batchnorm_train_backward(dinp, g->w, g->b, dout, inp, bn->w, st->mean, st->rstd, N, C, sync);
    else batchnorm_backward(dinp, g->w, g->b, dout, inp, bn->w, bn->mean, bn->var, N, C);
}

size_t tv_bottleneck_plan(tv_bottleneck_acts *a, int B, int H, int W, int Cin, int P, int stride, int ds,
                          int training) {
    memset(a, 0, sizeof *a);
    a->B = B, a->H = H, a->W = W, a->Cin = Cin, a->P = P, a->stride = stride, a->training = training;
    a->ds = ds, a->bn_train = training;
    conv_shape_set(&a->c1, B, H, W, Cin, P, 1, 1, 0);
    conv_shape_set(&a->c2, B, H, W, P, P, 3, stride, 1);
    a->Ho = a->c2.Ho, a->Wo = a->c2.Wo;
    conv_shape_set(&a->c3, B, a->Ho, a->Wo, P, 4 * P, 1, 1, 0);
    conv_shape_set(&a->cd, B, H, W, Cin, 4 * P, 1, stride, 0);
    size_t in = (size_t)B * H * W, o = (size_t)B * a->Ho * a->Wo, n = 0;
    n += (training ? 2 : 1) * in * P;              /* a1, y1 */
    n += (training ? 2 : 1) * o * P;               /* a2, y2 */
    n += 2 * o * 4 * (size_t)P;                    /* a3, out */
    if (ds) n += o * 4 * (size_t)P;                /* ad */
    n += 2 * (size_t)(P + P + 4 * P + 4 * P);      /* statistics */
    return n;
}

float *tv_bottleneck_bind(tv_bottleneck_acts *a, float *m) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo, P = (size_t)a->P;
    int tr = a->training;
    a->a1 = m, m += in * P;
    a->y1 = tr ? m : a->a1, m += tr ? in * P : 0;
    a->a2 = m, m += o * P;
    a->y2 = tr ? m : a->a2, m += tr ? o * P : 0;
    a->a3 = m, m += o * 4 * P;
    a->ad = a->ds ? m : NULL, m += a->ds ? o * 4 * P : 0;
    a->out = m, m += o * 4 * P;
    bn_stats *st[4] = {&a->s1, &a->s2, &a->s3, &a->sd};
    size_t ch[4] = {P, P, 4 * P, 4 * P};
    for (int i = 0; i < 4; i++) {
        st[i]->mean = m, m += ch[i];
        st[i]->rstd = m, m += ch[i];
    }
    return m;
}

size_t tv_bottleneck_max_floats(const tv_bottleneck_acts *a) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    size_t m = in * (size_t)(a->Cin > a->P ? a->Cin : a->P);
    if (o * 4 * a->P > m) m = o * 4 * a->P;
    return m;
}

size_t tv_bottleneck_cols_floats(const tv_bottleneck_acts *a) {
    size_t c2 = conv2d_cols_floats(&a->c2), cd = a->ds ? conv2d_cols_floats(&a->cd) : 0;
    return c2 > cd ? c2 : cd;
}

void tv_bottleneck_forward(tv_bottleneck_acts *a, const float *x, const bottleneck_weights *w,
                           const bottleneck_scratch *s) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    int P = a->P, t = a->bn_train;
    conv2d_forward(a->a1, NULL, x, w->conv1, &a->c1);
    tv_bn_forward(a->y1, a->a1, &w->bn1, &a->s1, in, P, t, a->sync);
    relu_forward(a->y1, a->y1, in * P);
    conv2d_forward(a->a2, s->cols, a->y1, w->conv2, &a->c2);
    tv_bn_forward(a->y2, a->a2, &w->bn2, &a->s2, o, P, t, a->sync);
    relu_forward(a->y2, a->y2, o * P);
    conv2d_forward(a->a3, NULL, a->y2, w->conv3, &a->c3);
    tv_bn_forward(a->out, a->a3, &w->bn3, &a->s3, o, 4 * P, t, a->sync);
    const float *sc = x;
    if (a->ds) {
        conv2d_forward(a->ad, s->cols, x, w->ds_conv, &a->cd);
        /* the shortcut's BatchNorm output goes to scratch: backward needs only ad */
        tv_bn_forward(s->t1, a->ad, &w->ds_bn, &a->sd, o, 4 * P, t, a->sync);
        sc = s->t1;
    }
    for (size_t i = 0; i < o * 4 * P; i++) a->out[i] += sc[i];
    relu_forward(a->out, a->out, o * 4 * P);
}

void tv_bottleneck_backward(float *dx, float *dout, const bottleneck_weights *g, const tv_bottleneck_acts *a,
                            const float *x, const bottleneck_weights *w, const bottleneck_scratch *s) {
    size_t in = (size_t)a->B * a->H * a->W, o = (size_t)a->B * a->Ho * a->Wo;
    int P = a->P, t = a->bn_train;
    relu_backward(dout, dout, a->out, o * 4 * P);
    /* The shortcut: dx starts as its gradient. */
    if (a->ds) {
        tv_bn_backward(s->t1, &g->ds_bn, dout, a->ad, &w->ds_bn, &a->sd, o, 4 * P, t, a->sync);
        conv2d_backward(dx, g->ds_conv, s->t1, x, w->ds_conv, s->cols, s->dcols, &a->cd);
    } else {
        memcpy(dx, dout, in * a->Cin * sizeof(float));
    }
    /* The main path. */
    tv_bn_backward(s->t1, &g->bn3, dout, a->a3, &w->bn3, &a->s3, o, 4 * P, t, a->sync);
    conv2d_backward(s->t2, g->conv3, s->t1, a->y2, w->conv3, NULL, NULL, &a->c3);
    relu_backward(s->t2, s->t2, a->y2, o * P);
    tv_bn_backward(s->t1, &g->bn2, s->t2, a->a2, &w->bn2, &a->s2, o, P, t, a->sync);
    conv2d_backward(s->t2, g->conv2, s->t1, a->y1, w->conv2, s->cols, s->dcols, &a->c2);
    relu_backward(s->t2, s->t2, a->y1, in * P);
    tv_bn_backward(s->t1, &g->bn1, s->t2, a->a1, &w->bn1, &a->s1, in, P, t, a->sync);
    conv2d_backward(s->t2, g->conv1, s->t1, x, w->conv1, NULL, NULL, &a->c1);
    for (size_t i = 0; i < in * a->Cin; i++) dx[i] += s->t2[i];
}
