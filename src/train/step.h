/*
 * step.h — the training step (step.c, internal): one flat gradient buffer
 * laid out like the parameters, forward/backward over micro-batches, then
 * gradient scaling, clipping by global norm, the optimizer per parameter
 * group, and the logit-scale clamp.  clipc_train_run (run.c) drives it over
 * loader batches; tests drive it directly on reference batches.
 */
#ifndef CLIPC_TRAIN_STEP_H
#define CLIPC_TRAIN_STEP_H

#include "clipc.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/params.h"
#include "train/optim.h"

typedef struct {
    optim_kind kind;
    double beta1, beta2, eps;
    double group_lr[4];     /* multiplier of the scheduled lr per param_group */
    double group_wd[4];     /* weight decay per param_group */
    int decay_all;          /* 1 = decay every tensor, 0 = the table's decay flag */
    double grad_clip;       /* max global L2 norm, 0 = off */
    int clamp_logit_scale;  /* clamp to [0, ln 100] after each step */
    int freeze_image, freeze_text, freeze_layers;
    float dropout;
    uint64_t seed;          /* dropout masks derive from (seed, step) */
} trainer_hparams;

typedef struct {
    clipc_model *m;          /* borrowed, writable */
    trainer_hparams h;
    int B;
    float *grads;            /* m->tab.total floats */
    clip_weights gw;         /* views into grads */
    clip_workspace ws;
    optimizer opt;
    param_table sub[4];      /* trainable tensors of each group (borrowed entries copied) */
    unsigned char *trainable;/* [tab.n] */
    int micro;               /* micro-batches accumulated since the last step */
    double last_grad_norm;
    /* Data parallel (dist_size() > 1, see trainer_micro_global): B above is
     * the global batch, ws holds this rank's slice (at most ceil(B/ranks)
     * pairs); the loss runs over the features of the whole batch. */
    int ranks, rank;
    int *counts;             /* [ranks] pairs of each rank in the current micro-batch */
    float *gmem;             /* the global batch's features, their gradients, loss cache */
    float *g_img, *g_txt, *g_dimg, *g_dtxt;
    clip_loss_cache glc;
    soft_loss_cache gsl;     /* the notebook's soft-target loss over the global batch */
    bn_sync bnsync;          /* the tutorial's ResNet: BatchNorm statistics over every rank */
    /* --overlap-allreduce: the last micro-batch of a step (last_micro, set
     * by the caller before trainer_micro_global) starts the gradient
     * allreduce during its backward (dist.c, "Overlap"); the gradients
     * below text_hi (every tensor sorted before the first "visual." one)
     * are final once the text tower's backward is done. */
    int overlap, last_micro;
    size_t text_hi;
    clipc_status ov_status; /* an MPI error inside the backward's hooks */
} trainer;

clipc_status trainer_init(trainer *t, clipc_model *m, int B, const trainer_hparams *h);
void trainer_free(trainer *t);
/* Forward + backward of one micro-batch (n <= B); gradients accumulate.
 * `step` (the optimizer step this micro-batch belongs to) seeds dropout. */
float trainer_micro(trainer *t, const float *pixels, const int32_t *ids, int n, long step);
/* Forward + backward of this rank's slice (n_local pairs) of one global
 * micro-batch, with the contrastive loss over the features of every rank
 * (one process: trainer_micro).  Every rank must call it for every batch.
 * *n_global: pairs in the global micro-batch; below 2 nothing is done and
 * *loss is nan.  *loss is the global batch's loss, the same on every rank.
 * trainer_apply then sums the gradients over the ranks. */
clipc_status trainer_micro_global(trainer *t, const float *pixels, const int32_t *ids, int n_local, long step,
                                  int *n_global, float *loss);
/* Loss of a batch without gradients or dropout. */
float trainer_eval_loss(trainer *t, const float *pixels, const int32_t *ids, int n);
/* Averages the accumulated gradients over the micro-batches, clips, takes
 * one optimizer step at learning rate lr, clamps, zeroes the gradients.
 * Returns 1, or 0 when the gradient's norm is nan/inf: then nothing is
 * updated (weights, moments, step count) and the gradients are dropped. */
int trainer_apply(trainer *t, double lr);
/* trainer_apply for data-parallel runs: first the sum of the gradients over
 * the ranks (an error only when MPI fails), then trainer_apply; *applied is
 * its result. */
clipc_status trainer_apply_global(trainer *t, double lr, int *applied);
/* Drops the accumulated gradients without an update (a non-finite loss).
 * A data-parallel caller calls trainer_sync first. */
void trainer_skip(trainer *t);
/* Completes an allreduce started during the backward (--overlap-allreduce),
 * if any: trainer_apply_global does it; a step that is skipped instead must
 * call this first, on every rank. */
clipc_status trainer_sync(trainer *t);
/* Number of trainable floats. */
size_t trainer_trainable(const trainer *t);

#endif
