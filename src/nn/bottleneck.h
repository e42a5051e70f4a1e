/*
 * bottleneck.h — OpenAI's ModifiedResNet Bottleneck block (bottleneck.c):
 *   conv1 1x1 -> bn1 -> relu -> conv2 3x3 pad 1 -> bn2 -> relu
 *   -> avgpool(stride) -> conv3 1x1 (4 planes) -> bn3,
 *   shortcut = avgpool(stride) -> 1x1 conv -> bn   (the `downsample`, when
 *   stride > 1 or the channels change), else the input itself;
 *   out = relu(bn3 + shortcut).
 * The stride is taken by the average pool ("anti-aliased" strided
 * convolutions), never by a convolution.  Activations are NHWC rows.
 */
#ifndef CLIPC_NN_BOTTLENECK_H
#define CLIPC_NN_BOTTLENECK_H

#include <stddef.h>

#include "nn/conv2d.h"
#include "nn/params.h"

typedef struct {
    int B, H, W, Cin, P, stride, Ho, Wo, training;
    conv_shape c1, c2, c3, cd;
    float *a1, *y1;    /* (B*H*W, P) conv1 output, relu(bn1(a1)) (== a1 in inference) */
    float *a2, *y2;    /* (B*H*W, P) conv2 output, relu(bn2(a2)) */
    float *p2;         /* (B*Ho*Wo, P) avgpool(y2); == y2 when stride 1 */
    float *a3;         /* (B*Ho*Wo, 4P) conv3 output */
    float *px;         /* (B*Ho*Wo, Cin) avgpool(x) on the shortcut; == x when stride 1 */
    float *ad;         /* (B*Ho*Wo, 4P) downsample conv output; NULL without downsample */
    float *out;        /* (B*Ho*Wo, 4P) relu(bn3(a3) + shortcut) */
} bottleneck_acts;

/* The block's scratch, shared by every block of a tower: each buffer holds
 * the largest (rows x channels) any block needs; cols/dcols the largest
 * im2col. */
typedef struct {
    float *cols, *dcols;
    float *t1, *t2, *t3;
} bottleneck_scratch;

/* Sets the shapes; returns the floats of activations the block needs. */
size_t bottleneck_plan(bottleneck_acts *a, int B, int H, int W, int Cin, int P, int stride, int ds, int training);
/* Carves the views out of m (bottleneck_plan floats); returns the end. */
float *bottleneck_bind(bottleneck_acts *a, float *m, int ds);
/* The largest tensor (floats) the block touches, for sizing the scratch. */
size_t bottleneck_max_floats(const bottleneck_acts *a);

/* out (a->out) from x (B*H*W, Cin); x must stay intact until backward. */
void bottleneck_forward(bottleneck_acts *a, const float *x, const bottleneck_weights *w,
                        const bottleneck_scratch *s);
/* dx (B*H*W, Cin) overwritten; dout (B*Ho*Wo, 4P) is clobbered; weight
 * gradients accumulate into *g. */
void bottleneck_backward(float *dx, float *dout, const bottleneck_weights *g, const bottleneck_acts *a,
                         const float *x, const bottleneck_weights *w, const bottleneck_scratch *s);

#endif
