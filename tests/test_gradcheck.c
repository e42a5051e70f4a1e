/*
 * test_gradcheck.c — every layer's backward against central finite
 * differences of its forward, on small random shapes.  The scalar probed is
 * L = sum(out * R) for a fixed random R, so dL/dout = R.  Float32 forward
 * passes limit the precision of the numeric derivative, so each check
 * compares against the largest gradient of the tensor (relative 2e-2, plus
 * 5e-5 absolute for float32 rounding) on a sample of coordinates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "model/model.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/clip.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/loss_soft.h"
#include "nn/proj_head.h"
#include "nn/maxpool.h"
#include "nn/params.h"
#include "nn/seqs.h"
#include "nn/tv_bottleneck.h"
#include "nn/tv_resnet_tower.h"
#include "harness.h"

static uint64_t xs_state = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return (float)((xs_state >> 40) / (double)(1ull << 24)) * 2.f - 1.f;
}
static float *randv(size_t n, float scale) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A forward pass as a closure: fills out from the current inputs. */
typedef void (*fwd_fn)(void *ctx, float *out);

/* Checks analytic gradient `g` of tensor `x` (n values) numerically. */
static void numcheck(const char *what, fwd_fn f, void *ctx, float *out, size_t nout, const float *R, float *x,
                     const float *g, size_t n, float eps) {
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    double worst = 0;
    size_t probes = n < 24 ? n : 24;
    for (size_t k = 0; k < probes; k++) {
        size_t i = n <= 24 ? k : (size_t)((k * 2654435761u) % n);
        float keep = x[i];
        x[i] = keep + eps;
        f(ctx, out);
        double lp = dot(out, R, nout);
        x[i] = keep - eps;
        f(ctx, out);
        double lm = dot(out, R, nout);
        x[i] = keep;
        double num = (lp - lm) / (2 * eps);
        worst = fmax(worst, fabs(num - g[i]));
    }
    f(ctx, out);
    /* 5e-5 absolute: the float32 rounding of L divided by 2*eps. */
    CHECKF(worst <= 2e-2 * gmax + 5e-5, "%s: max|num - analytic| %.3g vs max|g| %.3g", what, worst, gmax);
}

/* ---------------------------------------------------------------- layernorm */
typedef struct { float *x, *w, *b, *mean, *rstd; int N, C; } ln_ctx;
static void ln_fwd(void *p, float *out) {
    ln_ctx *c = p;
    layernorm_forward(out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
}
TEST(gradcheck_layernorm) {
    ln_ctx c = {randv(5 * 12, 1.5f), randv(12, 1.f), randv(12, 0.5f), zeros(5), zeros(5), 5, 12};
    size_t n = 5 * 12;
    float *out = zeros(n), *R = randv(n, 1.f), *dx = zeros(n), *dw = zeros(12), *db = zeros(12);
    ln_fwd(&c, out);
    layernorm_backward(dx, dw, db, R, c.x, c.w, c.mean, c.rstd, c.N, c.C);
    numcheck("layernorm dx", ln_fwd, &c, out, n, R, c.x, dx, n, 1e-2f);
    numcheck("layernorm dw", ln_fwd, &c, out, n, R, c.w, dw, 12, 1e-2f);
    numcheck("layernorm db", ln_fwd, &c, out, n, R, c.b, db, 12, 1e-2f);
    free(c.x); free(c.w); free(c.b); free(c.mean); free(c.rstd);
    free(out); free(R); free(dx); free(dw); free(db);
}

/* ------------------------------------------------------------ linear/matmul */
typedef struct { float *x, *w, *b; int N, IN, OUT, plain; } lin_ctx;
static void lin_fwd(void *p, float *out) {
    lin_ctx *c = p;
    if (c->plain) matmul_forward(out, c->x, c->w, c->N, c->IN, c->OUT, NULL);
    else linear_forward(out, c->x, c->w, c->b, c->N, c->IN, c->OUT, NULL);
}
TEST(gradcheck_linear_and_matmul) {
    for (int plain = 0; plain < 2; plain++) {
        lin_ctx c = {randv(6 * 7, 1.f), randv(7 * 5, 1.f), randv(5, 1.f), 6, 7, 5, plain};
        size_t n = 6 * 5;
        float *out = zeros(n), *R = randv(n, 1.f), *dx = zeros(6 * 7), *dw = zeros(35), *db = zeros(5);
        lin_fwd(&c, out);
        if (plain) matmul_backward(dx, dw, R, c.x, c.w, c.N, c.IN, c.OUT);
        else linear_backward(dx, dw, db, R, c.x, c.w, c.N, c.IN, c.OUT);
        numcheck(plain ? "matmul dx" : "linear dx", lin_fwd, &c, out, n, R, c.x, dx, 42, 1e-2f);
        numcheck(plain ? "matmul dw" : "linear dw", lin_fwd, &c, out, n, R, c.w, dw, 35, 1e-2f);
        if (!plain) numcheck("linear db", lin_fwd, &c, out, n, R, c.b, db, 5, 1e-2f);
        free(c.x); free(c.w); free(c.b); free(out); free(R); free(dx); free(dw); free(db);
    }
}

/* ---------------------------------------------------------------- attention */
typedef struct { float *qkv, *stats, *scratch; seqs sq; int C, NH, causal; float p; } att_ctx;
static void att_fwd(void *p, float *out) {
    att_ctx *c = p;
    attention_forward(out, c->stats, c->scratch, c->qkv, &c->sq, c->C, c->NH, c->causal, c->p, 12345);
}
TEST(gradcheck_attention) {
    /* T = 37 > the causal row block (32), so the blocked path is covered;
     * with dropout the mask is a fixed function of the seed, so the
     * function stays deterministic and differentiable.  Variants 4-5 pack
     * sequences of lengths 5, 37 and 1 (the text tower's ragged layout). */
    static const int off[4] = {0, 5, 42, 43};
    for (int variant = 0; variant < 6; variant++) {
        int causal = variant & 1, B = variant < 4 ? 2 : 3, T = variant < 2 ? 5 : 37, C = 8, NH = 2;
        float p = variant >= 2 ? 0.3f : 0.f;
        if (variant == 1) p = 0.25f;
        if (variant == 4) p = 0.f;
        seqs sq = {B, T, variant >= 4 ? off : NULL};
        int N = seqs_rows(&sq);
        att_ctx c = {randv((size_t)N * 3 * C, 1.f), zeros((size_t)N * NH * 2), zeros(attention_scratch_floats(T)),
                     sq, C, NH, causal, p};
        size_t n = (size_t)N * C;
        float *out = zeros(n), *R = randv(n, 1.f), *dqkv = zeros((size_t)N * 3 * C);
        float *scratch = zeros(attention_scratch_floats(T));
        att_fwd(&c, out);
        attention_backward(dqkv, scratch, R, c.qkv, c.stats, &sq, C, NH, causal, p, 12345);
        /* attention_recompute gives the forward's output bit for bit */
        float *again = zeros(n);
        attention_recompute(again, c.stats, scratch, c.qkv, &sq, C, NH, causal, p, 12345);
        CHECK(memcmp(again, out, n * sizeof(float)) == 0);
        free(again);
        char what[80];
        snprintf(what, sizeof what, "attention T=%d causal=%d p=%.2f packed=%d dqkv", T, causal, p, variant >= 4);
        numcheck(what, att_fwd, &c, out, n, R, c.qkv, dqkv, (size_t)N * 3 * C, 1e-2f);
        /* The causal mask: position 0 attends to itself only, so its row
         * maximum is its own scaled score and its softmax sum is 1. */
        if (causal) {
            double s = 0;
            for (int i = 0; i < C / NH; i++) s += (double)c.qkv[i] * c.qkv[C + i];
            CHECK_NEAR(c.stats[0], s / sqrt(C / NH), 1e-5);
            CHECK(c.stats[1] == 1.0f);
        }
        free(c.qkv); free(c.stats); free(c.scratch); free(out); free(R); free(dqkv); free(scratch);
    }
}

TEST(attention_packed_equals_each_sequence_alone) {
    /* Packed sequences give, row for row, the bits of each sequence run
     * alone as a batch of one (forward, stats and dqkv), causal or not. */
    static const int off[5] = {0, 40, 43, 44, 77};
    int B = 4, T = 40, C = 16, NH = 2, N = off[B];
    seqs sq = {B, T, off};
    for (int causal = 0; causal < 2; causal++) {
        float *qkv = randv((size_t)N * 3 * C, 1.f), *dy = randv((size_t)N * C, 1.f);
        float *out = zeros((size_t)N * C), *stats = zeros((size_t)N * NH * 2), *dqkv = zeros((size_t)N * 3 * C);
        float *scratch = zeros(attention_scratch_floats(T));
        attention_forward(out, stats, scratch, qkv, &sq, C, NH, causal, 0.f, 0);
        attention_backward(dqkv, scratch, dy, qkv, stats, &sq, C, NH, causal, 0.f, 0);
        int same = 1;
        for (int b = 0; b < B; b++) {
            int r0 = off[b], L = off[b + 1] - off[b];
            seqs one = {1, L, NULL};
            float *o1 = zeros((size_t)L * C), *s1 = zeros((size_t)L * NH * 2), *d1 = zeros((size_t)L * 3 * C);
            attention_forward(o1, s1, scratch, qkv + (size_t)r0 * 3 * C, &one, C, NH, causal, 0.f, 0);
            attention_backward(d1, scratch, dy + (size_t)r0 * C, qkv + (size_t)r0 * 3 * C, s1, &one, C, NH, causal,
                               0.f, 0);
            same &= memcmp(o1, out + (size_t)r0 * C, (size_t)L * C * sizeof(float)) == 0;
            same &= memcmp(s1, stats + (size_t)r0 * NH * 2, (size_t)L * NH * 2 * sizeof(float)) == 0;
            same &= memcmp(d1, dqkv + (size_t)r0 * 3 * C, (size_t)L * 3 * C * sizeof(float)) == 0;
            free(o1); free(s1); free(d1);
        }
        CHECKF(same, "causal=%d: packed attention differs from each sequence alone", causal);
        free(qkv); free(dy); free(out); free(stats); free(dqkv); free(scratch);
    }
}

/* -------------------------------------------------------------- activations */
typedef struct { float *x; size_t n; int gelu; } act_ctx;
static void act_fwd(void *p, float *out) {
    act_ctx *c = p;
    for (size_t i = 0; i < c->n; i++) out[i] = act_value(c->x[i], c->gelu ? CLIPC_ACT_GELU : CLIPC_ACT_QUICKGELU);
}
TEST(gradcheck_activations) {
    for (int gelu = 0; gelu < 2; gelu++) {
        clipc_act act = gelu ? CLIPC_ACT_GELU : CLIPC_ACT_QUICKGELU;
        act_ctx c = {randv(40, 3.f), 40, gelu};
        float *out = zeros(40), *R = randv(40, 1.f), *dx = zeros(40);
        act_fwd(&c, out);
        for (int i = 0; i < 40; i++) dx[i] = R[i] * act_derivative(c.x[i], act);
        numcheck(gelu ? "gelu" : "quickgelu", act_fwd, &c, out, 40, R, c.x, dx, 40, 1e-2f);
        /* against the formulas in double: QuickGELU is x * sigmoid(1.702 x),
         * GELU is x * Phi(x) with the erf */
        for (int i = 0; i < 40; i++) {
            double x = c.x[i];
            double want = gelu ? 0.5 * x * (1.0 + erf(x / sqrt(2.0))) : x / (1.0 + exp(-1.702 * x));
            CHECKF(fabs(out[i] - want) <= 1e-6 * (1.0 + fabs(want)), "%s(%g) = %.9g, formula %.9g",
                   gelu ? "gelu" : "quickgelu", x, out[i], want);
        }
        free(c.x); free(out); free(R); free(dx);
    }
}

/* --------------------------------------------------------------- embeddings */
typedef struct { int32_t *ids; float *tok, *pos; seqs sq; int ctx, C; } emb_ctx;
static void emb_fwd(void *p, float *out) {
    emb_ctx *c = p;
    token_embedding_forward(out, c->ids, c->tok, c->pos, &c->sq, c->ctx, c->C);
}
TEST(gradcheck_token_embedding) {
    int32_t ids[2 * 6] = {3, 1, 4, 1, 5, 0, 2, 6, 5, 3, 5, 0}; /* repeats must add up */
    emb_ctx c = {ids, randv(7 * 4, 1.f), randv(6 * 4, 1.f), {2, 5, NULL}, 6, 4};
    size_t n = 2 * 5 * 4;
    float *out = zeros(n), *R = randv(n, 1.f), *dtok = zeros(28), *dpos = zeros(24);
    emb_fwd(&c, out);
    token_embedding_backward(dtok, dpos, R, ids, &c.sq, 6, 4);
    numcheck("token embedding", emb_fwd, &c, out, n, R, c.tok, dtok, 28, 1e-2f);
    numcheck("positional embedding", emb_fwd, &c, out, n, R, c.pos, dpos, 24, 1e-2f);
    for (int i = 0; i < 4; i++) CHECK(dpos[5 * 4 + i] == 0.f); /* position 5 is beyond T */
    free(c.tok); free(c.pos); free(out); free(R); free(dtok); free(dpos);
}

typedef struct { float *px, *conv, *cls, *pos, *cols, *patch; int B, R, P, W; } pe_ctx;
static void pe_fwd(void *p, float *out) {
    pe_ctx *c = p;
    int G = c->R / c->P, GG = G * G;
    patch_im2col(c->cols, c->px, c->B, c->R, c->P);
    linear_forward(c->patch, c->cols, c->conv, NULL, c->B * GG, 3 * c->P * c->P, c->W, NULL);
    vision_embed_forward(out, c->patch, c->cls, c->pos, c->B, GG, c->W);
}
TEST(gradcheck_patch_embedding) {
    int B = 2, R = 6, P = 3, W = 5, GG = 4, K = 27;
    pe_ctx c = {randv((size_t)B * 3 * R * R, 1.f), randv((size_t)W * K, 0.3f), randv(W, 1.f),
                randv((size_t)(GG + 1) * W, 1.f), zeros((size_t)B * GG * K), zeros((size_t)B * GG * W), B, R, P, W};
    size_t n = (size_t)B * (GG + 1) * W;
    float *out = zeros(n), *Rr = randv(n, 1.f), *dpatch = zeros((size_t)B * GG * W), *dcls = zeros(W),
          *dpos = zeros((size_t)(GG + 1) * W), *dconv = zeros((size_t)W * K);
    pe_fwd(&c, out);
    vision_embed_backward(dpatch, dcls, dpos, Rr, B, GG, W);
    linear_backward(NULL, dconv, NULL, dpatch, c.cols, c.conv, B * GG, K, W);
    numcheck("conv1 weight", pe_fwd, &c, out, n, Rr, c.conv, dconv, (size_t)W * K, 1e-2f);
    numcheck("class embedding", pe_fwd, &c, out, n, Rr, c.cls, dcls, W, 1e-2f);
    numcheck("visual positional embedding", pe_fwd, &c, out, n, Rr, c.pos, dpos, (size_t)(GG + 1) * W, 1e-2f);
    free(c.px); free(c.conv); free(c.cls); free(c.pos); free(c.cols); free(c.patch);
    free(out); free(Rr); free(dpatch); free(dcls); free(dpos); free(dconv);
}

/* --------------------------------------------------------------------- loss */
typedef struct { float *img, *txt, scale; clip_loss_cache lc; int B, E; } loss_ctx;
static void loss_fwd(void *p, float *out) {
    loss_ctx *c = p;
    out[0] = clip_loss_forward(&c->lc, c->img, c->txt, c->scale, c->B, c->E);
}
TEST(gradcheck_clip_loss) {
    int B = 4, E = 6;
    float *mem = zeros(clip_loss_cache_floats(B, E));
    loss_ctx c = {randv((size_t)B * E, 1.f), randv((size_t)B * E, 1.f), 1.3f, {0}, B, E};
    clip_loss_cache_bind(&c.lc, mem, B, E);
    float out, R = 1.f, dscale = 0.f;
    float *dimg = zeros((size_t)B * E), *dtxt = zeros((size_t)B * E);
    loss_fwd(&c, &out);
    CHECK(out > 0);
    clip_loss_backward(dimg, dtxt, &dscale, &c.lc, c.scale, B, E);
    numcheck("loss d img", loss_fwd, &c, &out, 1, &R, c.img, dimg, (size_t)B * E, 1e-3f);
    numcheck("loss d txt", loss_fwd, &c, &out, 1, &R, c.txt, dtxt, (size_t)B * E, 1e-3f);
    numcheck("loss d logit_scale", loss_fwd, &c, &out, 1, &R, &c.scale, &dscale, 1, 1e-3f);
    free(mem); free(c.img); free(c.txt); free(dimg); free(dtxt);
}

TEST(clip_loss_chance_level) {
    /* All-equal features: every logit is equal, so each CE is ln(B). */
    int B = 8, E = 4;
    float *mem = zeros(clip_loss_cache_floats(B, E)), *img = zeros((size_t)B * E), *txt = zeros((size_t)B * E);
    for (int i = 0; i < B * E; i++) img[i] = txt[i] = 1.f;
    clip_loss_cache lc;
    clip_loss_cache_bind(&lc, mem, B, E);
    CHECK_NEAR(clip_loss_forward(&lc, img, txt, 2.0f, B, E), log(8.0), 1e-6);
    free(mem); free(img); free(txt);
}

/* ------------------------------------------- the tutorial's heads and soft loss */
typedef struct { proj_head_acts a; proj_head_weights w; float *x; int B; } head_ctx;
static void head_fwd(void *p, float *out) {
    head_ctx *c = p;
    proj_head_forward(&c->a, out, c->x, &c->w, c->B);
}
TEST(gradcheck_tutorial_mlp_head_with_dropout) {
    /* Dropout 0.3 with a fixed seed is a deterministic function of the
     * inputs: backward recomputes the same mask. */
    int B = 5, D = 7, E = 6;
    head_ctx c = {0};
    REQUIRE_OK(proj_head_acts_alloc(&c.a, CLIPC_HEAD_MLP, B, D, E));
    c.a.dropout = 0.3f, c.a.dropout_seed = 99, c.a.site = 1, c.B = B;
    c.x = randv((size_t)B * D, 1.f);
    c.w = (proj_head_weights){randv((size_t)E * D, .5f), randv(E, .5f), randv((size_t)E * E, .5f), randv(E, .5f),
                              randv(E, 1.f), randv(E, .5f)};
    proj_head_weights g = {zeros((size_t)E * D), zeros(E), zeros((size_t)E * E), zeros(E), zeros(E), zeros(E)};
    float *out = zeros((size_t)B * E), *R = randv((size_t)B * E, 1.f), *dx = zeros((size_t)B * D);
    head_fwd(&c, out);
    proj_head_backward(&c.a, dx, &g, R, c.x, &c.w, B);
    size_t BE = (size_t)B * E;
    numcheck("head d x", head_fwd, &c, out, BE, R, c.x, dx, (size_t)B * D, 1e-3f);
    numcheck("head d projection.weight", head_fwd, &c, out, BE, R, c.w.proj_w, g.proj_w, (size_t)E * D, 1e-3f);
    numcheck("head d projection.bias", head_fwd, &c, out, BE, R, c.w.proj_b, g.proj_b, E, 1e-3f);
    numcheck("head d fc.weight", head_fwd, &c, out, BE, R, c.w.fc_w, g.fc_w, (size_t)E * E, 1e-3f);
    numcheck("head d fc.bias", head_fwd, &c, out, BE, R, c.w.fc_b, g.fc_b, E, 1e-3f);
    numcheck("head d layer_norm.weight", head_fwd, &c, out, BE, R, c.w.ln_w, g.ln_w, E, 1e-3f);
    numcheck("head d layer_norm.bias", head_fwd, &c, out, BE, R, c.w.ln_b, g.ln_b, E, 1e-3f);
    float *pw[6] = {c.w.proj_w, c.w.proj_b, c.w.fc_w, c.w.fc_b, c.w.ln_w, c.w.ln_b};
    float *pg[6] = {g.proj_w, g.proj_b, g.fc_w, g.fc_b, g.ln_w, g.ln_b};
    for (int i = 0; i < 6; i++) free(pw[i]), free(pg[i]);
    free(c.x), free(out), free(R), free(dx);
    proj_head_acts_free(&c.a);
}

typedef struct { float *img, *txt, t; soft_loss_cache lc; int B, E; } soft_ctx;
static void soft_fwd(void *p, float *out) {
    soft_ctx *c = p;
    out[0] = soft_loss_forward(&c->lc, c->img, c->txt, c->t, c->B, c->E);
}
TEST(gradcheck_tutorial_soft_loss) {
    int B = 4, E = 6;
    float *mem = zeros(soft_loss_cache_floats(B));
    soft_ctx c = {randv((size_t)B * E, 1.f), randv((size_t)B * E, 1.f), 0.7f, {0}, B, E};
    soft_loss_cache_bind(&c.lc, mem, B);
    float out, R = 1.f, *dimg = zeros((size_t)B * E), *dtxt = zeros((size_t)B * E);
    soft_fwd(&c, &out);
    CHECK(out > 0);
    soft_loss_backward(dimg, dtxt, &c.lc, c.img, c.txt, c.t, B, E);
    numcheck("soft loss d img", soft_fwd, &c, &out, 1, &R, c.img, dimg, (size_t)B * E, 1e-3f);
    numcheck("soft loss d txt", soft_fwd, &c, &out, 1, &R, c.txt, dtxt, (size_t)B * E, 1e-3f);
    free(mem), free(c.img), free(c.txt), free(dimg), free(dtxt);
}

/* ------------------------------------------------------------ whole model */
typedef struct { clip_workspace *ws; clipc_model *m; float *px; int32_t *ids; int B; } model_ctx;
static void model_fwd(void *p, float *out) {
    model_ctx *c = p;
    out[0] = clip_forward(c->ws, &c->m->w, c->px, c->ids, c->B, 0);
}
TEST(gradcheck_whole_model_every_tensor) {
    /* A tiny random CLIP with several heads on both towers; every parameter
     * tensor is probed through the full forward/backward. */
    clipc_config cfg = {12, 8, 2, 12, 4, 3, 6, 20, 8, 2, 2, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    param_table tab;
    REQUIRE_OK(param_table_init(&cfg, &tab));
    clipc_model m = {0};
    m.cfg = cfg;
    m.tab = tab;
    m.params = randv(tab.total, 0.5f);
    m.owns_params = 1;
    REQUIRE_OK(clip_weights_bind(&m.w, &cfg, &tab, m.params));
    *m.w.logit_scale = 1.0f;
    int B = 3;
    float *px = randv((size_t)B * 3 * 8 * 8, 1.f);
    int32_t ids[3 * 6] = {18, 5, 19, 0, 0, 0, 18, 7, 7, 3, 19, 0, 18, 19, 0, 0, 0, 0};
    clip_workspace ws;
    REQUIRE_OK(clip_workspace_alloc(&ws, &cfg, B));
    model_ctx c = {&ws, &m, px, ids, B};
    float *grad = zeros(tab.total);
    clip_weights gw;
    REQUIRE_OK(clip_weights_bind(&gw, &cfg, &tab, grad));
    float out, R = 1.f;
    model_fwd(&c, &out);
    CHECK(ws.T == 5); /* the longest caption's EOT is at position 4 */
    clip_backward(&ws, &gw, &m.w, ids, B);
    for (int i = 0; i < tab.n; i++) {
        const param_info *p = &tab.p[i];
        numcheck(p->name, model_fwd, &c, &out, 1, &R, m.params + p->offset, grad + p->offset, p->numel, 2e-3f);
    }
    clip_weights_free(&gw);
    clip_workspace_free(&ws);
    free(grad);
    free(px);
    clip_weights_free(&m.w);
    free(m.params);
    param_table_free(&tab);
}

TEST(gradcheck_whole_model_dropout) {
    /* Dropout 0.2 with a fixed seed: a deterministic function of the
     * parameters, so backward (which recomputes every mask) must match
     * finite differences on every tensor. */
    clipc_config cfg = {12, 8, 2, 12, 4, 3, 6, 20, 8, 2, 2, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    param_table tab;
    REQUIRE_OK(param_table_init(&cfg, &tab));
    clipc_model m = {0};
    m.cfg = cfg;
    m.tab = tab;
    m.params = randv(tab.total, 0.5f);
    m.owns_params = 1;
    REQUIRE_OK(clip_weights_bind(&m.w, &cfg, &tab, m.params));
    *m.w.logit_scale = 1.0f;
    int B = 3;
    float *px = randv((size_t)B * 3 * 8 * 8, 1.f);
    int32_t ids[3 * 6] = {18, 5, 19, 0, 0, 0, 18, 7, 7, 3, 19, 0, 18, 19, 0, 0, 0, 0};
    clip_workspace ws;
    REQUIRE_OK(clip_workspace_alloc(&ws, &cfg, B));
    model_ctx c = {&ws, &m, px, ids, B};
    float *grad = zeros(tab.total);
    clip_weights gw;
    REQUIRE_OK(clip_weights_bind(&gw, &cfg, &tab, grad));
    float out, R = 1.f, plain;
    model_fwd(&c, &plain);
    ws.dropout = 0.2f;
    ws.dropout_seed = 77;
    model_fwd(&c, &out);
    CHECKF(out != plain, "dropout 0.2 left the loss unchanged (%g)", out);
    clip_backward(&ws, &gw, &m.w, ids, B);
    for (int i = 0; i < tab.n; i++) {
        const param_info *p = &tab.p[i];
        numcheck(p->name, model_fwd, &c, &out, 1, &R, m.params + p->offset, grad + p->offset, p->numel, 2e-3f);
    }
    clip_weights_free(&gw);
    clip_workspace_free(&ws);
    free(grad);
    free(px);
    clip_weights_free(&m.w);
    free(m.params);
    param_table_free(&tab);
}

/* ------------------------------------- the tutorial ResNet's new layers */
typedef struct { float *x, *w, *b, *mean, *rstd; int N, C; } bnt_ctx;
static void bnt_fwd(void *p, float *out) {
    bnt_ctx *c = p;
    batchnorm_train_forward(out, c->mean, c->rstd, c->x, c->w, c->b, NULL, NULL, (size_t)c->N, c->C, NULL);
}
TEST(gradcheck_batchnorm_train_mode) {
    int N = 14, C = 5;
    size_t n = (size_t)N * C;
    bnt_ctx c = {randv(n, 2.f), randv(C, 1.f), randv(C, 0.5f), zeros(C), zeros(C), N, C};
    for (size_t i = 0; i < n; i++) c.x[i] += (float)(i % C); /* channel means away from 0 */
    float *out = zeros(n), *R = randv(n, 1.f), *dx = zeros(n), *dw = zeros(C), *db = zeros(C);
    bnt_fwd(&c, out);
    batchnorm_train_backward(dx, dw, db, R, c.x, c.w, c.mean, c.rstd, (size_t)N, C, NULL);
    numcheck("batchnorm train dx", bnt_fwd, &c, out, n, R, c.x, dx, n, 1e-2f);
    numcheck("batchnorm train dw", bnt_fwd, &c, out, n, R, c.w, dw, C, 1e-2f);
    numcheck("batchnorm train db", bnt_fwd, &c, out, n, R, c.b, db, C, 1e-2f);
    free(c.x); free(c.w); free(c.b); free(c.mean); free(c.rstd);
    free(out); free(R); free(dx); free(dw); free(db);
}

typedef struct { float *x; int B, H, W, C; } mp_ctx;
static void mp_fwd(void *p, float *out) {
    mp_ctx *c = p;
    maxpool_forward(out, c->x, c->B, c->H, c->W, c->C, 3, 2, 1);
}
TEST(gradcheck_maxpool_3x3_stride2_pad1) {
    mp_ctx c = {randv(2 * 7 * 6 * 3, 1.f), 2, 7, 6, 3};
    int Ho = maxpool_out(7, 3, 2, 1), Wo = maxpool_out(6, 3, 2, 1);
    CHECK(Ho == 4 && Wo == 3);
    size_t n = (size_t)2 * 7 * 6 * 3, no = (size_t)2 * Ho * Wo * 3;
    float *out = zeros(no), *R = randv(no, 1.f), *dx = zeros(n);
    mp_fwd(&c, out);
    maxpool_backward(dx, R, c.x, 2, 7, 6, 3, 3, 2, 1);
    numcheck("maxpool dx", mp_fwd, &c, out, no, R, c.x, dx, n, 1e-3f);
    /* Ties go to the first maximum in window order, as PyTorch's argmax. */
    float flat[1 * 2 * 2 * 1] = {1, 1, 1, 1}, g = 1, d[4];
    maxpool_backward(d, &g, flat, 1, 2, 2, 1, 3, 2, 1);
    CHECK(d[0] == 1 && d[1] == 0 && d[2] == 0 && d[3] == 0);
    free(c.x); free(out); free(R); free(dx);
}

typedef struct { float *x, *w, *cols; conv_shape s; } cv_ctx;
static void cv_fwd(void *p, float *out) {
    cv_ctx *c = p;
    conv2d_forward(out, c->cols, c->x, c->w, &c->s);
}
TEST(gradcheck_conv2d_strided_stem_and_downsample) {
    int shapes[2][4] = {{7, 2, 3, 3}, {1, 2, 0, 4}}; /* k, stride, pad, C: the stem; a 1x1 stride-2 shortcut */
    for (int t = 0; t < 2; t++) {
        cv_ctx c;
        conv_shape_set(&c.s, 2, 9, 8, shapes[t][3], 5, shapes[t][0], shapes[t][1], shapes[t][2]);
        size_t n = (size_t)2 * 9 * 8 * c.s.C, nw = (size_t)5 * c.s.C * c.s.k * c.s.k;
        size_t no = (size_t)2 * c.s.Ho * c.s.Wo * 5, nc = conv2d_cols_floats(&c.s);
        c.x = randv(n, 1.f), c.w = randv(nw, 0.3f), c.cols = zeros(nc);
        float *out = zeros(no), *R = randv(no, 1.f), *dx = zeros(n), *dw = zeros(nw), *dcols = zeros(nc);
        cv_fwd(&c, out);
        conv2d_backward(dx, dw, R, c.x, c.w, c.cols, dcols, &c.s);
        numcheck(t ? "conv 1x1/2 dx" : "conv 7x7/2 dx", cv_fwd, &c, out, no, R, c.x, dx, n, 1e-2f);
        numcheck(t ? "conv 1x1/2 dw" : "conv 7x7/2 dw", cv_fwd, &c, out, no, R, c.w, dw, nw, 1e-2f);
        free(c.x); free(c.w); free(c.cols); free(out); free(R); free(dx); free(dw); free(dcols);
    }
}

/* torchvision's Bottleneck with train-mode BatchNorm, stride 2 and a
 * downsample: every tensor of the block through the batch statistics. */
typedef struct { tv_bottleneck_acts a; float *x; bottleneck_weights w; bottleneck_scratch s; size_t nout; } tvb_ctx;
static void tvb_fwd(void *p, float *out) {
    tvb_ctx *c = p;
    tv_bottleneck_forward(&c->a, c->x, &c->w, &c->s);
    memcpy(out, c->a.out, c->nout * sizeof(float));
}
static void tvb_bn(bn_weights *b, bn_weights *g, int C) {
    b->w = randv(C, 0.5f), b->b = randv(C, 0.5f), b->mean = zeros(C), b->var = zeros(C);
    for (int i = 0; i < C; i++) b->w[i] += 1.0f, b->var[i] = 1.0f;
    g->w = zeros(C), g->b = zeros(C), g->mean = g->var = NULL;
}
static void tvb_bn_free(bn_weights *b) { free(b->w); free(b->b); free(b->mean); free(b->var); }
TEST(gradcheck_tv_bottleneck_train_batchnorm) {
    /* Its own draw, whatever ran before, and a small step: a step across a
     * ReLU's kink (of the 144 outputs) would spoil the difference quotient. */
    xs_state = 0x9e3779b97f4a7c15ull;
    tvb_ctx c;
    int B = 2, H = 6, Cin = 3, P = 2;
    size_t na = tv_bottleneck_plan(&c.a, B, H, H, Cin, P, 2, 1, 1);
    float *mem = zeros(na);
    tv_bottleneck_bind(&c.a, mem);
    CHECK(c.a.bn_train == 1 && c.a.Ho == 3);
    size_t n = (size_t)B * H * H * Cin, mx = tv_bottleneck_max_floats(&c.a), nc = tv_bottleneck_cols_floats(&c.a);
    c.nout = (size_t)B * 3 * 3 * 4 * P;
    c.x = randv(n, 1.f);
    bottleneck_weights g;
    c.w.conv1 = randv((size_t)P * Cin, 0.6f), g.conv1 = zeros((size_t)P * Cin);
    c.w.conv2 = randv((size_t)P * P * 9, 0.4f), g.conv2 = zeros((size_t)P * P * 9);
    c.w.conv3 = randv((size_t)4 * P * P, 0.6f), g.conv3 = zeros((size_t)4 * P * P);
    c.w.ds_conv = randv((size_t)4 * P * Cin, 0.6f), g.ds_conv = zeros((size_t)4 * P * Cin);
    tvb_bn(&c.w.bn1, &g.bn1, P), tvb_bn(&c.w.bn2, &g.bn2, P), tvb_bn(&c.w.bn3, &g.bn3, 4 * P);
    tvb_bn(&c.w.ds_bn, &g.ds_bn, 4 * P);
    c.s.cols = zeros(nc), c.s.dcols = zeros(nc), c.s.t1 = zeros(mx), c.s.t2 = zeros(mx), c.s.t3 = NULL;
    float *out = zeros(c.nout), *R = randv(c.nout, 1.f), *dout = zeros(c.nout), *dx = zeros(n);
    tvb_fwd(&c, out);
    memcpy(dout, R, c.nout * sizeof(float));
    tv_bottleneck_backward(dx, dout, &g, &c.a, c.x, &c.w, &c.s);
    numcheck("tv_bottleneck dx", tvb_fwd, &c, out, c.nout, R, c.x, dx, n, 5e-4f);
    numcheck("tv_bottleneck conv1", tvb_fwd, &c, out, c.nout, R, c.w.conv1, g.conv1, (size_t)P * Cin, 5e-4f);
    numcheck("tv_bottleneck conv2", tvb_fwd, &c, out, c.nout, R, c.w.conv2, g.conv2, (size_t)P * P * 9, 5e-4f);
    numcheck("tv_bottleneck conv3", tvb_fwd, &c, out, c.nout, R, c.w.conv3, g.conv3, (size_t)4 * P * P, 5e-4f);
    numcheck("tv_bottleneck ds conv", tvb_fwd, &c, out, c.nout, R, c.w.ds_conv, g.ds_conv, (size_t)4 * P * Cin, 5e-4f);
    numcheck("tv_bottleneck bn1.w", tvb_fwd, &c, out, c.nout, R, c.w.bn1.w, g.bn1.w, P, 5e-4f);
    numcheck("tv_bottleneck bn2.b", tvb_fwd, &c, out, c.nout, R, c.w.bn2.b, g.bn2.b, P, 5e-4f);
    numcheck("tv_bottleneck bn3.w", tvb_fwd, &c, out, c.nout, R, c.w.bn3.w, g.bn3.w, 4 * P, 5e-4f);
    numcheck("tv_bottleneck ds bn.b", tvb_fwd, &c, out, c.nout, R, c.w.ds_bn.b, g.ds_bn.b, 4 * P, 5e-4f);
    free(c.w.conv1); free(c.w.conv2); free(c.w.conv3); free(c.w.ds_conv);
    free(g.conv1); free(g.conv2); free(g.conv3); free(g.ds_conv);
    bn_weights *bw[4] = {&c.w.bn1, &c.w.bn2, &c.w.bn3, &c.w.ds_bn}, *bg[4] = {&g.bn1, &g.bn2, &g.bn3, &g.ds_bn};
    for (int i = 0; i < 4; i++) tvb_bn_free(bw[i]), free(bg[i]->w), free(bg[i]->b);
    free(c.s.cols); free(c.s.dcols); free(c.s.t1); free(c.s.t2);
    free(mem); free(c.x); free(out); free(R); free(dout); free(dx);
}

/* The whole torchvision tower with eval-mode BatchNorm (frozen statistics,
 * as when fine-tuning with model.eval()): stem, max pool, blocks, pool. */
typedef struct { tv_resnet_acts a; const float *px; const tv_resnet_weights *w; } tvr_ctx;
static void tvr_fwd(void *p, float *out) {
    tvr_ctx *c = p;
    tv_resnet_forward(&c->a, out, c->px, c->w, 2);
}
TEST(gradcheck_tv_resnet_tower_eval_batchnorm) {
    xs_state = 0x2545f4914f6cdd1dull;
    clipc_config cfg = {8, 32, 0, 2, 0, 0, 8, 100, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_TV_RESNET,
                        {1, 1, 1, 1}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    if (clipc_config_validate(&cfg)) cfg.head = CLIPC_HEAD_LINEAR; /* whichever head this build pairs with it */
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 5, &m));
    for (int i = 0; i < m->tab.n; i++) /* random statistics and affine maps, not 0/1 */
        if (m->tab.p[i].ndim == 1)
            for (size_t j = 0; j < m->tab.p[i].numel; j++)
                m->params[m->tab.p[i].offset + j] = strstr(m->tab.p[i].name, "running_var") || strstr(m->tab.p[i].name, ".weight")
                                                        ? 1.0f + 0.4f * frand() : 0.3f * frand();
    float *grads = zeros(m->tab.total);
    clip_weights g;
    REQUIRE_OK(clip_weights_bind(&g, &cfg, &m->tab, grads));
    tvr_ctx c;
    REQUIRE_OK(tv_resnet_acts_alloc(&c.a, &cfg, 2, 1));
    c.a.bn_train = 0;
    float *px = randv(2 * 3 * 32 * 32, 1.f);
    c.px = px, c.w = &m->w.v.tv;
    int D = tv_resnet_feat_dim(&cfg);
    float *out = zeros((size_t)2 * D), *R = randv((size_t)2 * D, 1.f);
    tvr_fwd(&c, out);
    tv_resnet_backward(&c.a, &g.v.tv, R, c.w, 2);
    const char *names[] = {"conv1.weight", "bn1.weight", "layer2.0.downsample.0.weight"};
    for (int k = 0; k < 3; k++) {
        char n[96];
        snprintf(n, sizeof n, "image_encoder.model.%s", names[k]);
        int i = param_table_find(&m->tab, n);
        REQUIRE(i >= 0);
        const param_info *p = &m->tab.p[i];
        numcheck(n, tvr_fwd, &c, out, (size_t)2 * D, R, m->params + p->offset, grads + p->offset, p->numel, 5e-4f);
    }
    tv_resnet_acts_free(&c.a);
    clip_weights_free(&g);
    clipc_model_free(m);
    free(grads); free(px); free(out); free(R);
}
