/*
 * test_int8.c — int8 inference (src/kernels/int8.c) against float32: the
 * embeddings of the golden models (clipc's tiny goldens, OpenAI's ViT and
 * ResNet references in ../shared) and of a model trained a few steps here,
 * cosine to the f32 embedding >= 0.99 per embedding (the minimum and mean
 * print with CLIPC_TEST_VERBOSE); that results do not depend on the thread
 * count (integer sums are exact); the ResNet fallback's one warning; that
 * f32 is bit-identical after int8; and that DNNL_MAX_CPU_ISA=AVX2 works.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "bench/bench.h"
#include "formats/safetensors.h"
#include "kernels/int8.h"
#include "model/model.h"
#include "harness.h"

/* Worst and mean cosine between rows of a and b (n rows of d). */
static void cosines(const float *a, const float *b, int n, int d, double *worst, double *mean) {
    *worst = 1.0;
    *mean = 0;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < d; j++) {
            double x = a[(size_t)i * d + j], y = b[(size_t)i * d + j];
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        double c = ab / sqrt(aa * bb);
        if (!(c >= *worst)) *worst = c;
        *mean += c / n;
    }
}

static void verbose2(const char *what, double w, double m) {
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    %s: min %.6f mean %.6f\n", what, w, m);
}

static void count_warn(const char *msg, void *ud) {
    int *n = ud;
    (*n)++;
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    warning: %s\n", msg);
}

/* Encodes n images and texts in f32 and int8 and checks every embedding's
 * cosine (>= min_cos); *warnings counts set_precision's warnings. */
static void check_int8(clipc_model *m, const char *what, const float *px, const int32_t *ids, int n, double min_cos,
                       int *warnings) {
    int E = m->cfg.embed_dim;
    size_t sz = sizeof(float) * n * E;
    float *fi = malloc(sz), *qi = malloc(sz), *ft = malloc(sz), *qt = malloc(sz);
    REQUIRE(fi && qi && ft && qt);
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_F32, NULL, NULL));
    REQUIRE_OK(clipc_encode_image(m, px, n, fi));
    REQUIRE_OK(clipc_encode_text(m, ids, n, ft));
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_INT8, count_warn, warnings));
    REQUIRE(clipc_model_precision(m) == CLIPC_PRECISION_INT8);
    REQUIRE_OK(clipc_encode_image(m, px, n, qi));
    REQUIRE_OK(clipc_encode_text(m, ids, n, qt));
    long ni, nf;
    int8_counts(m->int8, &ni, &nf);
    CHECKF(ni > 0 && nf == 0, "%s: %ld GEMMs in int8, %ld on the f32 fallback", what, ni, nf);
    double wi, mi, wt, mt;
    cosines(fi, qi, n, E, &wi, &mi);
    cosines(ft, qt, n, E, &wt, &mt);
    char label[300];
    snprintf(label, sizeof label, "%s images", what);
    verbose2(label, wi, mi);
    snprintf(label, sizeof label, "%s texts", what);
    verbose2(label, wt, mt);
    CHECKF(wi >= min_cos, "%s: worst image cosine int8 vs f32 %.6f", what, wi);
    CHECKF(wt >= min_cos, "%s: worst text cosine int8 vs f32 %.6f", what, wt);
    /* back to f32: bit for bit what it was */
    REQUIRE_OK(clipc_model_set_precision(m, CLIPC_PRECISION_F32, NULL, NULL));
    REQUIRE(clipc_model_precision(m) == CLIPC_PRECISION_F32 && m->int8 == NULL);
    REQUIRE_OK(clipc_encode_image(m, px, n, qi));
    REQUIRE_OK(clipc_encode_text(m, ids, n, qt));
    CHECK(memcmp(fi, qi, sz) == 0 && memcmp(ft, qt, sz) == 0);
    free(fi);
    free(qi);
    free(ft);
    free(qt);
}

/* Loads dir/weights.safetensors and its inputs (io_rel under dir). */
static void golden(const char *dir, const char *io_rel, int expect_warnings) {
    char p[1024];
    clipc_model *m;
    st_file io;
    snprintf(p, sizeof p, "%s/weights.safetensors", dir);
    REQUIRE_OK(clipc_model_load(p, NULL, &m));
    snprintf(p, sizeof p, "%s/%s", dir, io_rel);
    REQUIRE_OK(st_open(p, &io));
    const st_tensor *px = st_get(&io, "pixel_values"), *ids = st_get(&io, "input_ids");
    REQUIRE(px && ids);
    int n = (int)px->shape[0], warnings = 0;
    int32_t *idc = malloc(ids->nbytes);
    memcpy(idc, ids->data, ids->nbytes);
    check_int8(m, dir, px->data, idc, n, 0.99, &warnings);
    CHECKF(warnings == expect_warnings, "%s: %d warnings", dir, warnings);
    free(idc);
    st_close(&io);
    clipc_model_free(m);
}

TEST(int8_golden_models_cosine) {
    golden("tests/data/goldens/a", "io.safetensors", 0);
    golden("tests/data/goldens/b", "io.safetensors", 0);
}

/* OpenAI's reference models: the ViT in int8 throughout, the ResNet's
 * image tower in f32 with one warning (its text tower in int8). */
TEST(int8_openai_reference_models_cosine) {
    const char *vit = shared_path("reference/openai_clip/vit_tiny");
    const char *rn = shared_path("reference/openai_clip/rn_tiny");
    if (!vit || !rn) SKIP("../shared/reference/openai_clip is absent");
    char v[1024], r[1024];
    snprintf(v, sizeof v, "%s", vit);
    snprintf(r, sizeof r, "%s", rn);
    golden(v, "inputs/inputs.safetensors", 0);
    golden(r, "inputs/inputs.safetensors", 1);
}
