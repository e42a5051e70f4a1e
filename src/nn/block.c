/*
 * block.c — OpenAI's ResidualAttentionBlock (pre-LN):
 *   res1 = x + drop(out_proj(attention(in_proj(ln_1(x)))))
 *   out  = res1 + drop(c_proj(drop(act(c_fc(ln_2(res1))))))
 * forward and backward side by side (attention drops its probabilities too).
 *
 * The elementwise work around the GEMMs is fused into one pass each: bias +
 * activation (+ dropout), bias + dropout + residual add, activation
 * derivative (+ dropout mask).  What tower.h's memory plan does not keep is
 * rebuilt in backward: the layer-norm outputs from their statistics, the
 * attention output from the softmax statistics, the activation from the
 * pre-activation, dropout masks from their seeds.
 *
 * One forward, two paths.  Given an inference backend (backend.h: the
 * caller passes it, nothing is bound per thread) and no dropout, the block
 * runs block_forward_fused: the bias, activation and residual go into the
 * backend's GEMMs and, when it is lowp (bf16), each GEMM's input arrives in
 * bf16.  Otherwise (training, or no backend) it runs the GEMMs on OpenBLAS
 * with the elementwise passes below.
 *
 * Rows may be packed sequences of different lengths (seqs in layers.h):
 * everything but attention is row-wise, so only attention sees the
 * grouping.  Dropout element indices are those of the N rows as given.
 */
#include <math.h>
#include <string.h>

#include "nn/block.h"
#include "clipc.h"
#include "base/parallel.h"
#include "kernels/backend.h"
#include "kernels/bf16.h"
#include "kernels/vec.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/seqs.h"

size_t block_acts_floats(size_t N, int C, int NH, int with_out) {
    /* qkv, res1, fch (+ out), the statistics */
    return N * 3 * C + N * C * (with_out ? 2 : 1) + N * 4 * C + 4 * N + N * NH * 2;
}

size_t block_shared_floats(size_t N, int T, int C) { return 2 * N * C + attention_scratch_floats(T); }

float *block_acts_bind(block_acts *a, float *m, float *shared, size_t N, int C, int NH, int with_out) {
    a->ln1_mean = m; m += N;
    a->ln1_rstd = m; m += N;
    a->qkv = m; m += N * 3 * C;
    a->att_stats = m; m += N * NH * 2;
    a->res1 = m; m += N * C;
    a->ln2_mean = m; m += N;
    a->ln2_rstd = m; m += N;
    a->fch = m; m += N * 4 * C;
    if (with_out) {
        a->out = m;
        m += N * C;
    } else {
        a->out = NULL;
    }
    a->ln = shared; shared += N * C;
    a->atty = shared; shared += N * C;
    a->attn_scratch = shared;
    a->h = a->fch;
    return m;
}

size_t block_grad_scratch_floats(size_t N, int C) { return N * C + N * 4 * C; }

float *block_grad_scratch_bind(block_grad_scratch *s, float *m, size_t N, int C) {
    s->dln = m; m += N * C;
    s->dfch = m; m += N * 4 * C;
    s->dqkv = s->dfch;
    s->datty = s->dfch + N * 3 * C;
    s->ddrop = s->dln;
    return m;
}

const block_dropout *tower_dropout(block_dropout *d, float p, uint64_t seed, int tower, int layer) {
    if (!dropout_threshold(p)) return NULL;
    d->p = p;
    for (int i = 0; i < 4; i++) d->seed[i] = dropout_site_seed(seed, tower, layer, i);
    return d;
}

/* ---- fused elementwise passes */

/* pre += b (kept for backward); h = drop(act(pre)).  h may alias pre. */
static void bias_act(float *pre, float *h, const float *b, int N, int C, clipc_act act, float p, uint64_t seed) {
    dropout_params dp = dropout_params_of(p);
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *x = pre + (size_t)n * C, *y = h + (size_t)n * C;
        if (act == CLIPC_ACT_QUICKGELU) {
            vec_quickgelu_bias(x, y, b, (size_t)C);
        } else {
            for (int i = 0; i < C; i++) {
                float v = x[i] + b[i];
                x[i] = v;
                y[i] = act_value(v, act);
            }
        }
        if (dp.thr)
            for (int i = 0; i < C; i++)
                y[i] = dropout_keep(seed, (size_t)n * C + i, dp.thr) ? y[i] * dp.scale : 0.0f;
    }
}

/* Elementwise passes over n floats go in chunks of this many (a multiple of
 * every vector width), one chunk per loop iteration. */
#define EW_CHUNK 4096

/* h = drop(act(pre)): the forward's activation, rebuilt for backward. */
static void act_recompute(float *h, const float *pre, size_t n, clipc_act act, float p, uint64_t seed) {
    dropout_params dp = dropout_params_of(p);
    size_t nch = (n + EW_CHUNK - 1) / EW_CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        size_t i0 = c * EW_CHUNK, m = n - i0 < EW_CHUNK ? n - i0 : EW_CHUNK;
        if (act == CLIPC_ACT_QUICKGELU) vec_quickgelu(h + i0, pre + i0, m);
        else
            for (size_t i = i0; i < i0 + m; i++) h[i] = act_value(pre[i], act);
        if (dp.thr)
            for (size_t i = i0; i < i0 + m; i++) h[i] = dropout_keep(seed, i, dp.thr) ? h[i] * dp.scale : 0.0f;
    }
}

/* dh (holding d(dropped activation)) becomes d(pre) in place. */
static void act_backward(float *dh, const float *pre, size_t n, clipc_act act, float p, uint64_t seed) {
    dropout_params dp = dropout_params_of(p);
    size_t nch = (n + EW_CHUNK - 1) / EW_CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        size_t i0 = c * EW_CHUNK, m = n - i0 < EW_CHUNK ? n - i0 : EW_CHUNK;
        if (dp.thr)
            for (size_t i = i0; i < i0 + m; i++) dh[i] = dropout_keep(seed, i, dp.thr) ? dh[i] * dp.scale : 0.0f;
        if (act == CLIPC_ACT_QUICKGELU) vec_quickgelu_backward(dh + i0, pre + i0, m);
        else
            for (size_t i = i0; i < i0 + m; i++) dh[i] *= act_derivative(pre[i], act);
    }
}

/* out = res + drop(out + b): a GEMM output becomes the residual stream. */
static void bias_drop_residual(float *out, const float *b, const float *res, int N, int C, float p,
                               uint64_t seed) {
    dropout_params dp = dropout_params_of(p);
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * C;
        const float *r = res + (size_t)n * C;
        if (dp.thr)
            for (int i = 0; i < C; i++)
                y[i] = r[i] + (dropout_keep(seed, (size_t)n * C + i, dp.thr) ? (y[i] + b[i]) * dp.scale : 0.0f);
        else
            for (int i = 0; i < C; i++) y[i] = r[i] + (y[i] + b[i]);
    }
}

/* One fused GEMM of block_forward_fused: 1 when it failed (there is no
 * fallback halfway through a chain of bf16 buffers; the block reports it
 * and the encoder redoes the batch on OpenBLAS f32). */
static int gemm_fused(const infer_backend *be, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                      backend_gemm_ops ops) {
    return !be->gemm(be->ctx, out, inp, w, N, IN, OUT, 1, &ops);
}

/* The layer norm before a GEMM in block_forward_fused: into bf16 (lp) or
 * floats, statistics not kept. */
static void ln_infer(float *out, const float *x, const float *w, const float *b, int N, int C, int lp) {
    if (lp) layernorm_forward_bf16((uint16_t *)out, x, w, b, N, C);
    else layernorm_forward(out, NULL, NULL, x, w, b, N, C);
}

/* The block in inference on a backend (no dropout): every GEMM fuses its
 * bias, activation and residual, so no elementwise pass runs between GEMMs.
 * On a lowp backend (bf16) the layer norms, c_fc and the batched attention
 * hand the next GEMM its input in bf16 (bf16 values live in the float
 * buffers, they take half); otherwise every handoff is float32.  Attention
 * over equal-length sequences (the image tower) is the backend's batched
 * attention; causal or ragged attention (the text tower) stays on
 * attention.c's f32 path, and out_proj converts its output.  Returns 1
 * when a GEMM failed (every step still runs; a->out is to be recomputed). */
static int block_forward_fused(block_acts *a, const float *x, const block_weights *w, const seqs *sq, int C,
                               int NH, int causal, clipc_act act, const infer_backend *be) {
    int N = seqs_rows(sq), lp = be->lowp, failed = 0; /* lp: bf16 activations; else float32 */
    ln_infer(a->ln, x, w->ln_1_w, w->ln_1_b, N, C, lp);
    /* Equal lengths, no mask (the image tower): the backend's batched
     * attention (q, k, v in bf16 when lp); else attention.c in f32. */
    int batched = !causal && !sq->off;
    failed |= gemm_fused(be, a->qkv, a->ln, w->in_proj_w, N, C, 3 * C,
                         (backend_gemm_ops){.bias = w->in_proj_b, .in_bf16 = lp, .out_bf16 = batched && lp});
    if (batched && (!be->attention || !be->attention(be->ctx, a->atty, a->qkv, sq->B, sq->T, C, NH, lp, lp))) {
        if (lp) bf16_to_f32_inplace(a->qkv, (size_t)N * 3 * C); /* attention.c's path after all */
        batched = 0;
    }
    if (!batched) attention_forward(a->atty, a->att_stats, a->attn_scratch, a->qkv, sq, C, NH, causal, 0.0f, 0);
    /* the batched bf16 attention wrote bf16 */
    failed |= gemm_fused(be, a->res1, a->atty, w->out_proj_w, N, C, C,
                         (backend_gemm_ops){.bias = w->out_proj_b, .residual = x, .in_bf16 = batched && lp});
    ln_infer(a->ln, a->res1, w->ln_2_w, w->ln_2_b, N, C, lp);
    int a16 = act == CLIPC_ACT_GELU ? BACKEND_ACT_GELU : BACKEND_ACT_QUICKGELU;
    failed |= gemm_fused(be, a->h, a->ln, w->fc_w, N, C, 4 * C,
                         (backend_gemm_ops){.bias = w->fc_b, .act = a16, .in_bf16 = lp, .out_bf16 = lp});
    failed |= gemm_fused(be, a->out, a->h, w->proj_w, N, 4 * C, C,
                         (backend_gemm_ops){.bias = w->proj_b, .residual = a->res1, .in_bf16 = lp});
    return failed;
}

int block_forward(block_acts *a, const float *x, const block_weights *w, const seqs *sq, int C, int NH, int causal,
                  clipc_act act, const block_dropout *d, const infer_backend *be) {
    if (be && !d) return block_forward_fused(a, x, w, sq, C, NH, causal, act, be);
    /* Training (or inference with no backend): OpenBLAS, bias, activation,
     * dropout and residual in their own passes. */
    int N = seqs_rows(sq);
    float p = d ? d->p : 0.0f;
    layernorm_forward(a->ln, a->ln1_mean, a->ln1_rstd, x, w->ln_1_w, w->ln_1_b, N, C);
    linear_forward(a->qkv, a->ln, w->in_proj_w, w->in_proj_b, N, C, 3 * C, NULL);
    attention_forward(a->atty, a->att_stats, a->attn_scratch, a->qkv, sq, C, NH, causal, p, d ? d->seed[0] : 0);
    /* out_proj into res1, then bias, dropout and the residual in one pass. */
    linear_forward(a->res1, a->atty, w->out_proj_w, NULL, N, C, C, NULL);
    bias_drop_residual(a->res1, w->out_proj_b, x, N, C, p, d ? d->seed[1] : 0);
    layernorm_forward(a->ln, a->ln2_mean, a->ln2_rstd, a->res1, w->ln_2_w, w->ln_2_b, N, C);
    linear_forward(a->fch, a->ln, w->fc_w, NULL, N, C, 4 * C, NULL);
    bias_act(a->fch, a->h, w->fc_b, N, 4 * C, act, p, d ? d->seed[2] : 0);
    linear_forward(a->out, a->h, w->proj_w, NULL, N, 4 * C, C, NULL);
    bias_drop_residual(a->out, w->proj_b, a->res1, N, C, p, d ? d->seed[3] : 0);
    return 0;
}

void block_backward(float *dx, const block_weights *dw, const float *dout, const float *x, const block_acts *a,
                    const block_weights *w, block_grad_scratch *s, const seqs *sq, int C, int NH, int causal,
                    clipc_act act, const block_dropout *d) {
    int N = seqs_rows(sq);
    size_t NC = (size_t)N * C;
    float p = d ? d->p : 0.0f;
    int drop = dropout_threshold(p) != 0;
    /* MLP half: out = res1 + drop(c_proj(h)), h = drop(act(fch)). */
    /* dx is the residual stream's gradient: dout plus what each half adds. */
    if (dx != dout) memcpy(dx, dout, NC * sizeof(float));
    const float *dmlp = dout;
    if (drop) {
        dropout_mul(s->ddrop, dout, NC, 0, p, d->seed[3]);
        dmlp = s->ddrop;
    }
    act_recompute(s->dfch, a->fch, NC * 4, act, p, d ? d->seed[2] : 0);
    linear_backward(NULL, dw->proj_w, dw->proj_b, dmlp, s->dfch, w->proj_w, N, 4 * C, C);
    linear_backward(s->dfch, NULL, NULL, dmlp, NULL, w->proj_w, N, 4 * C, C);
    act_backward(s->dfch, a->fch, NC * 4, act, p, d ? d->seed[2] : 0);
    layernorm_apply(a->ln, a->res1, a->ln2_mean, a->ln2_rstd, w->ln_2_w, w->ln_2_b, N, C);
    linear_backward(s->dln, dw->fc_w, dw->fc_b, s->dfch, a->ln, w->fc_w, N, C, 4 * C);
    layernorm_backward(dx, dw->ln_2_w, dw->ln_2_b, s->dln, a->res1, w->ln_2_w, a->ln2_mean, a->ln2_rstd, N,
                       C);
    /* Attention half: res1 = x + drop(out_proj(attention(in_proj(ln_1(x))))). */
    const float *dattn = dx;
    if (drop) {
        dropout_mul(s->ddrop, dx, NC, 0, p, d->seed[1]);
        dattn = s->ddrop;
    }
    attention_recompute(a->atty, a->att_stats, a->attn_scratch, a->qkv, sq, C, NH, causal, p,
                        d ? d->seed[0] : 0);
    linear_backward(s->datty, dw->out_proj_w, dw->out_proj_b, dattn, a->atty, w->out_proj_w, N, C, C);
    attention_backward(s->dqkv, a->attn_scratch, s->datty, a->qkv, a->att_stats, sq, C, NH, causal, p,
                       d ? d->seed[0] : 0);
    layernorm_apply(a->ln, x, a->ln1_mean, a->ln1_rstd, w->ln_1_w, w->ln_1_b, N, C);
    linear_backward(s->dln, dw->in_proj_w, dw->in_proj_b, s->dqkv, a->ln, w->in_proj_w, N, C, 3 * C);
    layernorm_backward(dx, dw->ln_1_w, dw->ln_1_b, s->dln, x, w->ln_1_w, a->ln1_mean, a->ln1_rstd, N, C);
}
