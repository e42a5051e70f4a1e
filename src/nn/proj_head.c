/*
 * proj_head.c — the tutorial's projection heads, forward and backward side
 * by side (see proj_head.h for the formulas).  Built from the existing
 * layers (linear.c, layernorm.c, dropout.c, the erf GELU of activation.h);
 * what is new is only their order and the residual around fc.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/proj_head.h"
#include "base/error.h"
#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/layernorm.h"
#include "nn/linear.h"

/* The dropout site of a head: tower 2 (the heads), layer = image/text. */
static uint64_t head_site(const proj_head_acts *a) { return dropout_site_seed(a->dropout_seed, 2, a->site, 0); }

size_t proj_head_acts_floats(clipc_head kind, int B, int E) {
    return kind == CLIPC_HEAD_MLP ? 6 * (size_t)B * E + 2 * (size_t)B : 0;
}

clipc_status proj_head_acts_alloc(proj_head_acts *a, clipc_head kind, int B, int D, int E) {
    memset(a, 0, sizeof *a);
    a->kind = kind, a->B = B, a->D = D, a->E = E;
    size_t n = proj_head_acts_floats(kind, B, E);
    if (!n) return CLIPC_OK;
    a->mem = mem_alloc(n * sizeof(float), "projection head activations");
    if (!a->mem) return CLIPC_ERR_NOMEM;
    size_t BE = (size_t)B * E;
    a->projected = a->mem, a->h = a->projected + BE, a->x = a->h + BE;
    a->dx = a->x + BE, a->dt = a->dx + BE, a->dh = a->dt + BE;
    a->mean = a->dh + BE, a->rstd = a->mean + B;
    return CLIPC_OK;
}

void proj_head_acts_free(proj_head_acts *a) {
    free(a->mem);
    memset(a, 0, sizeof *a);
}

void proj_head_forward(proj_head_acts *a, float *out, const float *inp, const proj_head_weights *w, int B) {
    int D = a->D, E = a->E;
    if (a->kind != CLIPC_HEAD_MLP) {
        linear_forward(out, inp, w->proj_w, NULL, B, D, E, NULL);
        return;
    }
    size_t n = (size_t)B * E;
    linear_forward(a->projected, inp, w->proj_w, w->proj_b, B, D, E, NULL);
    for (size_t i = 0; i < n; i++) a->h[i] = act_value(a->projected[i], CLIPC_ACT_GELU);
    linear_forward(a->x, a->h, w->fc_w, w->fc_b, B, E, E, NULL);
    if (a->dropout > 0.f) dropout_mul(a->x, a->x, n, 0, a->dropout, head_site(a));
    for (size_t i = 0; i < n; i++) a->x[i] += a->projected[i];
    layernorm_forward(out, a->mean, a->rstd, a->x, w->ln_w, w->ln_b, B, E);
}

void proj_head_backward(proj_head_acts *a, float *dinp, const proj_head_weights *g, const float *dout,
                        const float *inp, const proj_head_weights *w, int B) {
    int D = a->D, E = a->E;
    if (a->kind != CLIPC_HEAD_MLP) {
        linear_backward(dinp, g->proj_w, NULL, dout, inp, w->proj_w, B, D, E);
        return;
    }
    size_t n = (size_t)B * E;
    memset(a->dx, 0, n * sizeof(float)); /* layernorm_backward accumulates */
    layernorm_backward(a->dx, g->ln_w, g->ln_b, dout, a->x, w->ln_w, a->mean, a->rstd, B, E);
    /* d(fc out) through the dropout mask (the same call is its backward) */
    if (a->dropout > 0.f) dropout_mul(a->dt, a->dx, n, 0, a->dropout, head_site(a));
    else memcpy(a->dt, a->dx, n * sizeof(float));
    linear_backward(a->dh, g->fc_w, g->fc_b, a->dt, a->h, w->fc_w, B, E, E);
    /* d(projected) = the residual's dx + GELU' * dh, kept in dx */
    for (size_t i = 0; i < n; i++) a->dx[i] += a->dh[i] * act_derivative(a->projected[i], CLIPC_ACT_GELU);
    linear_backward(dinp, g->proj_w, g->proj_b, a->dx, inp, w->proj_w, B, D, E);
}
