/*
 * optim.h — optimisers over the flat parameter buffer: Adam with coupled L2
 * weight decay (torch.optim.Adam's weight_decay, what the seed model card
 * used) and AdamW with decoupled decay (torch.optim.AdamW), with per-group
 * learning-rate multipliers and a per-tensor decay mask.
 */
#ifndef CLIPC_OPTIM_H
#define CLIPC_OPTIM_H

#include "clipc.h"
#include "nn/params.h"

typedef enum { OPT_ADAMW = 0, OPT_ADAM = 1 } optim_kind;

typedef struct {
    optim_kind kind;
    float beta1, beta2, eps, weight_decay;
    float group_lr[4];   /* multiplier of the base lr per param_group */
    int decay_all;       /* 1 = decay every tensor (the seed's recipe), 0 = the table's mask */
    size_t n;
    float *m, *v;        /* first and second moments, n floats each */
    long step;           /* steps taken */
} optimizer;

clipc_status optim_init(optimizer *o, optim_kind kind, size_t n);
void optim_free(optimizer *o);
/* One update of params from grads at base learning rate lr. */
void optim_step(optimizer *o, const param_table *t, float *params, const float *grads, float lr);

#endif
