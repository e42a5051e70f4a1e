/*
 * optim.c — Adam / AdamW.  Elementwise and therefore exact under any thread
 * split; bias correction as in PyTorch (lr / (1 - beta1^t), sqrt(1 - beta2^t)
 * in the denominator).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/optim.h"
#include "clipc.h"
#include "base/error.h"
#include "nn/params.h"

clipc_status optim_init(optimizer *o, optim_kind kind, size_t n) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    for (int g = 0; g < 4; g++) o->group_lr[g] = 1.0f;
    o->n = n;
    o->m = mem_calloc(n, sizeof(float), "optimizer state");
    o->v = mem_calloc(n, sizeof(float), "optimizer state");
    if (!o->m || !o->v) {
        optim_free(o);
        return CLIPC_ERR_NOMEM;
    }
    return CLIPC_OK;
}

void optim_free(optimizer *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void optim_step(optimizer *o, const param_table *t, float *params, const float *grads, float lr) {
    o->step++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (int k = 0; k < t->n; k++) {
        const param_info *p = &t->p[k];
        float plr = lr * o->group_lr[p->group];
        float wd = (o->decay_all || p->decay) ? o->weight_decay : 0.0f;
        float step_size = (float)(plr / bc1), sbc2 = (float)sqrt(bc2);
        float *x = params + p->offset, *m = o->m + p->offset, *v = o->v + p->offset;
        const float *g = grads + p->offset;
        int adamw = o->kind == OPT_ADAMW;
#pragma omp parallel for schedule(static) if (p->numel > 65536)
        for (size_t i = 0; i < p->numel; i++) {
            float gi = g[i];
            if (adamw) x[i] -= plr * wd * x[i];
            else gi += wd * x[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            x[i] -= step_size * m[i] / (sqrtf(v[i]) / sbc2 + eps);
        }
    }
}
