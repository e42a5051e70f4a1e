/*
 * test_f32_pack.c — f32 encoding on packed weights (onednn.c's packed
 * context, model_backend in precision.c): small-batch embeddings equal the
 * plain oneDNN and OpenBLAS ones within float tolerance and repeat bit for
 * bit; tall products keep the plain weights (one packed copy per weight at
 * most); a loaded model packs, training (model_make_writable) drops the
 * copies; two threads sharing a model get its embeddings; and `clipc bench`
 * names its kernels and runs a model file (--model).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "bench/bench.h"
#include "kernels/onednn.h"
#include "kernels/onednn_testing.h"
#include "kernels/sgemm_panel.h"
#include "model/model.h"
#include "model/precision.h"
#include "harness.h"

/* Largest |a - b| over n floats, relative to the largest |a|. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(a[i]) > m) m = fabs(a[i]);
    }
    return d / m;
}

/* Image and text embeddings of n inputs into img and txt (n x E each). */
static void encode_both(const clipc_model *m, const float *px, const int32_t *ids, int n, float *img, float *txt) {
    REQUIRE_OK(clipc_encode_image(m, px, n, img));
    REQUIRE_OK(clipc_encode_text(m, ids, n, txt));
}

/* With panel 0 the small products run oneDNN on its packed weights, with
 * panel 1 sgemm_panel.c (what AVX2 CPUs without AVX-512 choose). */
static void small_batch_equals_plain(int panel) {
    onednn_test_panel(panel);
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("tiny", &cfg));
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 21, &m));
    int n = 64, E = cfg.embed_dim; /* 64 images of 17 tokens: 1088 rows, past PACK_MAX_ROWS */
    float *px = malloc(sizeof(float) * n * 3 * cfg.image_resolution * cfg.image_resolution);
    int32_t *ids = malloc(sizeof(int32_t) * n * cfg.context_length);
    float *e[4][2];
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 2; t++) e[k][t] = malloc(sizeof(float) * n * E);
    REQUIRE(px && ids);
    bench_random_batch(&cfg, n, 5, px, ids);
    int b = 4; /* the small batch */
    /* a created model's weights may still change (training): plain weights */
    CHECK(!m->weights_fixed);
    encode_both(m, px, ids, b, e[0][0], e[0][1]);
    CHECK(m->f32pack == NULL);
    onednn_test_f32_off(1); /* OpenBLAS */
    encode_both(m, px, ids, b, e[1][0], e[1][1]);
    onednn_test_f32_off(0);
    m->weights_fixed = 1;
    encode_both(m, px, ids, b, e[2][0], e[2][1]);
    REQUIRE(m->f32pack != NULL);
    /* every block's four weight matrices (12 C^2 floats) at least, and no
     * more than the parameters (most of tiny's are the token embedding) */
    size_t packed = onednn_packed_bytes(m->f32pack), params = m->tab.total * sizeof(float);
    size_t blocks = sizeof(float) * 12 * ((size_t)cfg.vision_layers * cfg.vision_width * cfg.vision_width +
                                          (size_t)cfg.transformer_layers * cfg.transformer_width * cfg.transformer_width);
    CHECKF(packed >= blocks && packed <= params, "packed %zu bytes, blocks %zu, params %zu", packed, blocks, params);
    encode_both(m, px, ids, b, e[3][0], e[3][1]);
    for (int t = 0; t < 2; t++) {
        size_t sz = (size_t)b * E;
        double d_plain = rel_diff(e[0][t], e[2][t], sz), d_blas = rel_diff(e[1][t], e[2][t], sz);
        CHECKF(d_plain < 1e-5 && d_blas < 1e-5, "%s, panel %d: packed vs plain %.3g, vs OpenBLAS %.3g",
               t ? "text" : "image", panel, d_plain, d_blas);
        CHECKF(memcmp(e[2][t], e[3][t], sz * sizeof(float)) == 0, "%s, panel %d: packed not repeatable",
               t ? "text" : "image", panel);
    }
    /* A tall batch (1088 image rows) runs the plain primitives: no new copy. */
    REQUIRE_OK(clipc_encode_image(m, px, n, e[3][0]));
    CHECK(onednn_packed_bytes(m->f32pack) == packed);
    m->weights_fixed = 0;
    REQUIRE_OK(clipc_encode_image(m, px, n, e[0][0]));
    CHECKF(rel_diff(e[0][0], e[3][0], (size_t)n * E) < 1e-5, "tall batch differs: %.3g",
           rel_diff(e[0][0], e[3][0], (size_t)n * E));
    /* Training makes the weights writable: the packed copies go. */
    m->weights_fixed = 1;
    REQUIRE_OK(model_make_writable(m));
    CHECK(m->f32pack == NULL && !m->weights_fixed);
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 2; t++) free(e[k][t]);
    free(px);
    free(ids);
    clipc_model_free(m);
    onednn_test_panel(-1);
}

TEST(f32pack_small_batch_equals_plain_and_openblas) {
    small_batch_equals_plain(0);
    if (sgemm_panel_available()) small_batch_equals_plain(1);
    else SKIP("this CPU has no AVX2 + FMA: the panel kernel was not checked");
}

typedef struct {
    const clipc_model *m;
    const float *px;
    int n;
    float *out;
    clipc_status s;
} enc_job;

static void *encode_job(void *p) {
    enc_job *j = p;
    for (int r = 0; r < 3 && !j->s; r++) j->s = clipc_encode_image(j->m, j->px, j->n, j->out);
    return NULL;
}

/* A loaded model packs; two threads racing to make its packed context and
 * copies get the single-threaded embeddings. */
TEST(f32pack_loaded_model_two_threads) {
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("tiny", &cfg));
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 22, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/pack.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, path));
    int n = 2, E = cfg.embed_dim;
    float *px = malloc(sizeof(float) * n * 3 * cfg.image_resolution * cfg.image_resolution);
    int32_t *ids = malloc(sizeof(int32_t) * n * cfg.context_length);
    float *ref = malloc(sizeof(float) * n * E), *o1 = malloc(sizeof(float) * n * E), *o2 = malloc(sizeof(float) * n * E);
    bench_random_batch(&cfg, n, 6, px, ids);
    m->weights_fixed = 1;
    REQUIRE_OK(clipc_encode_image(m, px, n, ref));
    clipc_model_free(m);
    REQUIRE_OK(clipc_model_load(path, NULL, &m));
    CHECK(m->weights_fixed && m->f32pack == NULL);
    enc_job a = {m, px, n, o1, CLIPC_OK}, b = {m, px, n, o2, CLIPC_OK};
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, encode_job, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, encode_job, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    REQUIRE_OK(a.s);
    REQUIRE_OK(b.s);
    CHECK(m->f32pack != NULL && onednn_packed_bytes(m->f32pack) > 0);
    /* the created model's packed run and the loaded one's: same weights,
     * same kernels; the threads may differ in OpenMP team size */
    CHECKF(rel_diff(ref, o1, (size_t)n * E) < 1e-5 && rel_diff(ref, o2, (size_t)n * E) < 1e-5,
           "threads: %.3g %.3g", rel_diff(ref, o1, (size_t)n * E), rel_diff(ref, o2, (size_t)n * E));
    clipc_model_free(m);
    free(px);
    free(ids);
    free(ref);
    free(o1);
    free(o2);
}

/* The kernels line names oneDNN's ISA and OpenBLAS's core; the clipc
 * program runs OpenBLAS on the core type the hint asks for (it restarts
 * itself with OPENBLAS_CORETYPE set). */
TEST(f32pack_bench_kernels_line_and_model_file) {
    char line[160];
    clipc_kernels_describe(line, sizeof line);
    CHECKF(strstr(line, "oneDNN ") && strstr(line, " isa ") && strstr(line, "OpenBLAS core "), "%s", line);
    const char *hint = clipc_blas_core_override();
    CHECKF(!hint || !strcmp(hint, "SkylakeX") || !strcmp(hint, "Haswell"), "hint %s", hint);
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("tiny", &cfg));
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 23, &m));
    char path[512], cmd[1024], want[64];
    snprintf(path, sizeof path, "%s/bench.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, path));
    clipc_model_free(m);
    /* the child inherits this environment: without a user's choice it sets the hint */
    const char *user = getenv("OPENBLAS_CORETYPE");
    snprintf(want, sizeof want, "OpenBLAS core %s\"", user ? user : hint ? hint : "");
    snprintf(cmd, sizeof cmd, "clipc bench --model %s --mode infer --precision f32 --reps 1 --batch 2 --json 2>&1", path);
    char *out;
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "exit %d: %s", rc, out);
    CHECKF(strstr(out, "RESULT {") && strstr(out, "\"kernels\": \"oneDNN "), "%s", out);
    if (user || hint) CHECKF(strstr(out, want) != NULL, "want %s in %s", want, out);
    const char *t = strstr(out, "\"txt_b1_tokens\": ");
    CHECKF(t && atoi(t + 17) >= 3 && atoi(t + 17) <= cfg.context_length, "%s", out);
    free(out);
    rc = run_capture("clipc bench --model x.safetensors --config tiny 2>&1", &out);
    CHECK(rc == 2 && strstr(out, "clipc bench: --config and --model exclude each other (see clipc bench --help)"));
    free(out);
}

/* Small encodes reuse the activations the model keeps (encode.c), grown
 * when a later call needs more rows; the results are those of a model
 * that never kept any (the same model under a second handle). */
TEST(f32pack_kept_activations_reused_and_grown) {
    clipc_config cfg;
    REQUIRE_OK(clipc_config_named("tiny", &cfg));
    clipc_model *m, *fresh;
    REQUIRE_OK(clipc_model_create(&cfg, 24, &m));
    REQUIRE_OK(clipc_model_create(&cfg, 24, &fresh));
    int n = 8, E = cfg.embed_dim, ctx = cfg.context_length;
    float *px = malloc(sizeof(float) * n * 3 * cfg.image_resolution * cfg.image_resolution);
    int32_t *ids = malloc(sizeof(int32_t) * n * ctx);
    float *a = malloc(sizeof(float) * n * E), *b = malloc(sizeof(float) * n * E);
    bench_random_batch(&cfg, n, 7, px, ids);
    /* caption 0 short, caption 1 the full context: text rows grow 3 -> ctx */
    memset(ids, 0, sizeof(int32_t) * 2 * ctx);
    ids[0] = cfg.vocab_size - 2, ids[1] = 5, ids[2] = cfg.vocab_size - 1;
    for (int t = 0; t < ctx; t++) ids[ctx + t] = t ? 7 + t : cfg.vocab_size - 2;
    ids[2 * ctx - 1] = cfg.vocab_size - 1;
    const int32_t *order[3] = {ids, ids + ctx, ids}; /* short, long (grows), short again */
    for (int r = 0; r < 3; r++) {
        REQUIRE_OK(clipc_encode_text(m, order[r], 1, a));
        fresh->keep.t_busy = 1; /* the second handle allocates per call */
        REQUIRE_OK(clipc_encode_text(fresh, order[r], 1, b));
        fresh->keep.t_busy = 0;
        CHECKF(memcmp(a, b, sizeof(float) * E) == 0, "text call %d differs from a fresh buffer", r);
        CHECK(m->keep.t_ok && !fresh->keep.t_ok);
    }
    CHECK(m->keep.t.R >= ctx);
    for (int bsz = 1; bsz <= n; bsz *= 2) { /* images: 1, 2, 4, 8, each growing the kept batch */
        REQUIRE_OK(clipc_encode_image(m, px, bsz, a));
        fresh->keep.v_busy = 1;
        REQUIRE_OK(clipc_encode_image(fresh, px, bsz, b));
        fresh->keep.v_busy = 0;
        CHECKF(memcmp(a, b, sizeof(float) * bsz * E) == 0, "images at batch %d differ", bsz);
        CHECK(m->keep.v_ok && m->keep.v.B == bsz && !fresh->keep.v_ok);
    }
    free(px);
    free(ids);
    free(a);
    free(b);
    clipc_model_free(m);
    clipc_model_free(fresh);
}
