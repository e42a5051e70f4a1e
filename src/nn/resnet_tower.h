/*
 * resnet_tower.h — OpenAI's ModifiedResNet image tower (resnet_tower.c):
 * the 3-convolution stem (3x3 stride 2 to width/2, 3x3 to width/2, 3x3 to
 * width, each BatchNorm + ReLU, then 2x2 average pooling), four stages of
 * Bottleneck blocks (planes width * 2^i, the first block of stages 2-4 with
 * stride 2), and the AttentionPool2d head, whose output is the image
 * embedding.  BatchNorm is eval-mode throughout (running statistics are
 * constants; see nn/batchnorm.h), in training too.
 *
 * Pixels come in NCHW as everywhere in clipc; inside the tower activations
 * are NHWC rows (nn/conv2d.h).  Training and inference use the same code;
 * inference (training = 0) shares buffers between blocks and needs no
 * gradient scratch.  No inference backend: the tower runs on OpenBLAS f32
 * (gemm_f32) in encoding as in training; --precision bf16 does not speed it
 * up (the text tower still uses the backend).
 */
#ifndef CLIPC_NN_RESNET_TOWER_H
#define CLIPC_NN_RESNET_TOWER_H

#include <stddef.h>

#include "clipc.h"
#include "nn/attnpool.h"
#include "nn/bottleneck.h"
#include "nn/conv2d.h"
#include "nn/params.h"

typedef struct {
    int B, R, w, D, E, NH, S, nblocks, training;
    float *mem;
    float *x;              /* (B*R*R, 3) the pixels as NHWC */
    conv_shape s1, s2, s3; /* stem convolutions */
    float *a1, *y1, *a2, *y2, *a3, *y3; /* stem conv outputs and relu(bn(.)) (y == a in inference) */
    float *stem;           /* (B*(R/4)^2, w) after the stem's avgpool */
    bottleneck_acts *blocks;
    int stage_last[4];     /* index of the last block of each stage */
    attnpool_acts ap;
    bottleneck_scratch sc;
    float *g1, *g2;        /* training: the residual stream's gradient, ping-pong */
} resnet_acts;

/* Floats resnet_acts_alloc allocates for batch B. */
size_t resnet_acts_floats(const clipc_config *cfg, int B, int training);
clipc_status resnet_acts_alloc(resnet_acts *a, const clipc_config *cfg, int B, int training);
void resnet_acts_free(resnet_acts *a);
/* The output of stage i (0..3), (B*H*W, C) NHWC. */
const float *resnet_stage_out(const resnet_acts *a, int i);

/* feat (B, E) from pixels (B, 3, R, R); B may be less than the capacity. */
void resnet_forward(resnet_acts *a, float *feat, const float *pixels, const resnet_weights *w, int B);
/* Gradients of the tower's parameters accumulate into *g (the BatchNorm
 * running statistics get none); no pixel gradient. */
void resnet_backward(resnet_acts *a, const resnet_weights *g, const float *dfeat, const resnet_weights *w, int B);

#endif
