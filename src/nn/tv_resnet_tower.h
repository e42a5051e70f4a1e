/*
 * tv_resnet_tower.h — torchvision's/timm's ResNet image tower, the
 * tutorial's ResNet-50 (tv_resnet_tower.c): the stem (7x7 stride-2 conv,
 * BatchNorm, ReLU, 3x3 stride-2 max pool), four stages of v1.5 Bottleneck
 * blocks (nn/tv_bottleneck.h; planes width * 2^i, the first block of stages
 * 2-4 with stride 2 on its 3x3 conv), then the global average pool: the
 * pooled (B, 32 * width) features (2048 for ResNet-50) are the tower's
 * output, as timm's resnet50(num_classes=0, global_pool='avg') gives them;
 * no fc.
 *
 * BatchNorm follows a->bn_train: 1 (the default when the activations are
 * allocated for training) is PyTorch's model.train(): batch statistics, the
 * running statistics in the weights UPDATED by each forward (momentum 0.1,
 * unbiased variance), backward through the batch statistics; 0 is
 * model.eval(): the running statistics.  Pixels come in NCHW; inside the
 * tower activations are NHWC rows (nn/conv2d.h).  Activations are one
 * allocation sized for a batch capacity; inference (training = 0) binds the
 * blocks alternately into two regions and keeps no gradient scratch.  The
 * tower runs on OpenBLAS f32 (gemm_f32), as the ModifiedResNet.
 */
#ifndef CLIPC_NN_TV_RESNET_TOWER_H
#define CLIPC_NN_TV_RESNET_TOWER_H

#include <stddef.h>

#include "clipc.h"
#include "nn/bottleneck.h"
#include "nn/conv2d.h"
#include "nn/params.h"
#include "nn/tv_bottleneck.h"

typedef struct {
    int B, cap, R, w, D, S, nblocks, training;
    int stage_n[4];        /* blocks per stage */
    int bn_train;          /* 1: train-mode BatchNorm (see above); set freely between forwards */
    bn_sync *sync;         /* data-parallel training: every BatchNorm's train-mode statistics are the
                            * global batch's (nn/batchnorm.h); NULL (the default): this batch's */
    float *mem;
    float *x;              /* (B*R*R, 3) the pixels as NHWC */
    conv_shape s1;         /* the stem convolution, 7x7 stride 2 pad 3 */
    float *a1, *y1;        /* (B*(R/2)^2, w) its output and relu(bn1(a1)) (y1 == a1 in inference) */
    bn_stats st1;          /* bn1's batch statistics */
    int h, q;              /* sides after the stem conv (R/2) and the max pool (R/4) */
    float *mp;             /* (B*q*q, w) after the max pool */
    tv_bottleneck_acts *blocks;
    bottleneck_scratch sc;
    float *g1, *g2;        /* training: the residual stream's gradient, ping-pong */
} tv_resnet_acts;

/* Floats tv_resnet_acts_alloc allocates for batch capacity B. */
size_t tv_resnet_acts_floats(const clipc_config *cfg, int B, int training);
clipc_status tv_resnet_acts_alloc(tv_resnet_acts *a, const clipc_config *cfg, int B, int training);
void tv_resnet_acts_free(tv_resnet_acts *a);
/* The pooled feature width: 32 * vision_width (2048 for ResNet-50). */
int tv_resnet_feat_dim(const clipc_config *cfg);

/* pooled (B, feat_dim) from pixels (B, 3, R, R) NCHW; B <= the capacity.
 * With a->bn_train the running statistics in *w are updated (the pointers
 * in w are written through). */
void tv_resnet_forward(tv_resnet_acts *a, float *pooled, const float *pixels, const tv_resnet_weights *w, int B);
/* Gradients of the tower's parameters accumulate into *g (the running
 * statistics get none); no pixel gradient.  B is the last forward's batch;
 * activations must have been allocated with training = 1. */
void tv_resnet_backward(tv_resnet_acts *a, const tv_resnet_weights *g, const float *dpooled,
                        const tv_resnet_weights *w, int B);

/* Data parallel, a process with no rows in this batch: the collectives of
 * a train-mode forward (g NULL) or backward (gradients into *g: zero
 * contributions) with a->sync, in the order tv_resnet_forward/backward
 * make them, so the other processes' BatchNorms get their sums; the
 * running statistics in *w move as everywhere else. */
void tv_resnet_sync_idle(tv_resnet_acts *a, const tv_resnet_weights *w, const tv_resnet_weights *g);

#endif
