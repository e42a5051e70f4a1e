/*
 * schedule.c — learning-rate schedules (see schedule.h).  Computed in
 * double and handed to the optimizer as PyTorch would: the goldens' lr.<k>
 * values are Python floats.
 */
#include <math.h>
#include <string.h>

#include "train/schedule.h"

double sched_lr(const sched *s, long step, int epoch) {
    if (s->warmup > 0 && step < s->warmup && s->kind != SCHED_COSINE_EPOCH)
        return s->base_lr * (double)(step + 1) / (double)s->warmup;
    switch (s->kind) {
    case SCHED_COSINE: {
        long span = s->total_steps - s->warmup;
        if (span <= 0) return s->min_lr;
        double e = (double)(step - s->warmup) / (double)span;
        if (e > 1) e = 1;
        return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(M_PI * e));
    }
    case SCHED_COSINE_EPOCH: {
        /* CosineAnnealingLR's closed form, eta_min + (base - eta_min)(1 + cos(pi e / T)) / 2. */
        if (s->epochs <= 0) return s->base_lr;
        int e = epoch < s->epochs ? epoch : s->epochs;
        return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(M_PI * (double)e / (double)s->epochs));
    }
    case SCHED_CONSTANT:
    default:
        return s->base_lr;
    }
}

double sched_lr_frac(const sched *s, double f, double wf) {
    if (!(f > 0)) f = 0;
    if (f > 1) f = 1;
    if (wf > 0 && f < wf) return s->base_lr * f / wf;
    if (s->kind == SCHED_CONSTANT) return s->base_lr;
    double e = wf < 1 ? (f - wf) / (1 - wf) : 1;
    if (e < 0) e = 0;
    return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(M_PI * e));
}

int sched_parse(const char *name) {
    if (!strcmp(name, "cosine")) return SCHED_COSINE;
    if (!strcmp(name, "cosine-epoch")) return SCHED_COSINE_EPOCH;
    if (!strcmp(name, "constant")) return SCHED_CONSTANT;
    return -1;
}

const char *sched_name(sched_kind k) {
    return k == SCHED_COSINE ? "cosine" : k == SCHED_COSINE_EPOCH ? "cosine-epoch" : "constant";
}

void plateau_init(plateau *p, int enabled, int maximize, double factor, int patience) {
    memset(p, 0, sizeof *p);
    p->enabled = enabled;
    p->maximize = maximize;
    p->factor = factor;
    p->patience = patience;
    p->mult = 1.0;
}

int plateau_update(plateau *p, double metric) {
    if (!p->enabled || isnan(metric)) return 0;
    int better = !p->seen || (p->maximize ? metric > p->best * (1.0 + 1e-4) : metric < p->best * (1.0 - 1e-4));
    p->seen = 1;
    if (better) {
        p->best = metric;
        p->bad_epochs = 0;
        return 0;
    }
    if (++p->bad_epochs > p->patience) {
        p->mult *= p->factor;
        p->reductions++;
        p->bad_epochs = 0;
        return 1;
    }
    return 0;
}

void plateau_restore(plateau *p, int bad_epochs, int seen, double best, double mult) {
    p->bad_epochs = bad_epochs, p->seen = seen, p->best = best, p->mult = mult;
    /* mult = factor^k, so k comes back exactly by rounding (k below ~10^6) */
    p->reductions = 0;
    if (p->factor > 0 && p->factor < 1 && mult > 0 && mult < 1) {
        double k = log(mult) / log(p->factor);
        if (k > 0 && k < 1e6) p->reductions = (int)lround(k);
    }
}

double plateau_lr(const plateau *p, double lr) {
    /* ((lr * f) * f) * ...: PyTorch multiplies the optimizer's current lr
     * at each reduction; lr * f^k rounds differently in the last bit. */
    for (int i = 0; i < p->reductions; i++) {
        double next = lr * p->factor;
        if (!(lr - next > 1e-8)) break; /* PyTorch's eps: no change once below */
        lr = next;
    }
    return lr;
}
