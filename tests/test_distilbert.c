/*
 * test_distilbert.c — the DistilBERT text tower (nn/distilbert_tower.c)
 * against tests/data/goldens/distilbert_tiny.safetensors, made by
 * tools/make_distilbert_goldens.py with an independent PyTorch DistilBERT
 * written from Hugging Face's modeling_distilbert.py (HF's parameter names,
 * padded batch with the attention mask): every layer's hidden state, the
 * [CLS] output and every parameter's gradient for a random linear loss.
 * Also: packing is exact (more padding, one caption at a time: the same
 * bits), the parameter table's names and shapes, config validation,
 * dropout determinism and its backward by finite differences.
 * Tolerances are the shared README's: activations max|a - ref| <= 1e-4 *
 * max(1, max|ref|); gradients relative to the tensor's largest.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "model/keymap_distilbert.h"
#include "model/model.h"
#include "nn/distilbert_tower.h"
#include "nn/params.h"
#include "harness.h"

#define DB_GOLDEN "tests/data/goldens/distilbert_tiny.safetensors"

/* The golden's shape: width 32, 4 heads, 2 layers, vocab 64, 16 positions, T 12. */
static clipc_config db_config(void) {
    clipc_config c;
    clipc_config_named("tiny", &c);
    c.text_arch = CLIPC_TEXT_DISTILBERT;
    c.transformer_width = 32;
    c.transformer_heads = 4;
    c.transformer_layers = 2;
    c.vocab_size = 64;
    c.context_length = 12;
    c.text_positions = 16;
    c.act = CLIPC_ACT_GELU;
    return c;
}

typedef struct {
    clipc_config c;
    param_table tab;
    float *params, *grads;
    clip_weights w, g;
    st_file gold;
} db_fixture;

static double maxabs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* Parameters from the golden's w.<HF name> tensors. */
static int fixture_open(db_fixture *f) {
    memset(f, 0, sizeof *f);
    f->c = db_config();
    if (param_table_init(&f->c, &f->tab)) return 0;
    f->params = calloc(f->tab.total, sizeof(float));
    f->grads = calloc(f->tab.total, sizeof(float));
    if (st_open(DB_GOLDEN, &f->gold)) return 0;
    int loaded = 0;
    char name[160];
    for (int i = 0; i < f->tab.n; i++) {
        const param_info *p = &f->tab.p[i];
        if (strncmp(p->name, "text_encoder.model.", 19)) continue;
        snprintf(name, sizeof name, "w.%s", p->name + 19);
        const st_tensor *t = st_get(&f->gold, name);
        if (!t || t->numel != p->numel) return 0;
        memcpy(f->params + p->offset, t->data, p->numel * sizeof(float));
        loaded++;
    }
    if (loaded != 4 + 16 * f->c.transformer_layers) return 0;
    return !clip_weights_bind(&f->w, &f->c, &f->tab, f->params) && !clip_weights_bind(&f->g, &f->c, &f->tab, f->grads);
}

static void fixture_close(db_fixture *f) {
    clip_weights_free(&f->w);
    clip_weights_free(&f->g);
    free(f->params);
    free(f->grads);
    param_table_free(&f->tab);
    st_close(&f->gold);
}

static const float *gold(db_fixture *f, const char *name, size_t numel) {
    const st_tensor *t = st_get(&f->gold, name);
    if (!t || t->numel != numel) {
        CHECKF(0, "golden tensor %s missing or of the wrong size", name);
        return NULL;
    }
    return t->data;
}

TEST(distilbert_param_table_names_and_shapes) {
    clipc_config c = db_config();
    param_table t;
    REQUIRE_OK(param_table_init(&c, &t));
    int i = param_table_find(&t, "text_encoder.model.embeddings.position_embeddings.weight");
    REQUIRE(i >= 0);
    CHECK(t.p[i].shape[0] == 16 && t.p[i].shape[1] == 32 && t.p[i].group == PG_TEXT && !t.p[i].decay);
    i = param_table_find(&t, "text_encoder.model.transformer.layer.1.ffn.lin1.weight");
    REQUIRE(i >= 0);
    CHECK(t.p[i].shape[0] == 128 && t.p[i].shape[1] == 32 && t.p[i].layer == 1 && t.p[i].decay);
    CHECK(param_table_find(&t, "text_encoder.model.transformer.layer.0.attention.out_lin.bias") >= 0);
    CHECK(param_table_find(&t, "token_embedding.weight") < 0);
    CHECK(param_table_find(&t, "transformer.resblocks.0.ln_1.weight") < 0);
    size_t text = 0;
    for (int k = 0; k < t.n; k++)
        if (!strncmp(t.p[k].name, "text_encoder.model.", 19)) text += t.p[k].numel;
    /* HF DistilBertModel's count at this size: embeddings + 2 x (4 C(C+1) + 2 x 4C^2 + 5C + 4C) */
    size_t C = 32, layer = 4 * C * (C + 1) + 8 * C * C + 4 * C + C + 4 * C;
    CHECK(text == 64 * C + 16 * C + 2 * C + 2 * layer);
    /* training keeps every layer: 2 layers of 12C + 2NH + 4 floats per row, 12 x 32 rows */
    size_t tr = distilbert_acts_floats(&c, 1, 12, 1), inf = distilbert_acts_floats(&c, 1, 12, 0);
    CHECK(tr - inf == 12 * (12 * C + 8 + 4) + 12 * 12 * C - 2 * 12 * C);
    param_table_free(&t);
}

TEST(distilbert_config_validation) {
    clipc_config c = db_config();
    REQUIRE_OK(clipc_config_validate(&c));
    c.text_positions = 8;
    CHECK(clipc_config_validate(&c) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "text_positions 8 is smaller than context_length 12") != NULL);
    c = db_config();
    c.transformer_heads = 5;
    CHECK(clipc_config_validate(&c) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "transformer_width 32 is not divisible by transformer_heads 5") != NULL);
    c = db_config();
    c.text_positions = 0;
    CHECK(clipc_config_validate(&c) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "text_positions = 0 is out of range") != NULL);
}

/* Forward (inference and training acts) against every hidden state. */
TEST(distilbert_tiny_forward_matches_golden) {
    db_fixture f;
    if (!fixture_open(&f)) {
        fixture_close(&f);
        CHECKF(0, "cannot open %s or bind its weights", DB_GOLDEN);
        return;
    }
    int B = 3, T = 12, C = 32;
    const st_tensor *idt = st_get(&f.gold, "input_ids");
    REQUIRE(idt && idt->numel == (size_t)B * T);
    const int32_t *ids = idt->data;
    REQUIRE_OK(distilbert_check_ids(ids, B, T, &f.c));
    int32_t bad[2] = {2, 64};
    CHECK(distilbert_check_ids(bad, 1, 2, &f.c) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "token id 64 (caption 0, position 1) is outside the vocabulary [0, 64)") != NULL);
    CHECK(distilbert_seq_len(bad, 2) == 2 && distilbert_seq_len(ids + 12, 12) == 5);
    int32_t longrow[20] = {2};
    for (int i = 1; i < 17; i++) longrow[i] = 5 + i; /* 17 tokens, 16 positions */
    CHECK(distilbert_check_ids(longrow, 1, 20, &f.c) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "caption 0 has 17 tokens, more than the 16 positions") != NULL);
    longrow[16] = 0;
    CHECK(distilbert_check_ids(longrow, 1, 20, &f.c) == CLIPC_OK);
    const float *rcls = gold(&f, "cls", (size_t)B * C);
    REQUIRE(rcls);
    double tol = 1e-4 * fmax(1.0, maxabs(rcls, (size_t)B * C));
    for (int training = 0; training <= 1; training++) {
        distilbert_acts a;
        REQUIRE_OK(distilbert_acts_alloc(&a, &f.c, B, T, training));
        float cls[3 * 32];
        distilbert_forward(&a, cls, ids, &f.w.t.db, &f.c, B, T);
        double d = 0;
        for (int i = 0; i < B * C; i++) d = fmax(d, fabs(cls[i] - rcls[i]));
        CHECKF(d <= tol, "training %d: [CLS] differs by %.3g (tol %.3g)", training, d, tol);
        CHECK(a.off[1] == 9 && a.off[2] == 14 && a.off[3] == 26); /* lengths 9, 5, 12 packed */
        if (training) { /* every layer's hidden state at the non-pad positions */
            char name[32];
            for (int l = 0; l <= f.c.transformer_layers; l++) {
                snprintf(name, sizeof name, "hidden.%d", l);
                const float *ref = gold(&f, name, (size_t)B * T * C);
                const float *mine = l == 0 ? a.x0 : a.layers[l - 1].out;
                double dl = 0, m = 0;
                for (int b = 0; b < B; b++)
                    for (int t = 0; t < a.off[b + 1] - a.off[b]; t++)
                        for (int i = 0; i < C; i++) {
                            double r = ref[((size_t)b * T + t) * C + i];
                            dl = fmax(dl, fabs(mine[((size_t)a.off[b] + t) * C + i] - r));
                            m = fmax(m, fabs(r));
                        }
                CHECKF(dl <= 1e-4 * fmax(1, m), "%s differs by %.3g", name, dl);
            }
        }
        distilbert_acts_free(&a);
    }
    fixture_close(&f);
}

/* Runs the forward of B rows with stride T into cls. */
static void run_cls(db_fixture *f, float *cls, const int32_t *ids, int B, int T) {
    distilbert_acts a;
    if (distilbert_acts_alloc(&a, &f->c, B, T, 0)) return;
    distilbert_forward(&a, cls, ids, &f->w.t.db, &f->c, B, T);
    distilbert_acts_free(&a);
}

/* Packing is exact: 8 more pads per row, or each caption alone, give the
 * same bits as the batch. */
TEST(distilbert_padded_and_packed_agree) {
    db_fixture f;
    if (!fixture_open(&f)) {
        fixture_close(&f);
        CHECKF(0, "cannot open %s", DB_GOLDEN);
        return;
    }
    int B = 3, T = 12, T2 = 20, C = 32;
    const int32_t *ids = st_get(&f.gold, "input_ids")->data;
    int32_t wide[3 * 20] = {0};
    for (int b = 0; b < B; b++) memcpy(wide + b * T2, ids + b * T, (size_t)T * sizeof(int32_t));
    float c1[3 * 32], c2[3 * 32], c3[32];
    run_cls(&f, c1, ids, B, T);
    f.c.context_length = T2; /* the position table (16) need not cover the pads: they never run */
    run_cls(&f, c2, wide, B, T2);
    CHECK(!memcmp(c1, c2, sizeof c1));
    /* Alone, the GEMMs see other shapes (gemm_f32 blocks by shape): the same
     * values up to float32 rounding. */
    for (int b = 0; b < B; b++) {
        run_cls(&f, c3, ids + b * T, 1, T);
        double d = 0;
        for (int i = 0; i < C; i++) d = fmax(d, fabs(c3[i] - c1[b * C + i]));
        CHECKF(d <= 1e-5 * fmax(1, maxabs(c1 + b * C, (size_t)C)), "caption %d alone differs by %.3g", b, d);
    }
    fixture_close(&f);
}

/* Backward: every parameter's gradient of sum(cls * dcls). */
TEST(distilbert_tiny_gradients_match_golden) {
    db_fixture f;
    if (!fixture_open(&f)) {
        fixture_close(&f);
        CHECKF(0, "cannot open %s", DB_GOLDEN);
        return;
    }
    int B = 3, T = 12, C = 32;
    const int32_t *ids = st_get(&f.gold, "input_ids")->data;
    const float *dcls = gold(&f, "dcls", (size_t)B * C);
    REQUIRE(dcls);
    distilbert_acts a;
    REQUIRE_OK(distilbert_acts_alloc(&a, &f.c, B, T, 1));
    float cls[3 * 32];
    distilbert_forward(&a, cls, ids, &f.w.t.db, &f.c, B, T);
    distilbert_backward(&a, &f.g.t.db, dcls, ids, &f.w.t.db, &f.c, B);
    int checked = 0;
    double worst = 0;
    char name[160];
    for (int i = 0; i < f.tab.n; i++) {
        const param_info *p = &f.tab.p[i];
        if (strncmp(p->name, "text_encoder.model.", 19)) continue;
        snprintf(name, sizeof name, "grad.%s", p->name + 19);
        const float *ref = gold(&f, name, p->numel);
        if (!ref) continue;
        double d = 0, m = maxabs(ref, p->numel);
        for (size_t k = 0; k < p->numel; k++) d = fmax(d, fabs(f.grads[p->offset + k] - ref[k]));
        checked++;
        if (strstr(p->name, "k_lin.bias")) {
            /* Its true gradient is 0 (softmax ignores a constant added to a
             * row's scores): both sides hold rounding noise, which must stay
             * far below the key weight's gradient (checked next to it). */
            snprintf(name, sizeof name, "grad.%.*sweight", (int)(strlen(p->name + 19) - 4), p->name + 19);
            double kw = maxabs(gold(&f, name, (size_t)C * C), (size_t)C * C);
            CHECKF(m <= 1e-5 * kw && maxabs(f.grads + p->offset, p->numel) <= 1e-5 * kw,
                   "%s: |gradient| %.3g, not noise next to the weight's %.3g", p->name, m, kw);
            continue;
        }
        worst = fmax(worst, d / fmax(m, 1e-30));
        CHECKF(d <= 1e-4 * m, "%s: gradient differs by %.3g (max %.3g)", p->name, d, m);
    }
    CHECK(checked == 4 + 16 * f.c.transformer_layers);
    printf("    worst gradient difference %.3g of the tensor's largest\n", worst);
    distilbert_acts_free(&a);
    fixture_close(&f);
}

/* sum(cls * R) with dropout for the current parameters. */
static double drop_loss(db_fixture *f, distilbert_acts *a, const int32_t *ids, const float *R, int B, int T) {
    float cls[3 * 32];
    distilbert_forward(a, cls, ids, &f->w.t.db, &f->c, B, T);
    double s = 0;
    for (int i = 0; i < B * 32; i++) s += (double)cls[i] * R[i];
    return s;
}

/* Dropout: the same seed gives the same bits, another seed other values,
 * and the backward through every dropout site matches central differences
 * (double-precision loss over float32 forwards: relative 2e-2 of the
 * tensor's largest gradient, as test_gradcheck.c). */
TEST(distilbert_dropout_deterministic_and_gradcheck) {
    db_fixture f;
    if (!fixture_open(&f)) {
        fixture_close(&f);
        CHECKF(0, "cannot open %s", DB_GOLDEN);
        return;
    }
    int B = 3, T = 12, C = 32;
    const int32_t *ids = st_get(&f.gold, "input_ids")->data;
    const float *R = gold(&f, "dcls", (size_t)B * C);
    distilbert_acts a;
    REQUIRE_OK(distilbert_acts_alloc(&a, &f.c, B, T, 1));
    a.dropout = 0.3f;
    a.dropout_seed = 11;
    double l1 = drop_loss(&f, &a, ids, R, B, T), l2 = drop_loss(&f, &a, ids, R, B, T);
    CHECK(l1 == l2);
    a.dropout_seed = 12;
    CHECK(drop_loss(&f, &a, ids, R, B, T) != l1);
    a.dropout_seed = 11;
    drop_loss(&f, &a, ids, R, B, T);
    memset(f.grads, 0, f.tab.total * sizeof(float));
    distilbert_backward(&a, &f.g.t.db, R, ids, &f.w.t.db, &f.c, B);
    const char *probe[] = {"embeddings.word_embeddings.weight", "embeddings.LayerNorm.weight",
                           "transformer.layer.0.attention.k_lin.weight", "transformer.layer.0.attention.q_lin.bias",
                           "transformer.layer.1.attention.v_lin.weight", "transformer.layer.1.ffn.lin1.weight",
                           "transformer.layer.0.ffn.lin2.bias", "transformer.layer.1.sa_layer_norm.bias"};
    char name[160];
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        snprintf(name, sizeof name, "text_encoder.model.%s", probe[k]);
        int i = param_table_find(&f.tab, name);
        REQUIRE(i >= 0);
        const param_info *p = &f.tab.p[i];
        float *x = f.params + p->offset, *g = f.grads + p->offset;
        double gmax = maxabs(g, p->numel), worst = 0;
        CHECKF(gmax > 0, "%s has no gradient", name);
        for (int s = 0; s < 6; s++) {
            size_t j = (size_t)(s * 2654435761u) % p->numel;
            float keep = x[j], eps = 1e-2f;
            x[j] = keep + eps;
            double lp = drop_loss(&f, &a, ids, R, B, T);
            x[j] = keep - eps;
            double lm = drop_loss(&f, &a, ids, R, B, T);
            x[j] = keep;
            double num = (lp - lm) / (2.0 * eps);
            worst = fmax(worst, fabs(num - g[j]));
        }
        CHECKF(worst <= 2e-2 * gmax + 5e-4, "%s: finite differences differ by %.3g (max gradient %.3g)", name, worst,
               gmax);
    }
    distilbert_acts_free(&a);
    fixture_close(&f);
}

/* Random init as HF's _init_weights: N(0, 0.02) matrices and embeddings,
 * biases 0, LayerNorms 1/0, the [PAD] row of the word embedding 0. */
TEST(distilbert_init_as_hf) {
    clipc_config c = db_config();
    c.transformer_width = 64;
    c.vocab_size = 500;
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&c, 5, &m));
    const param_table *t = &m->tab;
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        const param_info *p = &t->p[i];
        if (strncmp(p->name, "text_encoder.model.", 19)) continue;
        const float *x = m->params + p->offset;
        double s = 0, s2 = 0;
        for (size_t k = 0; k < p->numel; k++) s += x[k], s2 += (double)x[k] * x[k];
        double mean = s / p->numel, sd = sqrt(s2 / p->numel - mean * mean);
        int ln = strstr(p->name, "LayerNorm.") || strstr(p->name, "layer_norm.");
        if (ln && strstr(p->name, ".weight")) CHECKF(mean == 1 && sd == 0, "%s is not all 1", p->name);
        else if (strstr(p->name, ".bias")) CHECKF(s2 == 0, "%s is not all 0", p->name);
        else CHECKF(fabs(sd - 0.02) < 0.002, "%s: std %.4f, not 0.02", p->name, sd);
        n++;
    }
    CHECK(n == 4 + 16 * c.transformer_layers);
    int w = param_table_find(t, "text_encoder.model.embeddings.word_embeddings.weight");
    REQUIRE(w >= 0);
    CHECK(maxabs(m->params + t->p[w].offset, 64) == 0 && maxabs(m->params + t->p[w].offset + 64, 64) > 0);
    clipc_model_free(m);
}

/* Writes the golden's encoder under `prefix` (+ extra tensors) to path;
 * drop: a tensor name to leave out (or NULL). */
static void write_layout(db_fixture *f, const char *path, const char *prefix, int heads, const char *drop) {
    st_out_tensor t[80];
    char names[80][128];
    int n = 0;
    static const float head[4 * 32] = {0};
    static const int64_t pos_ids[12] = {0};
    for (int k = 0; k < f->gold.n_tensors; k++) {
        const st_tensor *g = &f->gold.tensors[k];
        if (strncmp(g->name, "w.", 2) || (drop && !strcmp(g->name + 2, drop))) continue;
        snprintf(names[n], sizeof names[n], "%s%s", prefix, g->name + 2);
        t[n] = (st_out_tensor){names[n], ST_F32, g->ndim, {g->shape[0], g->shape[1]}, g->data};
        n++;
    }
    if (heads) { /* DistilBertForMaskedLM's head, ignored */
        t[n++] = (st_out_tensor){"vocab_transform.weight", ST_F32, 2, {2, 32}, head};
        t[n++] = (st_out_tensor){"vocab_projector.bias", ST_F32, 1, {64}, head};
        t[n++] = (st_out_tensor){"distilbert.embeddings.position_ids", ST_I64, 2, {1, 12}, pos_ids};
    }
    if (st_write(path, t, n, NULL)) CHECKF(0, "cannot write %s: %s", path, clipc_last_error());
}

static int warnings;
static void count_warn(const char *msg, void *ud) {
    (void)ud;
    (void)msg;
    warnings++;
}

/* HF DistilBertModel and DistilBertForMaskedLM files load onto
 * text_encoder.model.*: every value as written, heads ignored. */
TEST(distilbert_keymap_hf_layouts) {
    db_fixture f;
    if (!fixture_open(&f)) {
        fixture_close(&f);
        CHECKF(0, "cannot open %s", DB_GOLDEN);
        return;
    }
    char path[512];
    const char *prefixes[] = {"", "distilbert."};
    clipc_load_opts opts = {0};
    opts.warn = count_warn;
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/db_%d.safetensors", test_tmpdir(), k);
        write_layout(&f, path, prefixes[k], k, NULL);
        st_file in;
        REQUIRE_OK(st_open(path, &in));
        CHECK(keymap_is_distilbert(&in));
        clipc_config c = db_config();
        c.vocab_size = c.transformer_width = c.transformer_layers = c.text_positions = 0;
        REQUIRE_OK(keymap_distilbert_shapes(&in, path, &c));
        CHECK(c.vocab_size == 64 && c.transformer_width == 32 && c.transformer_layers == 2 &&
              c.text_positions == 16 && c.text_arch == CLIPC_TEXT_DISTILBERT);
        float *dst = calloc(f.tab.total, sizeof(float));
        warnings = 0;
        REQUIRE_OK(keymap_distilbert_gather(&in, path, &f.tab, dst, &opts));
        CHECK(warnings == 0);
        CHECK(!memcmp(dst, f.params, f.tab.total * sizeof(float))); /* the vision tower stays 0 in both */
        free(dst);
        st_close(&in);
    }
    char out[128];
    CHECK(keymap_distilbert_name("distilbert.transformer.layer.3.ffn.lin2.bias", out, sizeof out) == 1);
    CHECK(!strcmp(out, "text_encoder.model.transformer.layer.3.ffn.lin2.bias"));
    CHECK(keymap_distilbert_name("text_encoder.model.embeddings.LayerNorm.weight", out, sizeof out) == 1);
    CHECK(!strcmp(out, "text_encoder.model.embeddings.LayerNorm.weight"));
    CHECK(keymap_distilbert_name("vocab_layer_norm.weight", out, sizeof out) == 0);
    CHECK(keymap_distilbert_name("bert.pooler.dense.weight", out, sizeof out) == -1);
    /* a missing tensor is named */
    snprintf(path, sizeof path, "%s/db_missing.safetensors", test_tmpdir());
    write_layout(&f, path, "distilbert.", 0, "transformer.layer.1.ffn.lin1.bias");
    st_file in;
    REQUIRE_OK(st_open(path, &in));
    float *dst = calloc(f.tab.total, sizeof(float));
    CHECK(keymap_distilbert_gather(&in, path, &f.tab, dst, &opts) == CLIPC_ERR_FORMAT);
    CHECK(strstr(clipc_last_error(), "tensor 'transformer.layer.1.ffn.lin1.bias' is missing") != NULL);
    free(dst);
    st_close(&in);
    /* a wrong shape: a config with 32 positions against the file's 16 */
    param_table t2;
    clipc_config c2 = db_config();
    c2.text_positions = 32;
    REQUIRE_OK(param_table_init(&c2, &t2));
    snprintf(path, sizeof path, "%s/db_0.safetensors", test_tmpdir());
    REQUIRE_OK(st_open(path, &in));
    dst = calloc(t2.total, sizeof(float));
    CHECK(keymap_distilbert_gather(&in, path, &t2, dst, &opts) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "tensor 'embeddings.position_embeddings.weight' has shape [16, 32], "
                                      "expected [32, 32]") != NULL, "got %s", clipc_last_error());
    free(dst);
    st_close(&in);
    param_table_free(&t2);
    fixture_close(&f);
}

/* A training step's bits do not depend on the thread count (exact resume
 * relies on it): forward with dropout and backward, 1 thread vs 3. */
TEST(distilbert_bits_independent_of_threads) {
    clipc_config c = db_config();
    c.transformer_width = 96;
    c.transformer_heads = 6;
    c.vocab_size = 300;
    c.context_length = 40;
    c.text_positions = 64;
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&c, 9, &m));
    int B = 12, T = 40, C = 96;
    int32_t ids[12 * 40] = {0};
    for (int b = 0; b < B; b++) {
        int n = 3 + (b * 7) % 37;
        for (int t = 0; t < n; t++) ids[b * T + t] = t == 0 ? 2 : t == n - 1 ? 3 : 4 + (b * 31 + t * 17) % 296;
    }
    float *grads[2], cls[2][12 * 96], dcls[12 * 96];
    for (int i = 0; i < B * C; i++) dcls[i] = (float)((i * 37) % 11 - 5) * 0.1f;
    int saved = clipc_get_threads();
    for (int k = 0; k < 2; k++) {
        clipc_set_threads(k ? 3 : 1);
        grads[k] = calloc(m->tab.total, sizeof(float));
        clip_weights g;
        REQUIRE_OK(clip_weights_bind(&g, &c, &m->tab, grads[k]));
        distilbert_acts a;
        REQUIRE_OK(distilbert_acts_alloc(&a, &c, B, T, 1));
        a.dropout = 0.1f;
        a.dropout_seed = 77;
        distilbert_forward(&a, cls[k], ids, &m->w.t.db, &c, B, T);
        distilbert_backward(&a, &g.t.db, dcls, ids, &m->w.t.db, &c, B);
        distilbert_acts_free(&a);
        clip_weights_free(&g);
    }
    clipc_set_threads(saved);
    CHECK(!memcmp(cls[0], cls[1], sizeof cls[0]));
    CHECK(!memcmp(grads[0], grads[1], m->tab.total * sizeof(float)));
    CHECK(maxabs(grads[0], m->tab.total) > 0);
    free(grads[0]);
    free(grads[1]);
    clipc_model_free(m);
}
