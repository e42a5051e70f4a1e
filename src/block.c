/*
 * block.c — OpenAI's ResidualAttentionBlock (pre-LN):
 *   res1 = x + out_proj(attention(in_proj(ln_1(x))))
 *   out  = res1 + c_proj(act(c_fc(ln_2(res1))))
 * forward and backward side by side.
 */
#include <string.h>

#include "tower.h"

size_t block_acts_floats(int B, int T, int C, int NH, int with_out) {
    size_t N = (size_t)B * T;
    return N * C * (with_out ? 5 : 4) + N * 3 * C + (size_t)B * NH * T * T + 2 * N * 4 * C + 4 * N;
}

float *block_acts_bind(block_acts *a, float *m, int B, int T, int C, int NH, int with_out) {
    size_t N = (size_t)B * T;
    a->ln1 = m; m += N * C;
    a->ln1_mean = m; m += N;
    a->ln1_rstd = m; m += N;
    a->qkv = m; m += N * 3 * C;
    a->att = m; m += (size_t)B * NH * T * T;
    a->atty = m; m += N * C;
    a->res1 = m; m += N * C;
    a->ln2 = m; m += N * C;
    a->ln2_mean = m; m += N;
    a->ln2_rstd = m; m += N;
    a->fch = m; m += N * 4 * C;
    a->fch_act = m; m += N * 4 * C;
    if (with_out) {
        a->out = m;
        m += N * C;
    } else {
        a->out = NULL;
    }
    return m;
}

size_t block_grad_scratch_floats(int B, int T, int C) {
    size_t N = (size_t)B * T;
    return N * C * 3 + N * 4 * C + N * 3 * C + attention_scratch_floats(T);
}

float *block_grad_scratch_bind(block_grad_scratch *s, float *m, int B, int T, int C) {
    size_t N = (size_t)B * T;
    s->dres = m; m += N * C;
    s->dln = m; m += N * C;
    s->dfch = m; m += N * 4 * C;
    s->datty = m; m += N * C;
    s->dqkv = m; m += N * 3 * C;
    s->attn_scratch = m; m += attention_scratch_floats(T);
    return m;
}

/* res = x + y, elementwise over n. */
static void residual_add(float *res, const float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) res[i] = x[i] + y[i];
}

void block_forward(block_acts *a, const float *x, const block_weights *w, int B, int T, int C, int NH,
                   int causal, clipc_act act) {
    int N = B * T;
    size_t NC = (size_t)N * C;
    layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln_1_w, w->ln_1_b, N, C);
    linear_forward(a->qkv, a->ln1, w->in_proj_w, w->in_proj_b, N, C, 3 * C);
    attention_forward(a->atty, a->att, a->qkv, B, T, C, NH, causal);
    /* out_proj into res1, then add the residual in place. */
    linear_forward(a->res1, a->atty, w->out_proj_w, w->out_proj_b, N, C, C);
    residual_add(a->res1, a->res1, x, NC);
    layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, w->ln_2_w, w->ln_2_b, N, C);
    linear_forward(a->fch, a->ln2, w->fc_w, w->fc_b, N, C, 4 * C);
    if (act == CLIPC_ACT_GELU) gelu_forward(a->fch_act, a->fch, (size_t)N * 4 * C);
    else quickgelu_forward(a->fch_act, a->fch, (size_t)N * 4 * C);
    linear_forward(a->out, a->fch_act, w->proj_w, w->proj_b, N, 4 * C, C);
    residual_add(a->out, a->out, a->res1, NC);
}

void block_backward(float *dx, const block_weights *dw, const float *dout, const float *x, const block_acts *a,
                    const block_weights *w, block_grad_scratch *s, int B, int T, int C, int NH, int causal,
                    clipc_act act) {
    int N = B * T;
    size_t NC = (size_t)N * C;
    /* MLP half: out = res1 + c_proj(act(c_fc(ln_2(res1)))). */
    memcpy(s->dres, dout, NC * sizeof(float));
    linear_backward(s->dfch, dw->proj_w, dw->proj_b, dout, a->fch_act, w->proj_w, N, 4 * C, C);
    if (act == CLIPC_ACT_GELU) gelu_backward(s->dfch, s->dfch, a->fch, (size_t)N * 4 * C);
    else quickgelu_backward(s->dfch, s->dfch, a->fch, (size_t)N * 4 * C);
    linear_backward(s->dln, dw->fc_w, dw->fc_b, s->dfch, a->ln2, w->fc_w, N, C, 4 * C);
    layernorm_backward(s->dres, dw->ln_2_w, dw->ln_2_b, s->dln, a->res1, w->ln_2_w, a->ln2_mean, a->ln2_rstd, N,
                       C);
    /* Attention half: res1 = x + out_proj(attention(in_proj(ln_1(x)))). */
    linear_backward(s->datty, dw->out_proj_w, dw->out_proj_b, s->dres, a->atty, w->out_proj_w, N, C, C);
    attention_backward(s->dqkv, s->attn_scratch, s->datty, a->qkv, a->att, B, T, C, NH, causal);
    linear_backward(s->dln, dw->in_proj_w, dw->in_proj_b, s->dqkv, a->ln1, w->in_proj_w, N, C, 3 * C);
    memcpy(dx, s->dres, NC * sizeof(float));
    layernorm_backward(dx, dw->ln_1_w, dw->ln_1_b, s->dln, x, w->ln_1_w, a->ln1_mean, a->ln1_rstd, N, C);
}
