/*
 * attnpool.c — AttentionPool2d forward and backward (attnpool.h).
 *
 * Only one query per image, so the attention is a (1 x T) softmax per
 * (image, head): done here directly rather than through attention.c, which
 * is built for T queries with a packed in_proj.  The projections are
 * nn.Linear products through linear.c (gemm_f32: thread-count-independent
 * bits); the loops over (image, head) write disjoint outputs, and the
 * reductions over images (the positional embedding's gradient) run in image
 * order, so the results do not depend on the thread count either.
 */
#include <math.h>
#include <string.h>

#include "nn/attnpool.h"
#include "base/parallel.h"
#include "nn/linear.h"

size_t attnpool_acts_floats(int B, int HW, int D, int NH, int training) {
    size_t T = (size_t)HW + 1, BT = (size_t)B * T;
    size_t n = 3 * BT * D + 3 * (size_t)B * D + (size_t)B * NH * T;
    if (training) n += 4 * BT * D + 2 * (size_t)B * D;
    return n;
}

float *attnpool_acts_bind(attnpool_acts *a, float *m, int B, int HW, int D, int NH, int E, int training) {
    memset(a, 0, sizeof *a);
    a->B = B, a->HW = HW, a->T = HW + 1, a->D = D, a->NH = NH, a->E = E;
    size_t BT = (size_t)B * a->T;
    a->tok = m, m += BT * D;
    a->k = m, m += BT * D;
    a->v = m, m += BT * D;
    a->tok0 = m, m += (size_t)B * D;
    a->q = m, m += (size_t)B * D;
    a->o = m, m += (size_t)B * D;
    a->att = m, m += (size_t)B * NH * a->T;
    if (training) {
        a->dtok = m, m += BT * D;
        a->dtmp = m, m += BT * D;
        a->dk = m, m += BT * D;
        a->dv = m, m += BT * D;
        a->dq = m, m += (size_t)B * D;
        a->dO = m, m += (size_t)B * D;
    }
    return m;
}

void attnpool_forward(float *out, attnpool_acts *a, const float *x, const resnet_weights *w) {
    int B = a->B, HW = a->HW, T = a->T, D = a->D, NH = a->NH, hd = D / NH;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) if ((size_t)B * T * D > PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *t = a->tok + (size_t)b * T * D;
        const float *xb = x + (size_t)b * HW * D;
        for (int c = 0; c < D; c++) t[c] = 0.0f;
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < D; c++) t[c] += xb[(size_t)i * D + c];
        for (int c = 0; c < D; c++) t[c] = t[c] / (float)HW + w->pos_emb[c];
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < D; c++)
                t[(size_t)(i + 1) * D + c] = xb[(size_t)i * D + c] + w->pos_emb[(size_t)(i + 1) * D + c];
        memcpy(a->tok0 + (size_t)b * D, t, (size_t)D * sizeof(float));
    }
    linear_forward(a->q, a->tok0, w->q_w, w->q_b, B, D, D, NULL);
    linear_forward(a->k, a->tok, w->k_w, w->k_b, B * T, D, D, NULL);
    linear_forward(a->v, a->tok, w->v_w, w->v_b, B * T, D, D, NULL);
#pragma omp parallel for schedule(static) if ((size_t)B * T * D > PAR_MIN)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = a->q + (size_t)b * D + h * hd;
        float *p = a->att + (size_t)bh * T, mx = -INFINITY, sum = 0.0f;
        for (int t = 0; t < T; t++) {
            const float *k = a->k + ((size_t)b * T + t) * D + h * hd;
            float s = 0.0f;
            for (int i = 0; i < hd; i++) s += q[i] * scale * k[i]; /* PyTorch scales q first */
            p[t] = s;
            if (s > mx) mx = s;
        }
        for (int t = 0; t < T; t++) sum += p[t] = expf(p[t] - mx);
        for (int t = 0; t < T; t++) p[t] /= sum;
        float *o = a->o + (size_t)b * D + h * hd;
        for (int i = 0; i < hd; i++) o[i] = 0.0f;
        for (int t = 0; t < T; t++) {
            const float *v = a->v + ((size_t)b * T + t) * D + h * hd;
            for (int i = 0; i < hd; i++) o[i] += p[t] * v[i];
        }
    }
    linear_forward(out, a->o, w->c_w, w->c_b, B, D, a->E, NULL);
}

void attnpool_backward(float *dx, const resnet_weights *g, const float *dout, attnpool_acts *a,
                       const resnet_weights *w) {
    int B = a->B, HW = a->HW, T = a->T, D = a->D, NH = a->NH, hd = D / NH;
    float scale = 1.0f / sqrtf((float)hd);
    linear_backward(a->dO, g->c_w, g->c_b, dout, a->o, w->c_w, B, D, a->E);
#pragma omp parallel for schedule(static) if ((size_t)B * T * D > PAR_MIN)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *p = a->att + (size_t)bh * T, *dO = a->dO + (size_t)b * D + h * hd;
        const float *q = a->q + (size_t)b * D + h * hd;
        float dp[T], dot = 0.0f;
        for (int t = 0; t < T; t++) {
            const float *v = a->v + ((size_t)b * T + t) * D + h * hd;
            float *dv = a->dv + ((size_t)b * T + t) * D + h * hd;
            float s = 0.0f;
            for (int i = 0; i < hd; i++) {
                s += dO[i] * v[i];
                dv[i] = p[t] * dO[i];
            }
            dp[t] = s;
            dot += p[t] * s;
        }
        float *dq = a->dq + (size_t)b * D + h * hd;
        for (int i = 0; i < hd; i++) dq[i] = 0.0f;
        for (int t = 0; t < T; t++) {
            float ds = p[t] * (dp[t] - dot) * scale;
            const float *k = a->k + ((size_t)b * T + t) * D + h * hd;
            float *dk = a->dk + ((size_t)b * T + t) * D + h * hd;
            for (int i = 0; i < hd; i++) {
                dq[i] += ds * k[i];
                dk[i] = ds * q[i];
            }
        }
    }
    size_t BTD = (size_t)B * T * D;
    linear_backward(a->dtok, g->k_w, g->k_b, a->dk, a->tok, w->k_w, B * T, D, D);
    linear_backward(a->dtmp, g->v_w, g->v_b, a->dv, a->tok, w->v_w, B * T, D, D);
    for (size_t i = 0; i < BTD; i++) a->dtok[i] += a->dtmp[i];
    linear_backward(a->dtmp, g->q_w, g->q_b, a->dq, a->tok0, w->q_w, B, D, D);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) a->dtok[(size_t)b * T * D + c] += a->dtmp[(size_t)b * D + c];
    /* The positional embedding's gradient: a sum over images, in order. */
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < (size_t)T * D; i++) g->pos_emb[i] += a->dtok[(size_t)b * T * D + i];
#pragma omp parallel for schedule(static) if (BTD > PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *dt = a->dtok + (size_t)b * T * D;
        float *d = dx + (size_t)b * HW * D;
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < D; c++) d[(size_t)i * D + c] = dt[(size_t)(i + 1) * D + c] + dt[c] / (float)HW;
    }
}
