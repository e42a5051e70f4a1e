/*
 * tv_bottleneck.h — torchvision's Bottleneck block, ResNet v1.5 as in
 * torchvision and timm (tv_bottleneck.c):
 *   conv1 1x1 -> bn1 -> relu -> conv2 3x3 STRIDE s pad 1 -> bn2 -> relu
 *   -> conv3 1x1 (4 planes) -> bn3,
 *   shortcut = conv 1x1 stride s -> bn (the `downsample`, when s > 1 or the
 *   channels change), else the input itself;  out = relu(bn3 + shortcut).
 * Unlike OpenAI's block (nn/bottleneck.h) the stride is taken by the
 * convolutions, and BatchNorm runs in train mode (batch statistics, running
 * statistics updated) when a->bn_train, else in eval mode.  Activations are
 * NHWC rows; the weights are the ModifiedResNet's bottleneck_weights.
 */
#ifndef CLIPC_NN_TV_BOTTLENECK_H
#define CLIPC_NN_TV_BOTTLENECK_H

#include <stddef.h>

#include "nn/batchnorm.h"
#include "nn/bottleneck.h"
#include "nn/conv2d.h"
#include "nn/params.h"

/* A train-mode BatchNorm's batch statistics, kept for backward. */
typedef struct { float *mean, *rstd; } bn_stats;

typedef struct {
    int B, H, W, Cin, P, stride, Ho, Wo, training, ds;
    int bn_train;      /* set by the tower before each forward */
    bn_sync *sync;     /* the tower's (data-parallel BatchNorm), set with bn_train */
    conv_shape c1, c2, c3, cd;
    float *a1, *y1;    /* (B*H*W, P) conv1 output, relu(bn1(a1)) (== a1 in inference) */
    float *a2, *y2;    /* (B*Ho*Wo, P) conv2 output, relu(bn2(a2)) */
    float *a3;         /* (B*Ho*Wo, 4P) conv3 output */
    float *ad;         /* (B*Ho*Wo, 4P) downsample conv output; NULL without downsample */
    float *out;        /* (B*Ho*Wo, 4P) relu(bn3(a3) + shortcut) */
    bn_stats s1, s2, s3, sd; /* batch statistics (P, P, 4P, 4P floats each) */
} tv_bottleneck_acts;

/* Sets the shapes; returns the floats of activations the block needs
 * (ds: whether it has a downsample). */
size_t tv_bottleneck_plan(tv_bottleneck_acts *a, int B, int H, int W, int Cin, int P, int stride, int ds,
                          int training);
/* Carves the views out of m (tv_bottleneck_plan floats); returns the end. */
float *tv_bottleneck_bind(tv_bottleneck_acts *a, float *m);
/* The largest tensor (floats) the block touches, and its largest im2col. */
size_t tv_bottleneck_max_floats(const tv_bottleneck_acts *a);
size_t tv_bottleneck_cols_floats(const tv_bottleneck_acts *a);

/* a->out from x (B*H*W, Cin); x must stay intact until backward.  In
 * train-mode BatchNorm the running statistics in *w are updated. */
void tv_bottleneck_forward(tv_bottleneck_acts *a, const float *x, const bottleneck_weights *w,
                           const bottleneck_scratch *s);
/* dx (B*H*W, Cin) overwritten; dout (B*Ho*Wo, 4P) is clobbered; weight
 * gradients accumulate into *g.  BatchNorm backward in the mode of the
 * last forward. */
void tv_bottleneck_backward(float *dx, float *dout, const bottleneck_weights *g, const tv_bottleneck_acts *a,
                            const float *x, const bottleneck_weights *w, const bottleneck_scratch *s);

/* One BatchNorm of the tower: train mode (statistics into *st, running
 * statistics of *bn updated) or eval mode; out may equal inp. */
void tv_bn_forward(float *out, const float *inp, const bn_weights *bn, const bn_stats *st, size_t N, int C,
                   int train, bn_sync *sync);
/* Its backward: dinp overwritten (may equal dout; NULL to skip). */
void tv_bn_backward(float *dinp, const bn_weights *g, const float *dout, const float *inp, const bn_weights *bn,
                    const bn_stats *st, size_t N, int C, int train, bn_sync *sync);

#endif
