/*
 * distilbert_tower.c — Hugging Face's DistilBertModel (the tutorial's text
 * encoder, seed 002), forward and backward, pooled at [CLS]:
 *   x0  = drop(LN_emb(word_emb[id] + pos_emb[t]))
 *   per layer (post-LN):
 *     s1  = x + out_lin(attention(q_lin(x), k_lin(x), v_lin(x)))   (bidirectional)
 *     x1  = sa_layer_norm(s1)
 *     s2  = x1 + drop(lin2(gelu(lin1(x1))))                         (exact erf GELU)
 *     out = output_layer_norm(s2)
 *   cls = last layer's out at position 0.
 * Every LayerNorm has eps 1e-12 (DistilBERT's), not the 1e-5 of CLIP.
 * Attention drops its probabilities (HF's attention_dropout); there is no
 * dropout after out_lin, as in HF.
 *
 * Padding: HF masks keys whose id is 0 and reads only position 0, so the
 * pad positions after [SEP] cannot influence the result.  Each caption
 * therefore runs only over its own tokens, the captions packed back to back
 * (seqs.h), and the shared attention core (attention.c, non-causal) works
 * per caption: exact, and no work on padding.  The scaling by
 * 1/sqrt(head dim) is applied to the product (HF scales q first: the same
 * math up to rounding).
 *
 * q_lin, k_lin and v_lin are separate tensors in the parameter table (HF's
 * names), so the three products write straight into the columns of the
 * packed q | k | v rows that attention.c reads (ldc = 3C): no copy.
 *
 * Dropout sites (dropout.h, tower 1): layer l site 0 the attention
 * probabilities, site 3 the FFN output; the embeddings use layer L (one past
 * the last) site 0.  Element indices are those of the packed rows.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/distilbert_tower.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/parallel.h"
#include "kernels/gemm.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/seqs.h"

#define DB_LN_EPS 1e-12

int distilbert_seq_len(const int32_t *row, int T) {
    int n = T;
    while (n > 1 && row[n - 1] == 0) n--;
    return n;
}

clipc_status distilbert_check_ids(const int32_t *ids, int B, int T, const clipc_config *c) {
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return clipc_error(CLIPC_ERR_INVALID, "DistilBERT: token id %d (caption %zu, position %zu) is outside "
                               "the vocabulary [0, %d)", (int)ids[i], i / T, i % T, c->vocab_size);
    for (int b = 0; b < B; b++) {
        int n = distilbert_seq_len(ids + (size_t)b * T, T);
        if (n > c->text_positions)
            return clipc_error(CLIPC_ERR_INVALID, "DistilBERT: caption %d has %d tokens, more than the %d positions "
                               "of the model", b, n, c->text_positions);
    }
    return CLIPC_OK;
}

/* Floats of one layer's views for N rows. */
static size_t layer_floats(size_t N, int C, int NH) { return N * (12 * (size_t)C + 2 * (size_t)NH + 4); }

static float *layer_bind(distilbert_layer_acts *l, float *m, size_t N, int C, int NH, int with_out) {
    l->qkv = m; m += N * 3 * C;
    l->att_stats = m; m += N * NH * 2;
    l->atty = m; m += N * C;
    l->s1 = m; m += N * C;
    l->ln1_mean = m; m += N;
    l->ln1_rstd = m; m += N;
    l->x1 = m; m += N * C;
    l->fch = m; m += N * 4 * C;
    l->s2 = m; m += N * C;
    l->ln2_mean = m; m += N;
    l->ln2_rstd = m; m += N;
    l->out = with_out ? m : NULL;
    m += N * C;
    return m;
}

size_t distilbert_acts_floats(const clipc_config *c, int B, int T, int training) {
    size_t R = (size_t)B * T, RC = R * c->transformer_width;
    size_t lf = layer_floats(R, c->transformer_width, c->transformer_heads);
    size_t n = 2 * RC + 2 * R + (training ? (size_t)c->transformer_layers * lf : lf + 2 * RC) +
               attention_scratch_floats(T);
    return training ? n + 12 * RC : n; /* h, dx, ds, dr, dt, dbig */
}

clipc_status distilbert_acts_alloc(distilbert_acts *a, const clipc_config *c, int B, int T, int training) {
    memset(a, 0, sizeof *a);
    a->B = B;
    a->T = T;
    a->R = B * T;
    a->C = c->transformer_width;
    a->NH = c->transformer_heads;
    a->L = c->transformer_layers;
    a->training = training;
    size_t R = (size_t)a->R, RC = R * a->C;
    size_t lf = layer_floats(R, a->C, a->NH);
    size_t n = distilbert_acts_floats(c, B, T, training);
    a->mem = mem_alloc(n * sizeof(float), "DistilBERT activations");
    a->layers = mem_calloc((size_t)a->L, sizeof *a->layers, "DistilBERT layers");
    a->off = mem_calloc((size_t)B + 1, sizeof(int), "DistilBERT offsets");
    if (!a->mem || !a->layers || !a->off) {
        distilbert_acts_free(a);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory: DistilBERT activations for batch %d x %d need %.1f MiB",
                           B, T, (double)n * 4 / 1048576);
    }
    float *m = a->mem;
    a->emb = m; m += RC;
    a->emb_mean = m; m += R;
    a->emb_rstd = m; m += R;
    a->x0 = m; m += RC;
    if (training) {
        for (int l = 0; l < a->L; l++) m = layer_bind(&a->layers[l], m, R, a->C, a->NH, 1);
    } else {
        float *shared = m, *ping = m + lf, *pong = ping + RC;
        m += lf + 2 * RC;
        for (int l = 0; l < a->L; l++) {
            layer_bind(&a->layers[l], shared, R, a->C, a->NH, 0);
            a->layers[l].out = (l & 1) ? pong : ping;
        }
    }
    a->attn_scratch = m; m += attention_scratch_floats(T);
    if (training) {
        a->h = m; m += 4 * RC;
        a->dx = m; m += RC;
        a->ds = m; m += RC;
        a->dr = m; m += RC;
        a->dt = m; m += RC;
        a->dbig = m; m += 4 * RC;
    }
    return CLIPC_OK;
}

void distilbert_acts_free(distilbert_acts *a) {
    free(a->mem);
    free(a->layers);
    free(a->off);
    memset(a, 0, sizeof *a);
}

/* ---- q | k | v: three nn.Linear products into the columns of (N, 3C) */

static float *qkv_w(const distilbert_layer_weights *w, int j) { return j == 0 ? w->q_w : j == 1 ? w->k_w : w->v_w; }
static float *qkv_b(const distilbert_layer_weights *w, int j) { return j == 0 ? w->q_b : j == 1 ? w->k_b : w->v_b; }

static void qkv_forward(float *qkv, const float *x, const distilbert_layer_weights *w, int N, int C) {
    for (int j = 0; j < 3; j++) gemm_f32(0, 1, N, C, C, 1.0f, x, C, qkv_w(w, j), C, 0.0f, qkv + (size_t)j * C, 3 * C);
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++)
        for (int j = 0; j < 3; j++) {
            float *y = qkv + (size_t)n * 3 * C + (size_t)j * C;
            const float *b = qkv_b(w, j);
            for (int i = 0; i < C; i++) y[i] += b[i];
        }
}

/* dx += sum_j dqkv_j W_j; dW_j += dqkv_j^T x; db_j += column sums of dqkv_j
 * (threads split columns, rows summed in order: deterministic). */
static void qkv_backward(float *dx, const distilbert_layer_weights *g, const float *dqkv, const float *x,
                         const distilbert_layer_weights *w, int N, int C) {
    for (int j = 0; j < 3; j++) {
        const float *d = dqkv + (size_t)j * C;
        gemm_f32(0, 0, N, C, C, 1.0f, d, 3 * C, qkv_w(w, j), C, 1.0f, dx, C);
        gemm_f32(1, 0, C, C, N, 1.0f, d, 3 * C, x, C, 1.0f, qkv_w(g, j), C);
    }
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int col = 0; col < 3 * C; col++) {
        float s = 0.f;
        for (int n = 0; n < N; n++) s += dqkv[(size_t)n * 3 * C + col];
        qkv_b(g, col / C)[col % C] += s;
    }
}

/* ---- elementwise passes */

/* y = gelu(x) over n floats (y may alias x). */
static void gelu_forward(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = act_value(x[i], CLIPC_ACT_GELU);
}

/* d *= gelu'(x) */
static void gelu_backward(float *d, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) d[i] *= act_derivative(x[i], CLIPC_ACT_GELU);
}

/* y = r + drop(y) */
static void drop_residual(float *y, const float *r, size_t n, float p, uint64_t seed) {
    dropout_params dp = dropout_params_of(p);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = r[i] + (dp.thr ? (dropout_keep(seed, i, dp.thr) ? y[i] * dp.scale : 0.0f) : y[i]);
}

static uint64_t site(const distilbert_acts *a, int layer, int s) {
    return dropout_site_seed(a->dropout_seed, 1, layer, s);
}

/* ---- forward */

static void layer_forward(distilbert_acts *a, distilbert_layer_acts *la, const float *x,
                          const distilbert_layer_weights *w, int l) {
    int N = seqs_rows(&a->sq), C = a->C;
    float p = a->training ? a->dropout : 0.0f;
    qkv_forward(la->qkv, x, w, N, C);
    attention_forward(la->atty, la->att_stats, a->attn_scratch, la->qkv, &a->sq, C, a->NH, 0, p, site(a, l, 0));
    linear_forward(la->s1, la->atty, w->o_w, w->o_b, N, C, C, NULL);
    drop_residual(la->s1, x, (size_t)N * C, 0.0f, 0);
    layernorm_forward_eps(la->x1, la->ln1_mean, la->ln1_rstd, la->s1, w->ln1_w, w->ln1_b, N, C, DB_LN_EPS);
    linear_forward(la->fch, la->x1, w->fc1_w, w->fc1_b, N, C, 4 * C, NULL);
    float *h = a->h ? a->h : la->fch; /* inference: in place */
    gelu_forward(h, la->fch, (size_t)N * 4 * C);
    linear_forward(la->s2, h, w->fc2_w, w->fc2_b, N, 4 * C, C, NULL);
    drop_residual(la->s2, la->x1, (size_t)N * C, p, site(a, l, 3));
    layernorm_forward_eps(la->out, la->ln2_mean, la->ln2_rstd, la->s2, w->ln2_w, w->ln2_b, N, C, DB_LN_EPS);
}

void distilbert_forward(distilbert_acts *a, float *cls, const int32_t *ids, const distilbert_weights *w,
                        const clipc_config *c, int B, int T) {
    (void)c;
    int C = a->C, Tmax = 1;
    a->ctx = T;
    a->off[0] = 0;
    for (int b = 0; b < B; b++) {
        int len = distilbert_seq_len(ids + (size_t)b * T, T);
        a->off[b + 1] = a->off[b] + len;
        if (len > Tmax) Tmax = len;
    }
    a->sq = (seqs){B, Tmax, a->off};
    int N = seqs_rows(&a->sq);
    float p = a->training ? a->dropout : 0.0f;
    token_embedding_forward(a->emb, ids, w->word_emb, w->pos_emb, &a->sq, T, C);
    layernorm_forward_eps(a->x0, a->emb_mean, a->emb_rstd, a->emb, w->emb_ln_w, w->emb_ln_b, N, C, DB_LN_EPS);
    if (dropout_threshold(p)) dropout_mul(a->x0, a->x0, (size_t)N * C, 0, p, site(a, a->L, 0));
    const float *x = a->x0;
    for (int l = 0; l < a->L; l++) {
        layer_forward(a, &a->layers[l], x, &w->layers[l], l);
        x = a->layers[l].out;
    }
    for (int b = 0; b < B; b++)
        memcpy(cls + (size_t)b * C, x + (size_t)a->off[b] * C, (size_t)C * sizeof(float));
}

/* ---- backward */

/* a->dx holds d(out) of layer l; becomes d(x), its input. */
static void layer_backward(distilbert_acts *a, const distilbert_layer_weights *g, const distilbert_layer_acts *la,
                           const float *x, const distilbert_layer_weights *w, int l) {
    int N = seqs_rows(&a->sq), C = a->C;
    size_t NC = (size_t)N * C;
    float p = a->dropout;
    /* output_layer_norm: ds = d s2 */
    memset(a->ds, 0, NC * sizeof(float));
    layernorm_backward(a->ds, g->ln2_w, g->ln2_b, a->dx, la->s2, w->ln2_w, la->ln2_mean, la->ln2_rstd, N, C);
    /* s2 = x1 + drop(lin2(h)): dr = d x1 (residual part), dt = d lin2 output */
    memcpy(a->dr, a->ds, NC * sizeof(float));
    const float *dlin2 = a->ds;
    if (dropout_threshold(p)) {
        dropout_mul(a->dt, a->ds, NC, 0, p, site(a, l, 3));
        dlin2 = a->dt;
    }
    gelu_forward(a->h, la->fch, NC * 4);
    linear_backward(a->dbig, g->fc2_w, g->fc2_b, dlin2, a->h, w->fc2_w, N, 4 * C, C);
    gelu_backward(a->dbig, la->fch, NC * 4);
    linear_backward(a->dt, g->fc1_w, g->fc1_b, a->dbig, la->x1, w->fc1_w, N, C, 4 * C);
    for (size_t i = 0; i < NC; i++) a->dr[i] += a->dt[i];
    /* sa_layer_norm: ds = d s1 = d x (residual) and d out_lin output */
    memset(a->ds, 0, NC * sizeof(float));
    layernorm_backward(a->ds, g->ln1_w, g->ln1_b, a->dr, la->s1, w->ln1_w, la->ln1_mean, la->ln1_rstd, N, C);
    linear_backward(a->dt, g->o_w, g->o_b, a->ds, la->atty, w->o_w, N, C, C);
    attention_backward(a->dbig, a->attn_scratch, a->dt, la->qkv, la->att_stats, &a->sq, C, a->NH, 0, p,
                       site(a, l, 0));
    memcpy(a->dx, a->ds, NC * sizeof(float));
    qkv_backward(a->dx, g, a->dbig, x, w, N, C);
}

void distilbert_backward(distilbert_acts *a, const distilbert_weights *g, const float *dcls, const int32_t *ids,
                         const distilbert_weights *w, const clipc_config *c, int B) {
    (void)c;
    int C = a->C, N = seqs_rows(&a->sq);
    size_t NC = (size_t)N * C;
    memset(a->dx, 0, NC * sizeof(float));
    for (int b = 0; b < B; b++)
        memcpy(a->dx + (size_t)a->off[b] * C, dcls + (size_t)b * C, (size_t)C * sizeof(float));
    for (int l = a->L - 1; l >= 0; l--)
        layer_backward(a, &g->layers[l], &a->layers[l], l == 0 ? a->x0 : a->layers[l - 1].out, &w->layers[l], l);
    /* embeddings: x0 = drop(LN(emb)) */
    if (dropout_threshold(a->dropout)) dropout_mul(a->dx, a->dx, NC, 0, a->dropout, site(a, a->L, 0));
    memset(a->ds, 0, NC * sizeof(float));
    layernorm_backward(a->ds, g->emb_ln_w, g->emb_ln_b, a->dx, a->emb, w->emb_ln_w, a->emb_mean, a->emb_rstd, N,
                       C);
    token_embedding_backward(g->word_emb, g->pos_emb, a->ds, ids, &a->sq, a->ctx, C);
}
