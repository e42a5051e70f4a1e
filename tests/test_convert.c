/*
 * test_convert.c — `clipc convert` and `clipc info`: OpenAI -> Hugging Face
 * -> OpenAI gives the same bytes; f16 / bf16 round to nearest even and come
 * back as exactly those values; the half-precision conversion is checked on
 * every f16 value and every midpoint; `clipc info` prints the architecture
 * and the origin of each value, for each layout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "model/half.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

static const char *vit_tiny(void) {
    const char *ref = shared_path("reference/openai_clip/vit_tiny/weights.safetensors");
    if (!ref) SKIP("../shared/reference not found");
    return ref;
}

static void run_ok(const char *cmd) {
    char *out = NULL;
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "%s: exit %d: %s", cmd, rc, out ? out : "");
    free(out);
}

TEST(convert_openai_hf_openai_bit_exact) {
    const char *ref = vit_tiny(), *dir = test_tmpdir();
    char cmd[2048], back[600];
    snprintf(cmd, sizeof cmd, "mkdir %s/hf && clipc convert %s %s/hf/model.safetensors --to hf 2>&1", dir, ref, dir);
    run_ok(cmd);
    snprintf(back, sizeof back, "%s/back.safetensors", dir);
    snprintf(cmd, sizeof cmd, "clipc convert %s/hf/model.safetensors %s --to openai 2>&1", dir, back);
    run_ok(cmd);
    st_file a, b;
    REQUIRE_OK(st_open(ref, &a));
    REQUIRE_OK(st_open(back, &b));
    CHECK(a.n_tensors == 62 && b.n_tensors == 62);
    int same = 0;
    for (int i = 0; i < a.n_tensors; i++) {
        const st_tensor *x = &a.tensors[i], *y = st_get(&b, x->name);
        int ok = y && y->dtype == x->dtype && y->ndim == x->ndim && y->nbytes == x->nbytes &&
                 !memcmp(x->shape, y->shape, sizeof x->shape) && !memcmp(x->data, y->data, x->nbytes);
        CHECKF(ok, "tensor '%s' differs after OpenAI -> HF -> OpenAI", x->name);
        same += ok;
    }
    CHECK(same == 62);
    /* What the reference recorded is carried over into clipc's metadata. */
    CHECK(!strcmp(st_meta(&b, "model"), "clipc") && !strcmp(st_meta(&b, "act"), "quickgelu") &&
          !strcmp(st_meta(&b, "vision_heads"), "1") && !strcmp(st_meta(&b, "transformer_heads"), "4"));
    st_close(&a);
    st_close(&b);
}

/* vit_tiny -> HF in `dtype` -> OpenAI f32: every value is the original
 * rounded to that dtype; the HF file holds only that dtype. */
static void half_round_trip(const char *dtype, st_dtype st, float (*round_fn)(float), double rel) {
    const char *ref = vit_tiny(), *dir = test_tmpdir();
    char cmd[2048], hf[600], back[600];
    snprintf(hf, sizeof hf, "%s/h%s/model.safetensors", dir, dtype);
    snprintf(back, sizeof back, "%s/back_%s.safetensors", dir, dtype);
    snprintf(cmd, sizeof cmd, "mkdir %s/h%s && clipc convert %s %s --to hf --dtype %s 2>&1 && "
             "clipc convert %s %s 2>&1", dir, dtype, ref, hf, dtype, hf, back);
    run_ok(cmd);
    st_file a, h, b;
    REQUIRE_OK(st_open(ref, &a));
    REQUIRE_OK(st_open(hf, &h));
    REQUIRE_OK(st_open(back, &b));
    for (int i = 0; i < h.n_tensors; i++) CHECK(h.tensors[i].dtype == st);
    size_t n = 0, exact = 0;
    double worst = 0;
    for (int i = 0; i < a.n_tensors; i++) {
        const st_tensor *x = &a.tensors[i], *y = st_get(&b, x->name);
        REQUIRE(y && y->dtype == ST_F32 && y->numel == x->numel);
        const float *xv = x->data, *yv = y->data;
        for (size_t k = 0; k < x->numel; k++, n++) {
            exact += yv[k] == round_fn(xv[k]);
            if (fabsf(xv[k]) > 1e-4f) worst = fmax(worst, fabs((double)yv[k] - xv[k]) / fabs(xv[k]));
        }
    }
    CHECKF(exact == n, "%s: %zu of %zu values are not the rounded originals", dtype, n - exact, n);
    CHECKF(worst <= rel && worst > 0, "%s: worst relative error %g (bound %g)", dtype, worst, rel);
    st_close(&a);
    st_close(&h);
    st_close(&b);
}

static float via_f16(float x) { return half_to_f32(half_from_f32(x)); }
static float via_bf16(float x) { return bf16_to_f32(bf16_from_f32(x)); }

TEST(convert_f16_bf16_round_trip_within_rounding) {
    half_round_trip("f16", ST_F16, via_f16, ldexp(1, -11));
    half_round_trip("bf16", ST_BF16, via_bf16, ldexp(1, -8));
}

TEST(convert_openai_f16_writes_rounded_halves) {
    clipc_config cfg = {16, 16, 1, 32, 8, 2, 12, 300, 32, 4, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 5, &m));
    char p[600];
    snprintf(p, sizeof p, "%s/h.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_export(m, p, CLIPC_LAYOUT_CLIPC, CLIPC_DTYPE_F16));
    st_file f;
    REQUIRE_OK(st_open(p, &f));
    CHECK(f.n_tensors == m->tab.n && !strcmp(st_meta(&f, "model"), "clipc"));
    size_t bad = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *pi = &m->tab.p[i];
        const st_tensor *t = st_get(&f, pi->name);
        REQUIRE(t && t->dtype == ST_F16 && t->numel == pi->numel);
        const uint16_t *h = t->data;
        for (size_t k = 0; k < pi->numel; k++) bad += h[k] != half_from_f32(m->params[pi->offset + k]);
    }
    CHECK(bad == 0);
    st_close(&f);
    clipc_model_free(m);
}

/* Every f16 value converts back to itself; every midpoint between two
 * neighbours rounds to the even one; the edges (overflow, subnormals, NaN). */
TEST(convert_half_conversion_exact) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float x = half_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            bad += !isnan(x) || (half_from_f32(x) & 0x7c00) != 0x7c00 || !(half_from_f32(x) & 0x3ff);
            continue;
        }
        bad += half_from_f32(x) != h;
        if ((h & 0x7fff) >= 0x7bff) continue; /* no finite neighbour above */
        double mid = ((double)x + (double)half_to_f32((uint16_t)(h + 1))) / 2; /* exact in float */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += half_from_f32((float)mid) != even;
    }
    CHECKF(bad == 0, "%d f16 values or midpoints convert wrongly", bad);
    CHECK(half_from_f32(65504.0f) == 0x7bff && half_from_f32(65519.0f) == 0x7bff);
    CHECK(half_from_f32(65520.0f) == 0x7c00 && half_from_f32(-1e10f) == 0xfc00);
    CHECK(half_from_f32(ldexpf(1, -24)) == 0x0001 && half_from_f32(ldexpf(1, -25)) == 0x0000);
    CHECK(half_from_f32(ldexpf(3, -25)) == 0x0002 && half_from_f32(-0.0f) == 0x8000);
    CHECK(half_from_f32(1.0f / 3) == 0x3555 && half_to_f32(0x3c00) == 1.0f && half_to_f32(0xc000) == -2.0f);
}

static char *capture(const char *cmd) {
    char *out = NULL;
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "%s: exit %d", cmd, rc);
    return out ? out : strdup("");
}

TEST(info_prints_architecture_and_origins) {
    const char *ref = vit_tiny(), *dir = test_tmpdir();
    char cmd[2048], want[4096];
    /* OpenAI state dict (the shared reference, metadata model=openai-clip). */
    snprintf(cmd, sizeof cmd, "clipc info %s", ref);
    char *out = capture(cmd);
    snprintf(want, sizeof want,
             "file: %s\nlayout: openai (OpenAI state dict)\n"
             "vision: ViT, 2 layers, width 64, patch 8, resolution 32, heads 1 (metadata)\n"
             "text: 2 layers, width 64, heads 4 (metadata), context 77, vocab 49408\n"
             "embed_dim: 64\nactivation: quickgelu (metadata)\nparameters: 3388993\ntensors: 62 (F32: 62)\n"
             "metadata:\n  context_length: 77\n", ref);
    CHECKF(!strncmp(out, want, strlen(want)), "got:\n%s", out);
    free(out);
    /* Hugging Face: all of it. */
    snprintf(cmd, sizeof cmd, "mkdir %s/hf && clipc convert %s %s/hf/model.safetensors --to hf --dtype bf16 && "
             "clipc info %s/hf/model.safetensors", dir, ref, dir, dir);
    out = capture(cmd);
    snprintf(want, sizeof want,
             "file: %s/hf/model.safetensors\nlayout: hf (Hugging Face CLIPModel)\n"
             "vision: ViT, 2 layers, width 64, patch 8, resolution 32, heads 1 (config.json)\n"
             "text: 2 layers, width 64, heads 4 (config.json), context 77, vocab 49408\n"
             "embed_dim: 64\nactivation: quickgelu (config.json)\nparameters: 3388993\ntensors: 78 (BF16: 78)\n"
             "metadata:\n  format: pt\n", dir);
    CHECKF(!strcmp(out, want), "got:\n%s\nwant:\n%s", out, want);
    free(out);
    /* --json of the same. */
    snprintf(cmd, sizeof cmd, "clipc info --json %s/hf/model.safetensors", dir);
    out = capture(cmd);
    CHECKF(strstr(out, "\"layout\": \"hf\", \"config\": {\"embed_dim\":64,\"image_resolution\":32,") &&
           strstr(out, "\"act_from\": \"config.json\", \"vision_heads_from\": \"config.json\", \"text_heads_from\": "
                       "\"config.json\", \"parameters\": 3388993, \"tensors\": 78, \"dtypes\": {\"BF16\": 78}, "
                       "\"transform\": {\"size\": 32, \"resize\": 32, \"rgb_first\": false, \"mean\": [0.48145467, "
                       "0.457827508, 0.408210725], \"std\": [0.268629551, 0.26130259, 0.275777102], \"from\": "
                       "\"architecture\"}, \"metadata\": {\"format\": \"pt\"}}\n"), "got:\n%s", out);
    free(out);
    /* open_clip: OpenAI names, open_clip_config.json beside; clipc's own file. */
    clipc_config cfg = {16, 16, 1, 64, 8, 2, 12, 300, 32, 4, 1, CLIPC_ACT_GELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 3, &m));
    char p[600];
    snprintf(p, sizeof p, "%s/clipc.safetensors", dir);
    REQUIRE_OK(clipc_model_save(m, p));
    snprintf(cmd, sizeof cmd, "mkdir %s/oc && clipc info %s && clipc convert %s %s/oc/x.safetensors --to hf "
             "&& clipc convert %s/oc/x.safetensors %s/oc/open_clip_model.safetensors && rm %s/oc/config.json %s/oc/x.safetensors",
             dir, p, p, dir, dir, dir, dir, dir);
    out = capture(cmd);
    CHECKF(strstr(out, "layout: clipc (clipc)\n"
                       "vision: ViT, 1 layers, width 64, patch 8, resolution 16, heads 2 (metadata)\n"
                       "text: 1 layers, width 32, heads 4 (metadata), context 12, vocab 300\n"
                       "embed_dim: 16\nactivation: gelu (metadata)\nparameters: "), "got:\n%s", out);
    free(out);
    clipc_model_free(m);
    /* The open_clip file has clipc's metadata now; a bare one is what open_clip ships: strip it. */
    snprintf(p, sizeof p, "%s/oc/open_clip_model.safetensors", dir);
    clipc_model *l;
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    st_out_tensor *t = calloc((size_t)l->tab.n, sizeof *t);
    REQUIRE(t);
    for (int i = 0; i < l->tab.n; i++) {
        const param_info *pi = &l->tab.p[i];
        t[i] = (st_out_tensor){.name = pi->name, .dtype = ST_F32, .ndim = pi->ndim, .data = l->params + pi->offset};
        for (int d = 0; d < pi->ndim; d++) t[i].shape[d] = pi->shape[d];
    }
    REQUIRE_OK(st_write(p, t, l->tab.n, NULL));
    free(t);
    clipc_model_free(l);
    char cj[600];
    snprintf(cj, sizeof cj, "%s/oc/open_clip_config.json", dir);
    const char *js = "{\"model_cfg\": {\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 16, \"layers\": 1, "
                     "\"width\": 64, \"patch_size\": 8, \"head_width\": 32}, \"text_cfg\": {\"context_length\": 12, "
                     "\"vocab_size\": 300, \"width\": 32, \"heads\": 4, \"layers\": 1}}}";
    REQUIRE_OK(clipc_write_file_atomic(cj, js, strlen(js)));
    snprintf(cmd, sizeof cmd, "clipc info %s", p);
    out = capture(cmd);
    snprintf(want, sizeof want,
             "file: %s\nlayout: open_clip (open_clip)\n"
             "vision: ViT, 1 layers, width 64, patch 8, resolution 16, heads 2 (open_clip_config.json)\n"
             "text: 1 layers, width 32, heads 4 (open_clip_config.json), context 12, vocab 300\n"
             "embed_dim: 16\nactivation: gelu (open_clip_config.json)\n", p);
    CHECKF(!strncmp(out, want, strlen(want)) && strstr(out, "metadata: none\n"), "got:\n%s", out);
    free(out);
}

/* A PyTorch zip checkpoint of a ModifiedResNet model: the tower, its derived
 * attention-pool heads and the dtypes of the archive (BatchNorm's
 * num_batches_tracked are I64). */
TEST(info_describes_a_resnet_pt_checkpoint) {
    const char *ref = shared_path("reference/openai_clip/rn_tiny/weights.pt");
    if (!ref) SKIP("../shared/reference not found");
    char cmd[2048], want[2048];
    snprintf(cmd, sizeof cmd, "clipc info %s --act quickgelu", ref);
    char *out = capture(cmd);
    snprintf(want, sizeof want,
             "file: %s\nlayout: openai (OpenAI state dict)\n"
             "vision: ModifiedResNet, blocks [2, 1, 1, 1], width 8, resolution 64, attention-pool heads 4 (shapes)\n"
             "text: 2 layers, width 16, heads 2 (config.json), context 77, vocab 49408\n"
             "embed_dim: 64\nactivation: quickgelu (option)\nparameters: 1145965\ntensors: 171 (F32: 149, I64: 22)\n"
             "metadata: none\n", ref);
    CHECKF(!strcmp(out, want), "got:\n%s\nwant:\n%s", out, want);
    free(out);
}
