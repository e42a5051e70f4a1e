/*
 * test_tutorial_transform.c — the image transform is the model's: the
 * tutorial's model (seed 002) preprocesses as its pipeline does
 * (convert("RGB"), timm's resnet50 eval transform: resize to floor(size /
 * 0.95), centre crop, ImageNet's mean/std), checked against torchvision on
 * the same files (tools/make_tutorial_transform_golden.py); OpenAI's models
 * keep OpenAI's transform bit for bit and their files stay as they were; a
 * model file records its transform and gets it back; bad metadata is an
 * error naming the key.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "harness.h"

#define VOCAB "tests/data/wordpiece/vocab.txt"
#define GOLDEN "tests/data/goldens/tutorial_transform.safetensors"

static clipc_model *tiny_tutorial(void) {
    clipc_config c;
    if (clipc_config_named("tutorial-tiny", &c)) return NULL;
    clipc_tutorial_init ti = {NULL, NULL, VOCAB, CLIPC_HEAD_LINEAR};
    clipc_model *m = NULL;
    return clipc_model_create_tutorial(&c, 5, &ti, &m) ? NULL : m;
}

/* Largest distance in units in the last place between two float arrays. */
static long max_ulps(const float *a, const float *b, size_t n) {
    long worst = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t x, y;
        memcpy(&x, &a[i], 4), memcpy(&y, &b[i], 4);
        if (x < 0) x = INT32_MIN - x;
        if (y < 0) y = INT32_MIN - y;
        long d = labs((long)x - (long)y);
        if (d > worst) worst = d;
    }
    return worst;
}

TEST(tutorial_transform_is_timm_resnet50_and_equals_torchvision) {
    clipc_model *m = tiny_tutorial();
    REQUIRE(m);
    clipc_transform t;
    clipc_model_transform(m, &t);
    CHECK(t.size == 32 && t.resize == 33 && t.rgb_first == 1); /* floor(32 / 0.95) */
    CHECK(t.mean[0] == 0.485f && t.mean[1] == 0.456f && t.mean[2] == 0.406f);
    CHECK(t.std[0] == 0.229f && t.std[1] == 0.224f && t.std[2] == 0.225f);
    clipc_config c224;
    REQUIRE_OK(clipc_config_named("tutorial-rn50", &c224));
    clipc_transform t224;
    clipc_config_transform(&c224, &t224);
    CHECK(t224.size == 224 && t224.resize == 235); /* seed 002: 224 px, crop_pct 0.95 */

    st_file f;
    REQUIRE_OK(st_open(GOLDEN, &f));
    int cases = 0;
    float px[3 * 32 * 32];
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *g = &f.tensors[i];
        size_t len = strlen(g->name);
        REQUIRE(len > 7 && !strcmp(g->name + len - 7, ".pixels") && g->numel == 3 * 32 * 32);
        char path[256];
        snprintf(path, sizeof path, "tests/data/images/%.*s", (int)(len - 7), g->name);
        clipc_image im;
        REQUIRE_OK(clipc_image_load(path, &im));
        REQUIRE_OK(clipc_preprocess_transform(&im, &t, px, NULL));
        long u = max_ulps(px, g->data, g->numel);
        CHECKF(u == 0, "%s: clipc's pixels differ from torchvision's by up to %ld ulp", path, u);
        clipc_image_free(&im);
        cases++;
    }
    CHECKF(cases == 10, "%d images in %s", cases, GOLDEN);
    st_close(&f);
    clipc_model_free(m);
}

/* OpenAI's models: the transform of clipc_preprocess (the Pillow goldens of
 * test_image.c), the same bits through the model, no new metadata. */
TEST(openai_model_transform_unchanged) {
    clipc_config c;
    REQUIRE_OK(clipc_config_named("tiny", &c));
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&c, 1, &m));
    clipc_transform t;
    clipc_model_transform(m, &t);
    CHECK(t.size == c.image_resolution && t.resize == c.image_resolution && t.rgb_first == 0);
    CHECK(t.mean[0] == 0.48145466f && t.mean[1] == 0.4578275f && t.mean[2] == 0.40821073f);
    CHECK(t.std[0] == 0.26862954f && t.std[1] == 0.26130258f && t.std[2] == 0.27577711f);
    const char *files[] = {"rgb_53x37.png", "pal_40x30.png", "rgba_45x31.png", "cmyk_26x18.jpg"};
    int R = c.image_resolution;
    float *a = malloc(sizeof(float) * 3 * R * R), *b = malloc(sizeof(float) * 3 * R * R);
    REQUIRE(a && b);
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/data/images/%s", files[i]);
        clipc_image im;
        REQUIRE_OK(clipc_image_load(path, &im));
        REQUIRE_OK(clipc_preprocess(&im, R, a, NULL));
        REQUIRE_OK(clipc_preprocess_transform(&im, &t, b, NULL));
        CHECKF(!memcmp(a, b, sizeof(float) * 3 * R * R), "%s: model transform != clipc_preprocess", files[i]);
        clipc_image_free(&im);
    }
    free(a), free(b);
    char p[600];
    snprintf(p, sizeof p, "%s/openai.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, p));
    clipc_model_free(m);
    st_file f;
    REQUIRE_OK(st_open(p, &f));
    CHECK(!st_meta(&f, "image_mean") && !st_meta(&f, "image_std") && !st_meta(&f, "image_resize") &&
          !st_meta(&f, "image_rgb_first"));
    st_close(&f);
}

/* Saved, loaded, shown by `clipc info`; a transform of its own survives the
 * round trip (OpenAI's model with another mean/std included); a file
 * without the keys (the seed's best.pt) gets its architecture's. */
TEST(tutorial_transform_recorded_in_the_model_file) {
    clipc_model *m = tiny_tutorial();
    REQUIRE(m);
    char p[600], cmd[1400], *out = NULL;
    snprintf(p, sizeof p, "%s/tf.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, p));
    st_file f;
    REQUIRE_OK(st_open(p, &f));
    CHECK(st_meta(&f, "image_mean") && !strcmp(st_meta(&f, "image_mean"), "[0.485, 0.456, 0.406]"));
    CHECK(st_meta(&f, "image_std") && !strcmp(st_meta(&f, "image_std"), "[0.229, 0.224, 0.225]"));
    CHECK(st_meta(&f, "image_resize") && !strcmp(st_meta(&f, "image_resize"), "33"));
    CHECK(st_meta(&f, "image_rgb_first") && !strcmp(st_meta(&f, "image_rgb_first"), "true"));
    st_close(&f);
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1", clipc_exe(), p);
    CHECK(run_capture(cmd, &out) == 0);
    CHECKF(out && strstr(out, "images: RGB first, resize the short side to 33 (bicubic), centre crop 32, mean "
                              "[0.485, 0.456, 0.406], std [0.229, 0.224, 0.225] (metadata)\n"),
           "info:\n%s", out ? out : "");
    free(out), out = NULL;
    snprintf(cmd, sizeof cmd, "%s info --json %s 2>&1", clipc_exe(), p);
    CHECK(run_capture(cmd, &out) == 0);
    CHECKF(out && strstr(out, "\"transform\": {\"size\": 32, \"resize\": 33, \"rgb_first\": true, \"mean\": "
                              "[0.485000014, 0.456, 0.405999988]"),
           "info --json:\n%s", out ? out : "");
    free(out), out = NULL;

    /* A transform of its own, on an OpenAI model: recorded and read back. */
    clipc_config c;
    REQUIRE_OK(clipc_config_named("tiny", &c));
    clipc_model *o;
    REQUIRE_OK(clipc_model_create(&c, 2, &o));
    clipc_transform own = {c.image_resolution, c.image_resolution + 4, {0.5f, 0.25f, 0.125f}, {0.3f, 0.2f, 0.1f}, 1};
    o->transform = own;
    snprintf(p, sizeof p, "%s/own.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(o, p));
    clipc_model_free(o);
    REQUIRE_OK(clipc_model_load(p, NULL, &o));
    clipc_transform back;
    clipc_model_transform(o, &back);
    CHECK(!memcmp(&back, &own, sizeof own));
    clipc_model_free(o);
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1", clipc_exe(), p);
    CHECK(run_capture(cmd, &out) == 0);
    CHECKF(out && strstr(out, "images: RGB first, resize the short side to 36 (bicubic), centre crop 32, mean "
                              "[0.5, 0.25, 0.125], std [0.3, 0.2, 0.1] (metadata)\n"),
           "info:\n%s", out ? out : "");
    free(out), out = NULL;
    /* The seed's best.pt records nothing: the architecture's, at its 224 px. */
    clipc_load_opts lo = {0};
    lo.text_heads = 4;
    clipc_model *b;
    REQUIRE_OK(clipc_model_load("tests/data/goldens/tutorial_best.pt", &lo, &b));
    clipc_model_transform(b, &back);
    CHECK(back.size == 224 && back.resize == 235 && back.rgb_first == 1 && back.mean[0] == 0.485f &&
          back.std[2] == 0.225f);
    clipc_model_free(b);
    clipc_model_free(m);
}

/* A model file whose transform metadata is malformed: refused, naming it. */
static void bad_meta(clipc_model *m, const char *key, const char *value, const char *want) {
    st_out_tensor *t = calloc((size_t)m->tab.n, sizeof *t);
    REQUIRE(t);
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        t[i].name = p->name, t[i].dtype = ST_F32, t[i].ndim = p->ndim, t[i].data = m->params + p->offset;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
    }
    model_meta mm;
    model_meta_fill(m, &mm);
    for (int i = 0; mm.kv[i]; i += 2)
        if (!strcmp(mm.kv[i], key)) mm.kv[i + 1] = value;
    char p[600];
    snprintf(p, sizeof p, "%s/bad.safetensors", test_tmpdir());
    REQUIRE_OK(st_write(p, t, m->tab.n, mm.kv));
    free(t);
    clipc_model *l = NULL;
    CHECK(clipc_model_load(p, NULL, &l) == CLIPC_ERR_FORMAT && !l);
    char full[900];
    snprintf(full, sizeof full, "%s: metadata %s", p, want);
    CHECKF(!strcmp(clipc_last_error(), full), "got '%s'\nwant '%s'", clipc_last_error(), full);
}

TEST(tutorial_transform_bad_metadata_refused) {
    clipc_model *m = tiny_tutorial();
    REQUIRE(m);
    bad_meta(m, "image_std", "[0.2, 0, 0.2]", "image_std '[0.2, 0, 0.2]' has a value that is not > 0");
    bad_meta(m, "image_mean", "[0.5, 0.5]", "image_mean '[0.5, 0.5]' is not a list of 3 numbers");
    bad_meta(m, "image_mean", "0.5", "image_mean '0.5' is not a list of 3 numbers");
    bad_meta(m, "image_resize", "31", "image_resize '31' is not an integer from the image resolution to 65535");
    bad_meta(m, "image_resize", "33.5", "image_resize '33.5' is not an integer from the image resolution to 65535");
    bad_meta(m, "image_rgb_first", "yes", "image_rgb_first 'yes' is not true or false");
    clipc_model_free(m);
}
