/*
 * test_bf16.c — bf16 inference (src/kernels/onednn.c) against float32: the
 * rounding, the embeddings of golden and random-weight models (cosine to
 * the f32 embedding >= 0.9999 as docs/performance.md promises, 0.99997 at
 * worst measured; retrieval rankings kept), the f32 fallback on
 * CPUs without AVX512_BF16, and that f32 stays bit-identical whatever was
 * set before.  The accuracy tests skip on machines without AVX512_BF16;
 * the fallback test runs everywhere (it forces the fallback).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "bench/bench.h"
#include "formats/safetensors.h"
#include "kernels/bf16.h"
#include "kernels/onednn.h"
#include "kernels/onednn_testing.h"
#include "model/model.h"
#include "model/precision.h"
#include "nn/vision_tower.h"
#include "harness.h"

/* Worst cosine between rows of a and b (n rows of d). */
static double worst_cosine(const float *a, const float *b, int n, int d) {
    double worst = 1.0;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < d; j++) {
            double x = a[(size_t)i * d + j], y = b[(size_t)i * d + j];
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        double c = ab / sqrt(aa * bb);
        if (c < worst) worst = c;
    }
    return worst;
}

/* A random-weight model of a named config (seed) and the peer's random
 * inputs for n pairs (bench_random_batch, data_seed) in *px and *ids. */
static clipc_model *random_model(const char *config, uint64_t seed, int n, uint64_t data_seed, clipc_config *cfg,
                                 float **px, int32_t **ids) {
    clipc_model *m;
    REQUIRE_OK(clipc_config_named(config, cfg));
    REQUIRE_OK(clipc_model_create(cfg, seed, &m));
    *px = malloc(sizeof(float) * n * 3 * cfg->image_resolution * cfg->image_resolution);
    *ids = malloc(sizeof(int32_t) * n * cfg->context_length);
    REQUIRE(*px && *ids);
    bench_random_batch(cfg, n, data_seed, *px, *ids);
    return m;
}

static void verbose(const char *what, double v) {
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    %s: %.6f\n", what, v);
}

TEST(bf16_round_to_nearest_even) {
    CHECK(bf16_from_f32(1.0f) == 0x3f80);
    CHECK(bf16_from_f32(-2.0f) == 0xc000);
    /* 1 + 2^-8 is half-way between 0x3f80 and 0x3f81: ties go to even. */
    CHECK(bf16_from_f32(1.0f + 0x1p-8f) == 0x3f80);
    CHECK(bf16_from_f32(1.0f + 3 * 0x1p-8f) == 0x3f82);
    CHECK(bf16_from_f32(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    CHECK(bf16_from_f32(INFINITY) == 0x7f80);
    CHECK(bf16_from_f32(3.4e38f) == 0x7f80); /* rounds up to infinity, as RNE does */
    uint16_t nan = bf16_from_f32(NAN);
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
}

/* Encodes images and texts with m in f32 and in bf16; returns the worst
 * cosine over both (and leaves m in f32). */
static double f32_vs_bf16(clipc_model *m, const float *px, const int32_t *ids, int n, float **img_f, float **img_b,
                          float **txt_f, float **txt_b) {
    int E = m->cfg.embed_dim;
    *img_f = malloc(sizeof(float) * n * E), *img_b = malloc(sizeof(float) * n * E);
    *txt_f = malloc(sizeof(float) * n * E), *txt_b = malloc(sizeof(float) * n * E);
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_F32, NULL, NULL));
    REQUIRE_OK(clipc_encode_image(m, px, n, *img_f));
    REQUIRE_OK(clipc_encode_text(m, ids, n, *txt_f));
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_BF16, NULL, NULL));
    REQUIRE(clipc_model_precision(m) == CLIPC_PRECISION_BF16);
    REQUIRE_OK(clipc_encode_image(m, px, n, *img_b));
    REQUIRE_OK(clipc_encode_text(m, ids, n, *txt_b));
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_F32, NULL, NULL));
    double ci = worst_cosine(*img_f, *img_b, n, E), ct = worst_cosine(*txt_f, *txt_b, n, E);
    return ci < ct ? ci : ct;
}

static void free4(float *a, float *b, float *c, float *d) {
    free(a);
    free(b);
    free(c);
    free(d);
}

TEST(bf16_golden_models_cosine) {
    if (!onednn_bf16_available()) SKIP("this CPU has no AVX512_BF16 (bf16 encodes in f32 here)");
    const char *dirs[] = {"tests/data/goldens/a", "tests/data/goldens/b", NULL};
    char p[1024];
    const char *vit = shared_path("reference/openai_clip/vit_tiny");
    if (vit) dirs[2] = vit;
    for (int k = 0; k < 3 && dirs[k]; k++) {
        clipc_model *m;
        st_file io;
        snprintf(p, sizeof p, "%s/weights.safetensors", dirs[k]);
        REQUIRE_OK(clipc_model_load(p, NULL, &m));
        snprintf(p, sizeof p, k < 2 ? "%s/io.safetensors" : "%s/inputs/inputs.safetensors", dirs[k]);
        REQUIRE_OK(st_open(p, &io));
        const st_tensor *px = st_get(&io, "pixel_values"), *ids = st_get(&io, "input_ids");
        REQUIRE(px && ids);
        int n = (int)px->shape[0];
        int32_t *idc = malloc(ids->nbytes);
        memcpy(idc, ids->data, ids->nbytes);
        float *a, *b, *c, *d;
        double w = f32_vs_bf16(m, px->data, idc, n, &a, &b, &c, &d);
        verbose(dirs[k], w);
        CHECKF(w >= 0.9999, "%s: worst cosine bf16 vs f32 %.6f", dirs[k], w);
        free4(a, b, c, d);
        free(idc);
        st_close(&io);
        clipc_model_free(m);
    }
}

/* A random-weight `small` model on the peer's random inputs: embeddings and
 * which text each image ranks first (and vice versa). */
TEST(bf16_random_small_model_cosine_and_retrieval) {
    if (!onednn_bf16_available()) SKIP("this CPU has no AVX512_BF16 (bf16 encodes in f32 here)");
    clipc_config cfg;
    float *px;
    int32_t *ids;
    clipc_model *m = random_model("small", 7, 32, 11, &cfg, &px, &ids);
    int n = 32, E = cfg.embed_dim;
    float *a, *b, *c, *d;
    double w = f32_vs_bf16(m, px, ids, n, &a, &b, &c, &d);
    verbose("small random weights, worst cosine", w);
    CHECKF(w >= 0.9999, "worst cosine bf16 vs f32 %.6f", w);
    float *sf = malloc(sizeof(float) * n * n), *sb = malloc(sizeof(float) * n * n);
    REQUIRE_OK(clipc_similarity(a, n, c, n, E, sf));
    REQUIRE_OK(clipc_similarity(b, n, d, n, E, sb));
    int same_i2t = 0, same_t2i = 0;
    for (int i = 0; i < n; i++) {
        int fi, bi, ft, bt;
        clipc_topk(sf + (size_t)i * n, n, 1, &fi);
        clipc_topk(sb + (size_t)i * n, n, 1, &bi);
        same_i2t += fi == bi;
        float colf[64], colb[64];
        for (int j = 0; j < n; j++) colf[j] = sf[(size_t)j * n + i], colb[j] = sb[(size_t)j * n + i];
        clipc_topk(colf, n, 1, &ft);
        clipc_topk(colb, n, 1, &bt);
        same_t2i += ft == bt;
    }
    verbose("image->text top-1 unchanged (of 32)", same_i2t);
    verbose("text->image top-1 unchanged (of 32)", same_t2i);
    CHECKF(same_i2t >= 30 && same_t2i >= 30, "top-1 unchanged: %d and %d of %d", same_i2t, same_t2i, n);
    free(sf);
    free(sb);
    free4(a, b, c, d);
    free(px);
    free(ids);
    clipc_model_free(m);
}

static void grab(const char *msg, void *ud) { snprintf(ud, 200, "%s", msg); }

/* What an AVX2-only machine does: set_precision(BF16) succeeds, warns once
 * and keeps encoding in f32, bit for bit. */
TEST(bf16_fallback_without_avx512_bf16) {
    clipc_config cfg;
    float *px;
    int32_t *ids;
    clipc_model *m = random_model("tiny", 5, 3, 2, &cfg, &px, &ids);
    int n = 3, E = cfg.embed_dim;
    float ref[3 * 128], got[3 * 128], tref[3 * 128], tgot[3 * 128];
    REQUIRE(E == 128);
    REQUIRE_OK(clipc_encode_image(m, px, n, ref));
    REQUIRE_OK(clipc_encode_text(m, ids, n, tref));
    char msg[200] = "";
    onednn_test_bf16_unavailable(1);
    clipc_status s = clipc_model_set_precision(m, CLIPC_PRECISION_BF16, grab, msg);
    onednn_test_bf16_unavailable(0);
    REQUIRE_OK(s);
    CHECK(strcmp(msg, "bf16: this CPU has no AVX512_BF16; encoding in f32 instead") == 0);
    CHECK(clipc_model_precision(m) == CLIPC_PRECISION_F32);
    REQUIRE_OK(clipc_encode_image(m, px, n, got));
    REQUIRE_OK(clipc_encode_text(m, ids, n, tgot));
    CHECK(memcmp(ref, got, sizeof ref) == 0);
    CHECK(memcmp(tref, tgot, sizeof tref) == 0);
    CHECK(clipc_model_set_precision(m, (clipc_precision)7, NULL, NULL) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_last_error(), "set_precision: unknown precision 7") == 0);
    clipc_precision p;
    CHECK(clipc_precision_parse("bf16", &p) == 0 && p == CLIPC_PRECISION_BF16);
    CHECK(clipc_precision_parse("f32", &p) == 0 && p == CLIPC_PRECISION_F32);
    CHECK(clipc_precision_parse("fp8", &p) == -1);
    CHECK(strcmp(clipc_precision_name(CLIPC_PRECISION_BF16), "bf16") == 0);
    free(px);
    free(ids);
    clipc_model_free(m);
}

/* f32 after bf16 gives the same bits as never having asked for bf16, and
 * making a model writable (training) drops its bf16 weights. */
TEST(bf16_then_f32_bit_identical_and_training_resets) {
    clipc_config cfg;
    float *px;
    int32_t *ids;
    clipc_model *m = random_model("tiny", 9, 2, 4, &cfg, &px, &ids);
    int n = 2;
    float ref[2 * 128], got[2 * 128], bf[2 * 128];
    REQUIRE_OK(clipc_encode_image(m, px, n, ref));
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_BF16, NULL, NULL));
    REQUIRE_OK(clipc_encode_image(m, px, n, bf));
    if (clipc_model_precision(m) == CLIPC_PRECISION_BF16) CHECK(memcmp(ref, bf, sizeof ref) != 0);
    REQUIRE_OK(model_make_writable(m));
    CHECK(clipc_model_precision(m) == CLIPC_PRECISION_F32);
    REQUIRE_OK(clipc_encode_image(m, px, n, got));
    CHECK(memcmp(ref, got, sizeof ref) == 0);
    free(px);
    free(ids);
    clipc_model_free(m);
}

/* The fallbacks of bf16 inference's fused block (block.c): a failing fused
 * GEMM makes the encoder redo the batch on OpenBLAS f32 (its bits exactly); a
 * failing batched attention converts q, k, v back to f32 in place and runs
 * attention.c (bf16 accuracy still).  Also the in-place bf16 -> f32. */
TEST(bf16_fused_block_fallbacks) {
    float buf[5];
    uint16_t *h = (uint16_t *)buf;
    const float want[5] = {1.0f, -2.5f, 0.0f, 3.140625f, -65536.0f}; /* exact in bf16 */
    for (int i = 0; i < 5; i++) h[i] = bf16_from_f32(want[i]);
    bf16_to_f32_inplace(buf, 5);
    CHECK(memcmp(buf, want, sizeof want) == 0);
    clipc_config cfg;
    float *px;
    int32_t *ids;
    clipc_model *m = random_model("tiny", 11, 3, 6, &cfg, &px, &ids);
    int n = 3, E = cfg.embed_dim;
    REQUIRE(E == 128);
    float ref[3 * 128], tref[3 * 128], got[3 * 128], tgot[3 * 128], bf[3 * 128];
    /* The reference: f32 on OpenBLAS, as training computes it and as the
     * fallback redoes a failed chunk (the f32 oneDNN context off). */
    onednn_test_f32_off(1);
    REQUIRE_OK(clipc_encode_image(m, px, n, ref));
    REQUIRE_OK(clipc_encode_text(m, ids, n, tref));
    onednn_test_f32_off(0);
    /* f32 inference on oneDNN (the default) agrees to float32 accuracy. */
    REQUIRE_OK(clipc_encode_image(m, px, n, got));
    REQUIRE_OK(clipc_encode_text(m, ids, n, tgot));
    double cf = worst_cosine(ref, got, n, E), ct = worst_cosine(tref, tgot, n, E);
    verbose("f32 oneDNN vs OpenBLAS, images", cf);
    verbose("f32 oneDNN vs OpenBLAS, texts", ct);
    CHECK(cf >= 0.9999999 && ct >= 0.9999999);
    /* The rest needs bf16; the f32 check above runs on every CPU. */
    if (!onednn_bf16_available()) {
        free(px);
        free(ids);
        clipc_model_free(m);
        SKIP("this CPU has no AVX512_BF16");
    }
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_BF16, NULL, NULL));
    REQUIRE_OK(clipc_encode_image(m, px, n, bf));
    CHECK(memcmp(ref, bf, sizeof ref) != 0); /* bf16 really ran */
    onednn_test_fail(ONEDNN_FAIL_FUSED);
    clipc_status si = clipc_encode_image(m, px, n, got), st = clipc_encode_text(m, ids, n, tgot);
    onednn_test_fail(0);
    REQUIRE_OK(si);
    REQUIRE_OK(st);
    CHECK(memcmp(ref, got, sizeof ref) == 0);
    CHECK(memcmp(tref, tgot, sizeof tref) == 0);
    /* The failure comes back by value from the tower given the backend
     * (nothing is left behind for a later call); with none, nothing fails. */
    vision_acts va;
    REQUIRE_OK(vision_acts_alloc(&va, &cfg, n, 0));
    onednn_test_fail(ONEDNN_FAIL_FUSED);
    int failed = vision_forward(&va, got, px, &m->w.v, &cfg, n, model_backend(m));
    int plain = vision_forward(&va, got, px, &m->w.v, &cfg, n, NULL);
    onednn_test_fail(0);
    vision_acts_free(&va);
    CHECK(failed == 1 && plain == 0);
    CHECK(memcmp(ref, got, sizeof ref) == 0);
    onednn_test_fail(ONEDNN_FAIL_ATTENTION);
    si = clipc_encode_image(m, px, n, got);
    onednn_test_fail(0);
    REQUIRE_OK(si);
    double c = worst_cosine(ref, got, n, E);
    verbose("image embeds, attention fallback", c);
    CHECK(c >= 0.9999);
    CHECK(memcmp(got, bf, sizeof bf) != 0); /* another path than the batched one */
    CHECK(worst_cosine(bf, got, n, E) >= 0.9999);
    /* The batched attention cut into groups (2 + 1 images here) gives the
     * same bits as one group: each (image, head) is its own product. */
    int T = (cfg.image_resolution / cfg.vision_patch_size) * (cfg.image_resolution / cfg.vision_patch_size) + 1;
    int NH = cfg.vision_heads;
    onednn_test_scores_max((size_t)2 * NH * T * T);
    si = clipc_encode_image(m, px, n, got);
    onednn_test_scores_max(0);
    REQUIRE_OK(si);
    CHECK(memcmp(got, bf, sizeof bf) == 0);
    free(px);
    free(ids);
    clipc_model_free(m);
}

/* Two threads encoding with one model at once, in f32 (oneDNN's shared
 * f32 context) and in bf16: the second finds the context's input and
 * scores buffers in use and takes its own buffer and attention.c's path;
 * oneDNN executions are serialised (its scratchpad is shared).  Both get
 * accurate embeddings; under ASan this checks the buffers' sizes too. */
typedef struct {
    clipc_model *m;
    const float *px;
    int n;
    float *out;
    clipc_status s;
} enc_job;

static void *encode_job(void *p) {
    enc_job *j = p;
    for (int r = 0; r < 4 && !j->s; r++) j->s = clipc_encode_image(j->m, j->px, j->n, j->out);
    return NULL;
}

TEST(bf16_two_threads_one_model) {
    clipc_config cfg;
    float *px;
    int32_t *ids;
    clipc_model *m = random_model("tiny", 13, 8, 8, &cfg, &px, &ids);
    int n = 8, E = cfg.embed_dim;
    float *ref = malloc(sizeof(float) * n * E), *o1 = malloc(sizeof(float) * n * E), *o2 = malloc(sizeof(float) * n * E);
    REQUIRE_OK(clipc_encode_image(m, px, n, ref));
    for (int bf = 0; bf < 2; bf++) {
        if (bf && !onednn_bf16_available()) break; /* the f32 half ran */
        if (bf) REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_BF16, NULL, NULL));
        enc_job a = {m, px, n, o1, CLIPC_OK}, b = {m, px, n, o2, CLIPC_OK};
        pthread_t ta, tb;
        REQUIRE(pthread_create(&ta, NULL, encode_job, &a) == 0);
        REQUIRE(pthread_create(&tb, NULL, encode_job, &b) == 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        REQUIRE_OK(a.s);
        REQUIRE_OK(b.s);
        double want = bf ? 0.9999 : 0.9999999, c1 = worst_cosine(ref, o1, n, E), c2 = worst_cosine(ref, o2, n, E);
        CHECKF(c1 >= want && c2 >= want, "%s: worst cosines %.7f %.7f", bf ? "bf16" : "f32", c1, c2);
    }
    free(ref);
    free(o1);
    free(o2);
    free(px);
    free(ids);
    clipc_model_free(m);
}

/* clipc encode --precision bf16 (CLI): same embeddings within bf16's
 * accuracy on AVX512_BF16 CPUs; elsewhere a warning and f32's bits. */
TEST(bf16_cli_encode_precision_flag) {
    const char *tmp = test_tmpdir();
    char cmd[2048], p[2][512], mp[512];
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("tiny", &cfg));
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 3, &m));
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    const char *prec[2] = {"f32", "bf16"};
    char *log[2];
    for (int k = 0; k < 2; k++) {
        snprintf(p[k], sizeof p[k], "%s/%s.safetensors", tmp, prec[k]);
        snprintf(cmd, sizeof cmd,
                 "clipc encode --model %s --precision %s --format safetensors --out %s --text 'a cat' "
                 "--image tests/data/images/ycc444_prog_37x23.jpg --text 'two dogs on a sofa' 2>&1",
                 mp, prec[k], p[k]);
        int rc = run_capture(cmd, &log[k]);
        REQUIREF(rc == 0, "exit %d: %s", rc, log[k]);
    }
    CHECK(strcmp(log[0], "") == 0);
    st_file f[2];
    REQUIRE_OK(st_open(p[0], &f[0]));
    REQUIRE_OK(st_open(p[1], &f[1]));
    const char *names[2] = {"text_embeds", "image_embeds"};
    for (int j = 0; j < 2; j++) {
        const st_tensor *a = st_get(&f[0], names[j]), *b = st_get(&f[1], names[j]);
        REQUIRE(a && b && a->nbytes == b->nbytes);
        int n = (int)a->shape[0];
        if (onednn_bf16_available()) {
            double w = worst_cosine(a->data, b->data, n, cfg.embed_dim);
            verbose(names[j], w);
            CHECKF(w >= 0.9999, "%s: worst cosine %.6f", names[j], w);
            CHECK(memcmp(a->data, b->data, a->nbytes) != 0);
        } else {
            CHECK(memcmp(a->data, b->data, a->nbytes) == 0);
        }
    }
    if (!onednn_bf16_available())
        CHECK(strcmp(log[1], "clipc: warning: bf16: this CPU has no AVX512_BF16; encoding in f32 instead\n") == 0);
    else
        CHECK(strcmp(log[1], "") == 0);
    st_close(&f[0]);
    st_close(&f[1]);
    free(log[0]);
    free(log[1]);
}
