/*
 * test_model_load.c — how a model file becomes a config: head counts from
 * metadata, then config.json, then options, then OpenAI's width/64 rule
 * with a warning; shapes inferred from tensors; files recognised by content;
 * wrong shapes and missing tensors named in the error; save/load round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

static int n_warn;
static char last_warn[512];
static void count_warn(const char *msg, void *ud) {
    (void)ud;
    n_warn++;
    snprintf(last_warn, sizeof last_warn, "%s", msg);
}

/* Writes m's tensors with the given metadata (NULL = none) to path. */
static void write_with_meta(const clipc_model *m, const char *path, const char *const *meta, const char *skip,
                            int bad_shape) {
    st_out_tensor *t = calloc((size_t)m->tab.n, sizeof *t);
    int n = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (skip && !strcmp(p->name, skip)) continue;
        t[n].name = p->name;
        t[n].dtype = ST_F32;
        t[n].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[n].shape[d] = p->shape[d];
        if (bad_shape && !strcmp(p->name, "ln_final.weight")) t[n].shape[0] -= 1;
        t[n].data = m->params + p->offset;
        n++;
    }
    REQUIRE_OK(st_write(path, t, n, meta));
    free(t);
}

/* A file without metadata says no activation: the tests name QuickGELU. */
static const clipc_load_opts quickgelu = {.act_given = 1, .act = CLIPC_ACT_QUICKGELU};

static clipc_model *small_model(void) {
    /* Widths 96 and 128: width/64 gives 1 and 2 heads, the truth is 3 and 4. */
    clipc_config cfg = {32, 16, 1, 96, 8, 3, 12, 300, 128, 4, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 1, &m));
    return m;
}

TEST(model_heads_lookup_order) {
    clipc_model *m = small_model(), *l;
    const char *dir = test_tmpdir();
    char p[512], cj[512];
    /* 1. Saved by clipc: metadata has both head counts. */
    snprintf(p, sizeof p, "%s/m.safetensors", dir);
    REQUIRE_OK(clipc_model_save(m, p));
    clipc_load_opts o = {.warn = count_warn, .vision_heads = 7, .text_heads = 7, .act_given = 1};
    n_warn = 0;
    REQUIRE_OK(clipc_model_load(p, &o, &l));
    CHECK(l->cfg.vision_heads == 3 && l->cfg.transformer_heads == 4 && n_warn == 0);
    CHECK(!memcmp(&l->cfg, &m->cfg, sizeof m->cfg));
    CHECK(!memcmp(l->params, m->params, m->tab.total * sizeof(float)));
    CHECK(!l->owns_params); /* clipc's own files load without a copy */
    clipc_model_free(l);
    /* 2. No metadata, config.json beside the file. */
    snprintf(p, sizeof p, "%s/bare.safetensors", dir);
    write_with_meta(m, p, NULL, NULL, 0);
    snprintf(cj, sizeof cj, "%s/config.json", dir);
    const char *json = "{\"transformer_heads\": 4, \"derived\": {\"vision_heads\": 3}}";
    REQUIRE_OK(clipc_write_file_atomic(cj, json, strlen(json)));
    n_warn = 0;
    REQUIRE_OK(clipc_model_load(p, &o, &l));
    CHECK(l->cfg.vision_heads == 3 && l->cfg.transformer_heads == 4 && n_warn == 0);
    clipc_model_free(l);
    /* 3. Neither: the options. */
    remove(cj);
    REQUIRE_OK(clipc_model_load(p, &(clipc_load_opts){.warn = count_warn, .vision_heads = 3, .text_heads = 4, .act_given = 1}, &l));
    CHECK(l->cfg.vision_heads == 3 && l->cfg.transformer_heads == 4 && n_warn == 0);
    clipc_model_free(l);
    /* 4. Nothing: width/64 with a warning; shapes still inferred from tensors. */
    n_warn = 0;
    REQUIRE_OK(clipc_model_load(p, &(clipc_load_opts){.warn = count_warn, .act_given = 1}, &l));
    CHECK(l->cfg.vision_heads == 1 && l->cfg.transformer_heads == 2 && n_warn == 2);
    CHECK(strstr(last_warn, "width/64") != NULL);
    CHECK(l->cfg.image_resolution == 16 && l->cfg.context_length == 12 && l->cfg.vocab_size == 300 &&
          l->cfg.vision_layers == 1 && l->cfg.transformer_layers == 1 && l->cfg.embed_dim == 32);
    clipc_model_free(l);
    clipc_model_free(m);
}

TEST(model_load_errors_name_file_and_tensor) {
    clipc_model *m = small_model(), *l = NULL;
    const char *dir = test_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/missing.safetensors", dir);
    write_with_meta(m, p, NULL, "visual.ln_post.bias", 0);
    CHECK(clipc_model_load(p, &quickgelu, &l) == CLIPC_ERR_FORMAT && !l);
    CHECKF(strstr(clipc_last_error(), "missing.safetensors") && strstr(clipc_last_error(), "visual.ln_post.bias"),
           "%s", clipc_last_error());
    snprintf(p, sizeof p, "%s/shape.safetensors", dir);
    write_with_meta(m, p, NULL, NULL, 1);
    CHECK(clipc_model_load(p, &quickgelu, &l) != CLIPC_OK && !l);
    CHECKF(strstr(clipc_last_error(), "shape.safetensors") && strstr(clipc_last_error(), "ln_final.weight"), "%s",
           clipc_last_error());
    /* Metadata that contradicts the tensors. */
    snprintf(p, sizeof p, "%s/lies.safetensors", dir);
    const char *meta[] = {"embed_dim", "64", NULL};
    write_with_meta(m, p, meta, NULL, 0);
    CHECK(clipc_model_load(p, NULL, &l) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "embed_dim = 64"), "%s", clipc_last_error());
    /* Recognised by content, not by name. */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    REQUIRE_OK(clipc_write_file_atomic(p, "PK\x03\x04zipzipzip", 13));
    /* A zip is read as a PyTorch checkpoint (test_torch_pt.c); this one is broken. */
    CHECK(clipc_model_load(p, NULL, &l) == CLIPC_ERR_FORMAT &&
          strstr(clipc_last_error(), "model.safetensors: no zip end-of-central-directory record"));
    CHECK(clipc_model_load("tests/data/images/rgb_11x7.png", NULL, &l) == CLIPC_ERR_FORMAT &&
          strstr(clipc_last_error(), "an image"));
    CHECK(clipc_model_load("/nonexistent/x.safetensors", NULL, &l) == CLIPC_ERR_IO &&
          strstr(clipc_last_error(), "/nonexistent/x.safetensors"));
    clipc_model_free(m);
}

TEST(model_named_configs) {
    clipc_config c;
    REQUIRE_OK(clipc_config_named("seed-b16", &c));
    CHECK(c.image_resolution == 224 && c.vision_patch_size == 16 && c.vision_width == 768 && c.vision_layers == 12 &&
          c.vision_heads == 12 && c.vocab_size == 49408 && c.context_length == 77 && c.transformer_width == 512 &&
          c.transformer_layers == 8 && c.transformer_heads == 8 && c.embed_dim == 512);
    /* The peer's parameter count for seed-b16 is 137.0 M (shared/bench/README.md). */
    CHECK_NEAR(clipc_config_param_count(&c) / 1e6, 137.0, 0.05);
    REQUIRE_OK(clipc_config_named("b32", &c));
    CHECK_NEAR(clipc_config_param_count(&c) / 1e6, 151.3, 0.05);
    REQUIRE_OK(clipc_config_named("small", &c));
    CHECK_NEAR(clipc_config_param_count(&c) / 1e6, 20.8, 0.05);
    REQUIRE_OK(clipc_config_named("tiny", &c));
    CHECK_NEAR(clipc_config_param_count(&c) / 1e6, 7.8, 0.05);
    REQUIRE_OK(clipc_config_named("ViT-L-14", &c));
    CHECK(c.vision_width == 1024 && c.vision_layers == 24 && c.embed_dim == 768 && c.transformer_width == 768);
    CHECK(clipc_config_named("vit-b-99", &c) == CLIPC_ERR_INVALID && strstr(clipc_last_error(), "seed-b16"));
}
