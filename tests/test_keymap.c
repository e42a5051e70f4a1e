/*
 * test_keymap.c — files in other layouts load as the same model: Hugging
 * Face CLIPModel (q/k/v split, transposed projections, config.json) made
 * from the shared vit_tiny encodes bit for bit as the OpenAI file; the
 * converter's key set for ViT-B/32 equals the list written from
 * transformers' module tree (tests/data/hf_clip_vit_b32_keys.txt); an
 * open_clip GELU model with open_clip_config.json encodes as the same
 * weights loaded with --act gelu; the activation is never guessed silently.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "model/config_file.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

static int n_warn;
static char warns[4096];
static void keep_warn(const char *msg, void *ud) {
    (void)ud;
    n_warn++;
    snprintf(warns + strlen(warns), sizeof warns - strlen(warns), "%s\n", msg);
}
static void reset_warn(void) {
    n_warn = 0;
    warns[0] = 0;
}

/* Embeddings of n images and n texts (ids [n, ctx]) into img, txt. */
static void encode_both(const clipc_model *m, const float *px, const int32_t *ids, int n, float *img, float *txt) {
    REQUIRE_OK(clipc_encode_image(m, px, n, img));
    REQUIRE_OK(clipc_encode_text(m, ids, n, txt));
}

/* m's tensors with OpenAI's names and no metadata at all. */
static void write_bare(const clipc_model *m, const char *path) {
    st_out_tensor *t = calloc((size_t)m->tab.n, sizeof *t);
    REQUIRE(t);
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = m->params + p->offset;
    }
    REQUIRE_OK(st_write(path, t, m->tab.n, NULL));
    free(t);
}

static void write_text(const char *path, const char *text) {
    REQUIRE_OK(clipc_write_file_atomic(path, text, strlen(text)));
}

TEST(keymap_hf_vit_tiny_encodes_equal) {
    const char *ref = shared_path("reference/openai_clip/vit_tiny");
    if (!ref) SKIP("../shared/reference not found");
    char p[1024], hf[1024], cj[1024], want[1200];
    snprintf(p, sizeof p, "%s/weights.safetensors", ref);
    clipc_model *o, *h;
    REQUIRE_OK(clipc_model_load(p, NULL, &o));
    const char *dir = test_tmpdir();
    snprintf(hf, sizeof hf, "%s/model.safetensors", dir);
    snprintf(cj, sizeof cj, "%s/config.json", dir);
    REQUIRE_OK(clipc_model_export(o, hf, CLIPC_LAYOUT_HF, CLIPC_DTYPE_F32));
    /* The layout itself, checked on the file: q_proj is in_proj's first C
     * rows, v_proj its last; visual_projection is visual.proj transposed. */
    st_file f;
    REQUIRE_OK(st_open(hf, &f));
    CHECK(f.n_tensors == 78); /* 62 OpenAI tensors, 8 in_proj split in 3: 62 + 16 */
    const st_tensor *q = st_get(&f, "text_model.encoder.layers.1.self_attn.q_proj.weight");
    const st_tensor *v = st_get(&f, "vision_model.encoder.layers.0.self_attn.v_proj.bias");
    const st_tensor *vp = st_get(&f, "visual_projection.weight");
    REQUIRE(q && v && vp && vp->shape[0] == 64 && vp->shape[1] == 64);
    const float *in_w = o->w.t.blocks[1].in_proj_w, *in_b = o->w.v.blocks[0].in_proj_b;
    CHECK(!memcmp(q->data, in_w, 64 * 64 * sizeof(float)));
    CHECK(!memcmp(v->data, in_b + 128, 64 * sizeof(float)));
    const float *vpd = vp->data;
    int transposed = 1;
    for (int e = 0; e < 64; e++)
        for (int w = 0; w < 64; w++) transposed &= vpd[e * 64 + w] == o->w.v.proj[w * 64 + e];
    CHECK(transposed);
    CHECK(st_get(&f, "vision_model.pre_layrnorm.weight") && !st_get(&f, "visual.proj"));
    /* Files saved by older transformers also hold the position_ids buffers
     * (I64): the same tensors plus those two load without a word. */
    char old_dir[600], old_p[700], old_cj[700];
    snprintf(old_dir, sizeof old_dir, "%s/old", dir);
    REQUIRE(mkdir(old_dir, 0700) == 0);
    st_out_tensor *ot = calloc((size_t)f.n_tensors + 2, sizeof *ot);
    REQUIRE(ot);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *x = &f.tensors[i];
        ot[i] = (st_out_tensor){.name = x->name, .dtype = x->dtype, .ndim = x->ndim, .data = x->data};
        memcpy(ot[i].shape, x->shape, sizeof x->shape);
    }
    int64_t tpos[77], vpos[17];
    for (int i = 0; i < 77; i++) tpos[i] = i, vpos[i % 17] = i % 17;
    ot[f.n_tensors] = (st_out_tensor){"text_model.embeddings.position_ids", ST_I64, 2, {1, 77}, tpos};
    ot[f.n_tensors + 1] = (st_out_tensor){"vision_model.embeddings.position_ids", ST_I64, 2, {1, 17}, vpos};
    snprintf(old_p, sizeof old_p, "%s/pytorch_model.safetensors", old_dir);
    REQUIRE_OK(st_write(old_p, ot, f.n_tensors + 2, NULL));
    free(ot);
    char *cjd;
    size_t cjl;
    REQUIRE_OK(clipc_read_file(cj, &cjd, &cjl));
    snprintf(old_cj, sizeof old_cj, "%s/config.json", old_dir);
    REQUIRE_OK(clipc_write_file_atomic(old_cj, cjd, cjl));
    free(cjd);
    reset_warn();
    REQUIRE_OK(clipc_model_load(old_p, &(clipc_load_opts){.warn = keep_warn}, &h));
    CHECKF(n_warn == 0, "%s", warns);
    CHECK(!memcmp(h->params, o->params, o->tab.total * sizeof(float)));
    clipc_model_free(h);
    /* A missing or misshapen tensor: the error names the layout and the HF name. */
    for (int i = 0; i < f.n_tensors; i++)
        if (!strcmp(f.tensors[i].name, "vision_model.encoder.layers.1.self_attn.k_proj.bias")) {
            ot = calloc((size_t)f.n_tensors, sizeof *ot);
            REQUIRE(ot);
            for (int j = 0; j < f.n_tensors; j++) {
                const st_tensor *x = &f.tensors[j];
                ot[j] = (st_out_tensor){.name = x->name, .dtype = x->dtype, .ndim = x->ndim, .data = x->data};
                memcpy(ot[j].shape, x->shape, sizeof x->shape);
            }
            ot[i].shape[0] = 32; /* half of it */
            REQUIRE_OK(st_write(old_p, ot, f.n_tensors, NULL));
            CHECK(clipc_model_load(old_p, NULL, &h) == CLIPC_ERR_FORMAT);
            snprintf(want, sizeof want, "%s (Hugging Face CLIPModel layout): tensor "
                     "'vision_model.encoder.layers.1.self_attn.k_proj.bias' has shape [32], expected [64]", old_p);
            CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
            ot[i] = ot[f.n_tensors - 1];
            REQUIRE_OK(st_write(old_p, ot, f.n_tensors - 1, NULL));
            CHECK(clipc_model_load(old_p, NULL, &h) == CLIPC_ERR_FORMAT);
            snprintf(want, sizeof want, "%s (Hugging Face CLIPModel layout): tensor "
                     "'vision_model.encoder.layers.1.self_attn.k_proj.bias' is missing", old_p);
            CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
            free(ot);
        }
    st_close(&f);
    /* Loaded back: same parameters, same embeddings, bit for bit. */
    reset_warn();
    REQUIRE_OK(clipc_model_load(hf, &(clipc_load_opts){.warn = keep_warn}, &h));
    CHECKF(n_warn == 0, "%s", warns);
    clipc_model_origins org = clipc_model_origin(h);
    CHECK(org.layout == CLIPC_LAYOUT_HF && org.act == CLIPC_FROM_CONFIG_JSON &&
          org.vision_heads == CLIPC_FROM_CONFIG_JSON && org.text_heads == CLIPC_FROM_CONFIG_JSON);
    CHECK(!memcmp(&h->cfg, &o->cfg, sizeof o->cfg));
    CHECK(h->tab.total == o->tab.total && !memcmp(h->params, o->params, o->tab.total * sizeof(float)));
    snprintf(p, sizeof p, "%s/inputs/inputs.safetensors", ref);
    st_file in;
    REQUIRE_OK(st_open(p, &in));
    const st_tensor *px = st_get(&in, "pixel_values"), *ids = st_get(&in, "input_ids");
    REQUIRE(px && ids && ids->dtype == ST_I32 && ids->shape[0] >= 4);
    float a[2][4 * 64], b[2][4 * 64];
    encode_both(o, px->data, ids->data, 4, a[0], a[1]);
    encode_both(h, px->data, ids->data, 4, b[0], b[1]);
    CHECK(!memcmp(a, b, sizeof a));
    clipc_model_free(h);
    /* Without config.json: heads by width/64 (warned), and no activation:
     * refused naming --act; given, it loads as the same model. */
    remove(cj);
    CHECK(clipc_model_load(hf, NULL, &h) == CLIPC_ERR_INVALID && strstr(clipc_last_error(), "--act quickgelu|gelu"));
    REQUIRE_OK(clipc_model_load(hf, &(clipc_load_opts){.act_given = 1, .vision_heads = 1, .text_heads = 4}, &h));
    encode_both(h, px->data, ids->data, 4, b[0], b[1]);
    CHECK(!memcmp(a, b, sizeof a));
    clipc_model_free(h);
    /* config.json values clipc cannot honour are refused, naming them. */
    write_text(cj, "{\"projection_dim\": 64, \"text_config\": {\"hidden_size\": 64, \"num_hidden_layers\": 2,"
                   " \"intermediate_size\": 256, \"num_attention_heads\": 4, \"max_position_embeddings\": 77,"
                   " \"layer_norm_eps\": 1e-6}, \"vision_config\": {\"hidden_size\": 64, \"num_hidden_layers\": 2,"
                   " \"intermediate_size\": 256, \"num_attention_heads\": 1, \"patch_size\": 8, \"image_size\": 32}}");
    CHECK(clipc_model_load(hf, NULL, &h) == CLIPC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want, "%s: text_config.layer_norm_eps = 1e-06; clipc's layer norms use 1e-5 only", cj);
    CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    const char *tc = "{\"projection_dim\": 64, \"text_config\": {\"hidden_size\": 64, \"num_hidden_layers\": 2,"
                     " \"intermediate_size\": 256, \"num_attention_heads\": 4, \"max_position_embeddings\": 77,"
                     " \"hidden_act\": \"%s\"}, \"vision_config\": {\"hidden_size\": 64, \"num_hidden_layers\": %d,"
                     " \"intermediate_size\": 256, \"num_attention_heads\": 1, \"patch_size\": 8, \"image_size\": 32}}";
    char js[1024];
    snprintf(js, sizeof js, tc, "gelu_new", 2);
    write_text(cj, js);
    CHECK(clipc_model_load(hf, NULL, &h) == CLIPC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want, "%s: text_config.hidden_act = 'gelu_new'; clipc runs \"quick_gelu\" and \"gelu\" "
             "(exact erf GELU) only", cj);
    CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    snprintf(js, sizeof js, tc, "quick_gelu", 3);
    write_text(cj, js);
    CHECK(clipc_model_load(hf, NULL, &h) == CLIPC_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: vision_config.num_hidden_layers = 3 but the model's tensors say 2 (a config of "
             "another model?)", cj);
    CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    /* The same config, right: loads (a hand-written config, as on the hub). */
    snprintf(js, sizeof js, tc, "quick_gelu", 2);
    write_text(cj, js);
    REQUIRE_OK(clipc_model_load(hf, NULL, &h));
    encode_both(h, px->data, ids->data, 4, b[0], b[1]);
    CHECK(!memcmp(a, b, sizeof a));
    clipc_model_free(h);
    st_close(&in);
    clipc_model_free(o);
}

/* The converter's Hugging Face key set for OpenAI's ViT-B/32 shapes equals
 * the list written from transformers' source (tools/hf_clip_keys.py). */
TEST(keymap_hf_b32_key_set) {
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("ViT-B-32", &cfg));
    param_table tab;
    REQUIRE_OK(param_table_init(&cfg, &tab));
    st_out_tensor *t;
    char(*names)[96];
    int n;
    REQUIRE_OK(model_export_keys(&tab, CLIPC_LAYOUT_HF, &t, &names, &n));
    char **mine = calloc((size_t)n, sizeof *mine);
    REQUIRE(mine);
    for (int i = 0; i < n; i++) {
        char line[256];
        int k = snprintf(line, sizeof line, "%s\tF32\t[", t[i].name);
        for (int d = 0; d < t[i].ndim; d++) k += snprintf(line + k, sizeof line - k, "%s%lld", d ? ", " : "", (long long)t[i].shape[d]);
        snprintf(line + k, sizeof line - k, "]");
        mine[i] = strdup(line);
    }
    for (int i = 1; i < n; i++) /* sort (insertion: 398 lines) */
        for (int j = i; j > 0 && strcmp(mine[j - 1], mine[j]) > 0; j--) {
            char *x = mine[j];
            mine[j] = mine[j - 1];
            mine[j - 1] = x;
        }
    char *data;
    size_t len;
    REQUIRE_OK(clipc_read_file("tests/data/hf_clip_vit_b32_keys.txt", &data, &len));
    int k = 0, lines = 0;
    for (char *s = data, *e; *s; s = e + 1) {
        e = strchr(s, '\n');
        REQUIRE(e);
        *e = 0;
        if (*s == '#') continue;
        lines++;
        CHECKF(k < n && !strcmp(s, mine[k]), "line %d: file '%s', converter '%s'", lines, s, k < n ? mine[k] : "(end)");
        k++;
    }
    CHECKF(lines == 398 && n == 398, "%d lines, %d tensors", lines, n);
    for (int i = 0; i < n; i++) free(mine[i]);
    free(mine);
    free(data);
    free(t);
    free(names);
    param_table_free(&tab);
}

static const clipc_config gelu_cfg = {32, 16, 1, 64, 8, 2, 12, 300, 64, 4, 1, CLIPC_ACT_GELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
static const char open_clip_json[] =
    "{\"model_cfg\": {\"embed_dim\": 32, \"vision_cfg\": {\"image_size\": 16, \"layers\": 1, \"width\": 64,"
    " \"patch_size\": 8, \"head_width\": 32}, \"text_cfg\": {\"context_length\": 12, \"vocab_size\": 300,"
    " \"width\": 64, \"heads\": 4, \"layers\": 1}%s},"
    " \"preprocess_cfg\": {\"mean\": [0.48145466, 0.4578275, 0.40821073]}}";

static void test_inputs(float *px, int32_t *ids) {
    for (int i = 0; i < 2 * 3 * 16 * 16; i++) px[i] = sinf(0.37f * (float)i);
    memset(ids, 0, 2 * 12 * sizeof *ids);
    int32_t a[] = {298, 5, 17, 299}, b[] = {298, 40, 3, 250, 9, 299};
    memcpy(ids, a, sizeof a);
    memcpy(ids + 12, b, sizeof b);
}

TEST(keymap_open_clip_gelu_equals_openai_with_act) {
    clipc_model *m, *oc, *plain;
    REQUIRE_OK(clipc_model_create(&gelu_cfg, 11, &m));
    const char *dir = test_tmpdir();
    char ocd[512], p[600], bare[600], js[1024];
    snprintf(ocd, sizeof ocd, "%s/oc", dir);
    REQUIRE(mkdir(ocd, 0700) == 0);
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", ocd);
    write_bare(m, p);
    snprintf(bare, sizeof bare, "%s/bare.safetensors", dir);
    write_bare(m, bare);
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/open_clip_config.json", ocd);
    snprintf(js, sizeof js, open_clip_json, "");
    write_text(cfgp, js);
    reset_warn();
    REQUIRE_OK(clipc_model_load(p, &(clipc_load_opts){.warn = keep_warn}, &oc));
    CHECKF(n_warn == 0, "%s", warns);
    clipc_model_origins org = clipc_model_origin(oc);
    CHECK(org.layout == CLIPC_LAYOUT_OPEN_CLIP && org.act == CLIPC_FROM_OPEN_CLIP_CONFIG &&
          org.vision_heads == CLIPC_FROM_OPEN_CLIP_CONFIG && org.text_heads == CLIPC_FROM_OPEN_CLIP_CONFIG);
    CHECK(oc->cfg.act == CLIPC_ACT_GELU && oc->cfg.vision_heads == 2 && oc->cfg.transformer_heads == 4);
    /* The same weights in OpenAI layout with --act gelu (and the heads). */
    REQUIRE_OK(clipc_model_load(bare, &(clipc_load_opts){.act_given = 1, .act = CLIPC_ACT_GELU, .vision_heads = 2,
                                                         .text_heads = 4}, &plain));
    CHECK(clipc_model_origin(plain).act == CLIPC_FROM_OPTION && clipc_model_origin(plain).layout == CLIPC_LAYOUT_OPENAI);
    float px[2 * 3 * 16 * 16], a[2][64], b[2][64], c[2][64];
    int32_t ids[24];
    test_inputs(px, ids);
    /* Fixed like the loaded models' weights, so all three encode on the same
     * kernels (a loaded model's small products run on packed weights). */
    m->weights_fixed = 1;
    encode_both(m, px, ids, 2, a[0], a[1]);
    encode_both(oc, px, ids, 2, b[0], b[1]);
    CHECK(!memcmp(a, b, sizeof a));
    encode_both(plain, px, ids, 2, b[0], b[1]);
    CHECK(!memcmp(a, b, sizeof a));
    clipc_model_free(plain);
    /* Loaded as QuickGELU instead, the embeddings differ: the test can see it. */
    REQUIRE_OK(clipc_model_load(bare, &(clipc_load_opts){.act_given = 1, .vision_heads = 2, .text_heads = 4}, &plain));
    encode_both(plain, px, ids, 2, c[0], c[1]);
    double diff = 0;
    for (int i = 0; i < 64; i++) diff += fabs(a[0][i] - c[0][i]) + fabs(a[1][i] - c[1][i]);
    CHECKF(diff > 1e-3, "QuickGELU vs GELU differ by %g only", diff);
    clipc_model_free(plain);
    /* quick_gelu: true in the config means QuickGELU; --act gelu against it is ignored, said once. */
    clipc_model_free(oc);
    snprintf(js, sizeof js, open_clip_json, ", \"quick_gelu\": true");
    write_text(cfgp, js);
    reset_warn();
    REQUIRE_OK(clipc_model_load(p, &(clipc_load_opts){.warn = keep_warn, .act_given = 1, .act = CLIPC_ACT_GELU}, &oc));
    CHECK(oc->cfg.act == CLIPC_ACT_QUICKGELU);
    char want[1200];
    snprintf(want, sizeof want, "%s: --act gelu ignored: the file's open_clip_config.json says quickgelu\n", p);
    CHECKF(n_warn == 1 && !strcmp(warns, want), "%s", warns);
    clipc_model_free(oc);
    /* A config that describes another model is refused. */
    snprintf(js, sizeof js, open_clip_json, "");
    memcpy(strstr(js, "\"embed_dim\": 32"), "\"embed_dim\": 51", 15); /* 51, not the tensors' 32 */
    write_text(cfgp, js);
    CHECK(clipc_model_load(p, NULL, &oc) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "open_clip_config.json: embed_dim = 51 but the model's tensors say 32"), "%s",
           clipc_last_error());
    clipc_model_free(m);
}

TEST(keymap_gelu_without_activation_refused) {
    clipc_model *m, *l = NULL;
    /* OpenAI's vocabulary and context, for the CLI's tokenizer; small widths. */
    const clipc_config cfg = {16, 16, 1, 32, 8, 2, 77, 49408, 32, 4, 1, CLIPC_ACT_GELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    REQUIRE_OK(clipc_model_create(&cfg, 12, &m));
    char p[600], want[1400];
    snprintf(p, sizeof p, "%s/m.safetensors", test_tmpdir());
    write_bare(m, p);
    CHECK(clipc_model_load(p, &(clipc_load_opts){.vision_heads = 2, .text_heads = 4}, &l) == CLIPC_ERR_INVALID && !l);
    snprintf(want, sizeof want, "%s: the activation is not recorded (no metadata, config.json or "
             "open_clip_config.json) and the shapes are not one of OpenAI's released models; pass --act "
             "quickgelu|gelu (OpenAI's models: quickgelu; LAION's open_clip models: gelu)", p);
    CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    /* The CLI says the same and exits 1; with --act it runs. */
    char cmd[1400], *out = NULL;
    snprintf(cmd, sizeof cmd, "clipc encode --model %s --text 'a cat' 2>&1", p);
    CHECK(run_capture(cmd, &out) == 1);
    char line[1600];
    snprintf(line, sizeof line, "clipc: error: %s\n", want);
    CHECKF(out && strstr(out, line), "%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "clipc encode --model %s --text 'a cat' --act gelu --vision-heads 2 "
             "--text-heads 4 2>&1", p);
    CHECK(run_capture(cmd, &out) == 0);
    CHECKF(out && strstr(out, "\"embedding\"") && !strstr(out, "warning"), "%s", out ? out : "");
    free(out);
    /* clipc train --init: the same refusal, and --init-act. */
    const char *dir = test_tmpdir();
    snprintf(cmd, sizeof cmd, "clipc train --init %s --data data/emoji-mini/dataset_emoji.json --out %s/r1 "
             "--steps 1 2>&1", p, dir);
    CHECK(run_capture(cmd, &out) == 1);
    CHECKF(out && strstr(out, line), "%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "clipc train --init %s --init-act gelu --data data/emoji-mini/dataset_emoji.json "
             "--out %s/r2 --steps 1 --batch 8 2>&1", p, dir);
    CHECKF(run_capture(cmd, &out) == 0, "%s", out ? out : "");
    free(out);
    clipc_model_free(m);
}

/* An OpenAI ViT-B/32-shaped file without any record: QuickGELU, said once.
 * The config is read from the header alone, so the 600 MB of data is an
 * untouched anonymous mapping (no memory used). */
TEST(keymap_openai_shapes_mean_quickgelu_with_one_note) {
    clipc_config cfg, got;
    REQUIRE_OK(clipc_config_named("ViT-B-32", &cfg));
    param_table tab;
    REQUIRE_OK(param_table_init(&cfg, &tab));
    size_t cap = 64 * 1024, hl = 0;
    char *h = malloc(cap);
    REQUIRE(h);
    hl += snprintf(h, cap, "{");
    for (int i = 0; i < tab.n; i++) {
        const param_info *p = &tab.p[i];
        hl += snprintf(h + hl, cap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", p->name);
        for (int d = 0; d < p->ndim; d++) hl += snprintf(h + hl, cap - hl, "%s%d", d ? "," : "", p->shape[d]);
        hl += snprintf(h + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}", p->offset * 4, (p->offset + p->numel) * 4);
    }
    hl += snprintf(h + hl, cap - hl, "}");
    while ((8 + hl) % 8) h[hl++] = ' ';
    REQUIRE(hl < cap);
    size_t len = 8 + hl + tab.total * 4;
    unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(buf != MAP_FAILED);
    uint64_t n = hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, h, hl);
    char path[600];
    snprintf(path, sizeof path, "%s/ViT-B-32.safetensors", test_tmpdir());
    st_file f;
    REQUIRE_OK(st_parse(buf, len, path, &f));
    clipc_model_origins o;
    reset_warn();
    REQUIRE_OK(model_config_from_file(&f, path, &(clipc_load_opts){.warn = keep_warn}, &got, &o));
    CHECK(!memcmp(&got, &cfg, sizeof cfg));
    CHECK(o.layout == CLIPC_LAYOUT_OPENAI && o.act == CLIPC_FROM_SHAPES && o.vision_heads == CLIPC_FROM_SHAPES);
    char want[4096];
    snprintf(want, sizeof want,
             "%s: vision heads not recorded; using OpenAI's width/64 rule: 12 (override with --vision-heads)\n"
             "%s: text heads not recorded; using OpenAI's width/64 rule: 8 (override with --text-heads)\n"
             "%s: activation not recorded; the shapes are OpenAI's ViT-B/32, so QuickGELU (pass --act gelu for a "
             "GELU model such as LAION's open_clip ones)\n", path, path, path);
    CHECKF(n_warn == 3 && !strcmp(warns, want), "%s", warns);
    /* --act gelu (a LAION ViT-B-32 without its config): taken, no note. */
    reset_warn();
    REQUIRE_OK(model_config_from_file(&f, path, &(clipc_load_opts){.warn = keep_warn, .act_given = 1,
                                                                    .act = CLIPC_ACT_GELU, .vision_heads = 12,
                                                                    .text_heads = 8}, &got, &o));
    CHECK(got.act == CLIPC_ACT_GELU && o.act == CLIPC_FROM_OPTION && n_warn == 0);
    st_close(&f);
    munmap(buf, len);
    free(h);
    param_table_free(&tab);
}

/* The same rule for OpenAI's released ModifiedResNet models (RN50.pt has no
 * config either): the RN50 shapes mean QuickGELU, said once; the attention
 * pool's heads follow from the width (OpenAI's code: width * 32 / 64), so
 * only the text heads get the width/64 note.  A file of the same tower with
 * another text width is no released model and is refused. */
TEST(keymap_openai_resnet_shapes_mean_quickgelu_with_one_note) {
    for (int variant = 0; variant < 2; variant++) {
        clipc_config cfg, got;
        REQUIRE_OK(clipc_config_named("RN50", &cfg));
        if (variant) cfg.transformer_width = 256, cfg.transformer_heads = 4;
        param_table tab;
        REQUIRE_OK(param_table_init(&cfg, &tab));
        size_t cap = 1 << 20, hl = 0;
        char *h = malloc(cap);
        REQUIRE(h);
        hl += snprintf(h, cap, "{");
        for (int i = 0; i < tab.n; i++) {
            const param_info *p = &tab.p[i];
            hl += snprintf(h + hl, cap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", p->name);
            for (int d = 0; d < p->ndim; d++) hl += snprintf(h + hl, cap - hl, "%s%d", d ? "," : "", p->shape[d]);
            hl += snprintf(h + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}", p->offset * 4,
                           (p->offset + p->numel) * 4);
        }
        hl += snprintf(h + hl, cap - hl, "}");
        while ((8 + hl) % 8) h[hl++] = ' ';
        REQUIRE(hl < cap);
        size_t len = 8 + hl + tab.total * 4;
        unsigned char *buf =
            mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        REQUIRE(buf != MAP_FAILED);
        uint64_t n = hl;
        for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
        memcpy(buf + 8, h, hl);
        char path[600];
        snprintf(path, sizeof path, "%s/RN50.safetensors", test_tmpdir());
        st_file f;
        REQUIRE_OK(st_parse(buf, len, path, &f));
        clipc_model_origins o;
        reset_warn();
        clipc_status s = model_config_from_file(&f, path, &(clipc_load_opts){.warn = keep_warn}, &got, &o);
        char want[4096];
        if (!variant) {
            REQUIRE_OK(s);
            CHECK(!memcmp(&got, &cfg, sizeof cfg));
            CHECK(o.act == CLIPC_FROM_SHAPES && o.vision_heads == CLIPC_FROM_SHAPES && got.vision_heads == 32);
            snprintf(want, sizeof want,
                     "%s: text heads not recorded; using OpenAI's width/64 rule: 8 (override with --text-heads)\n"
                     "%s: activation not recorded; the shapes are OpenAI's RN50, so QuickGELU (pass --act gelu for "
                     "a GELU model such as LAION's open_clip ones)\n", path, path);
            CHECKF(n_warn == 2 && !strcmp(warns, want), "%s", warns);
        } else {
            CHECK(s == CLIPC_ERR_INVALID);
            CHECKF(strstr(clipc_last_error(), "not one of OpenAI's released models; pass --act quickgelu|gelu"), "%s",
                   clipc_last_error());
        }
        st_close(&f);
        munmap(buf, len);
        free(h);
        param_table_free(&tab);
    }
}
