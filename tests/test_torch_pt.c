/*
 * test_torch_pt.c — PyTorch files and non-F32 weights: the shared weights.pt
 * of vit_tiny and rn_tiny against the weights.safetensors beside them
 * (tensor for tensor, byte for byte), the vit_tiny .pt as a model (bit for
 * bit the safetensors model), a TorchScript archive saved in fp16 by
 * Debian's PyTorch (tools/make_torchscript_golden.py), F16/BF16/F64
 * safetensors written here from the f32 goldens, and the exact conversion
 * of special values.  Malicious inputs are in test_torch_pickle.c.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

/* f32 -> f16 / bf16 with round-to-nearest-even, written independently of
 * the library's (opposite) conversions so the round trips test both. */
static uint16_t to_f16(float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    float a = fabsf(x);
    if (isnan(x)) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00; /* halfway past 65504 and above: inf */
    if (a < 0x1p-14f) return sign | (uint16_t)rintf(a * 0x1p24f); /* subnormal; may round up to 0x400 */
    int e;
    frexpf(a, &e); /* a = f * 2^e, f in [0.5, 1) */
    int E = e - 1;
    float mant = rintf((ldexpf(a, -E) - 1.0f) * 1024.0f);
    int biased = E + 15;
    if (mant == 1024.0f) biased++, mant = 0;
    return sign | (uint16_t)(biased << 10) | (uint16_t)mant;
}

static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static int same_bits(float a, float b) { return !memcmp(&a, &b, 4); }

TEST(torch_dtype_special_values_exact) {
    /* F16: zero, -zero, smallest and largest subnormal, smallest normal, 1, -2, max, inf, nan. */
    CHECK(same_bits(tf_f16_to_f32(0x0000), 0.0f) && same_bits(tf_f16_to_f32(0x8000), -0.0f));
    CHECK(tf_f16_to_f32(0x0001) == 0x1p-24f && tf_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    CHECK(tf_f16_to_f32(0x8001) == -0x1p-24f && tf_f16_to_f32(0x0400) == 0x1p-14f);
    CHECK(tf_f16_to_f32(0x3c00) == 1.0f && tf_f16_to_f32(0xc000) == -2.0f && tf_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(tf_f16_to_f32(0x3555) == 0x1.554p-2f);
    CHECK(isinf(tf_f16_to_f32(0x7c00)) && tf_f16_to_f32(0x7c00) > 0 && tf_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(tf_f16_to_f32(0x7e00)) && isnan(tf_f16_to_f32(0x7c01)) && isnan(tf_f16_to_f32(0xfe00)));
    /* Every f16 survives f16 -> f32 -> f16 (nans stay nans). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tf_f16_to_f32((uint16_t)h);
        if (isnan(f) ? !(((h >> 10) & 0x1f) == 31 && (h & 0x3ff)) : to_f16(f) != h) bad++;
    }
    CHECKF(bad == 0, "%d f16 values do not round-trip", bad);
    /* BF16: the top half of an f32. */
    CHECK(tf_bf16_to_f32(0x3f80) == 1.0f && tf_bf16_to_f32(0xc040) == -3.0f && tf_bf16_to_f32(0x0001) == 0x1p-133f);
    CHECK(isinf(tf_bf16_to_f32(0x7f80)) && tf_bf16_to_f32(0xff80) < 0 && isnan(tf_bf16_to_f32(0x7fc0)));
    CHECK(tf_bf16_to_f32(0x7f7f) == 0x1.fep127f && same_bits(tf_bf16_to_f32(0x8000), -0.0f));
    /* F64: round to nearest even, ties included, overflow to inf. */
    CHECK(tf_f64_to_f32(1.0 / 3.0) == 0x1.555556p-2f && tf_f64_to_f32(-0.1) == -0.1f);
    CHECK(tf_f64_to_f32(1.0 + 0x1p-24) == 1.0f);                /* tie, even is 1 */
    CHECK(tf_f64_to_f32(1.0 + 0x1.8p-23) == 1.0f + 0x1p-22f);   /* tie, even is up */
    CHECK(tf_f64_to_f32(0x1p-150) == 0.0f && tf_f64_to_f32(0x1.8p-149) == 0x1p-148f);
    CHECK(tf_f64_to_f32(0x1p-1074) == 0.0f && same_bits(tf_f64_to_f32(-0x1p-1074), -0.0f));
    CHECK(tf_f64_to_f32((double)FLT_MAX * (1 + 0x1p-25)) == FLT_MAX);
    CHECK(isinf(tf_f64_to_f32(0x1p128 - 0x1p103)) && tf_f64_to_f32(0x1p128 - 0x1p104) == FLT_MAX);
    CHECK(isinf(tf_f64_to_f32(1e300)) && tf_f64_to_f32(-1e300) == -INFINITY && tf_f64_to_f32(INFINITY) == INFINITY);
    CHECK(isnan(tf_f64_to_f32(NAN)) && tf_f64_to_f32(65504.0) == 65504.0f);
}

/* Two files must hold the same tensors: names, dtypes, shapes, bytes. */
static void check_same_tensors(const char *dir) {
    const char *base = shared_path(dir);
    if (!base) SKIP("../shared/reference not found");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/weights.pt", base);
    snprintf(b, sizeof b, "%s/weights.safetensors", base);
    st_file fp, fs;
    REQUIRE_OK(tf_open(a, &fp));
    REQUIRE_OK(tf_open(b, &fs));
    CHECKF(fp.n_tensors == fs.n_tensors && fs.n_tensors > 50, "%d tensors in .pt, %d in .safetensors", fp.n_tensors,
           fs.n_tensors);
    int diff = 0;
    for (int i = 0; i < fp.n_tensors && i < fs.n_tensors; i++) {
        const st_tensor *x = &fp.tensors[i], *y = &fs.tensors[i];
        int ok = !strcmp(x->name, y->name) && x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes &&
                 !memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) &&
                 !memcmp(x->data, y->data, x->nbytes);
        if (!ok && diff++ < 5) harness_fail(__FILE__, __LINE__, "%s: tensor %s differs from %s", dir, x->name, y->name);
    }
    /* Stored storages are used in place, inside the mapping. */
    const st_tensor *t = st_get(&fp, "token_embedding.weight");
    REQUIRE(t && t->dtype == ST_F32);
    CHECK((const uint8_t *)t->data >= (const uint8_t *)fp.map &&
          (const uint8_t *)t->data + t->nbytes <= (const uint8_t *)fp.map + fp.map_len);
    st_close(&fp);
    st_close(&fs);
}

TEST(torch_pt_vit_tiny_same_tensors_as_safetensors) { check_same_tensors("reference/openai_clip/vit_tiny"); }
TEST(torch_pt_rn_tiny_same_tensors_as_safetensors) { check_same_tensors("reference/openai_clip/rn_tiny"); }

/* The golden inputs: pixels [N,3,R,R] and ids [N,77]. */
typedef struct {
    st_file in;
    int N;
} inputs;

static int enc(const char *path, const clipc_load_opts *o, const float *px, const int32_t *ids, int N, float *img,
               float *txt) {
    /* These files record no activation; OpenAI's code (and so the goldens) is QuickGELU. */
    const clipc_load_opts quickgelu = {.act_given = 1, .act = CLIPC_ACT_QUICKGELU};
    clipc_model *m;
    REQUIRE_OK(clipc_model_load(path, o ? o : &quickgelu, &m));
    int E = clipc_model_config(m)->embed_dim;
    REQUIRE_OK(clipc_encode_image(m, px, N, img));
    REQUIRE_OK(clipc_encode_text(m, ids, N, txt));
    clipc_model_free(m);
    return E;
}

static void pt_encodes_like_safetensors(const char *dir) {
    const char *base = shared_path(dir);
    if (!base) SKIP("../shared/reference not found");
    char p[1024];
    st_file in;
    snprintf(p, sizeof p, "%s/inputs/inputs.safetensors", base);
    REQUIRE_OK(tf_open(p, &in));
    const st_tensor *px = st_get(&in, "pixel_values"), *ids = st_get(&in, "input_ids");
    REQUIRE(px && ids && ids->dtype == ST_I32);
    int N = (int)px->shape[0];
    float a[2][6 * 64], b[2][6 * 64];
    REQUIRE(N <= 6);
    snprintf(p, sizeof p, "%s/weights.pt", base);
    int E = enc(p, NULL, px->data, ids->data, N, a[0], a[1]);
    snprintf(p, sizeof p, "%s/weights.safetensors", base);
    enc(p, NULL, px->data, ids->data, N, b[0], b[1]);
    REQUIRE(E == 64);
    CHECK(!memcmp(a, b, sizeof a) && a[0][0] != 0);
    st_close(&in);
}

TEST(torch_pt_vit_tiny_encodes_bit_exact) { pt_encodes_like_safetensors("reference/openai_clip/vit_tiny"); }
/* The ModifiedResNet golden (BatchNorm running statistics, I64
 * num_batches_tracked in the archive) through the same path. */
TEST(torch_pt_rn_tiny_encodes_bit_exact) { pt_encodes_like_safetensors("reference/openai_clip/rn_tiny"); }

/* Writes the f32 tensors of `src` to `dst` as dtype `dt`, converting here;
 * the first value of tensor `poison` (may be NULL) becomes +inf. */
static void write_as_(const char *src, const char *dst, st_dtype dt, const char *poison) {
    st_file f;
    REQUIRE_OK(tf_open(src, &f));
    st_out_tensor *o = calloc((size_t)f.n_tensors, sizeof *o);
    void **bufs = calloc((size_t)f.n_tensors, sizeof *bufs);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        REQUIRE(t->dtype == ST_F32);
        const float *x = t->data;
        uint8_t *b = bufs[i] = malloc(t->numel * st_dtype_size(dt) + 1);
        for (size_t k = 0; k < t->numel; k++) {
            float v = poison && !strcmp(t->name, poison) && k == 0 ? INFINITY : x[k];
            uint16_t h = dt == ST_F16 ? to_f16(v) : to_bf16(v);
            double d = v;
            if (dt == ST_F64) memcpy(b + 8 * k, &d, 8);
            else memcpy(b + 2 * k, &h, 2);
        }
        o[i] = (st_out_tensor){t->name, dt, t->ndim, {0}, b};
        memcpy(o[i].shape, t->shape, sizeof t->shape);
    }
    REQUIRE_OK(st_write(dst, o, f.n_tensors, NULL));
    for (int i = 0; i < f.n_tensors; i++) free(bufs[i]);
    free(bufs);
    free(o);
    st_close(&f);
}

static void write_as(const char *src, const char *dst, st_dtype dt) { write_as_(src, dst, dt, NULL); }

static double maxabs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double maxdiff(const float *x, const float *y, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, isnan(x[i] - y[i]) ? INFINITY : fabs((double)x[i] - y[i]));
    return m;
}

/* A deterministic batch for a model of resolution R, context C, vocab V:
 * SOT-like first id, a few ids, the largest id as EOT. */
static void make_batch(int N, int R, int C, int V, float *px, int32_t *ids) {
    for (int i = 0; i < N * 3 * R * R; i++) px[i] = (float)sin(0.37 * i + 0.1);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < C; t++) ids[n * C + t] = t == 0 ? V - 2 : t < 3 + n ? (7 * t + 13 * n) % (V - 3) + 1 :
                                                     t == 3 + n ? V - 1 : 0;
}

/* Measured on this machine's kernels (tolerances state the reasoning):
 * F64 round-trips f32 exactly, so its model is bit-exact; F16 and BF16
 * weights carry a relative rounding error of at most u = 2^-11 and 2^-8;
 * through a few layers that perturbs an embedding by a small multiple of u
 * relative to its largest value; the bounds allow 8u * max|ref| (measured:
 * up to 1.7u for vit_tiny, 0.8u for the TorchScript model), far below
 * the ~1 * max|ref| a wrong or swapped tensor gives. */
TEST(torch_f16_bf16_f64_safetensors_load_and_encode) {
    const char *base = shared_path("reference/openai_clip/vit_tiny");
    if (!base) SKIP("../shared/reference not found");
    char src[1024], p[1024];
    snprintf(src, sizeof src, "%s/weights.safetensors", base);
    enum { N = 3, R = 32, C = 77, V = 49408, E = 64 };
    float *px = malloc(sizeof(float) * N * 3 * R * R), ref[2][N * E], got[2][N * E];
    int32_t ids[N * C];
    make_batch(N, R, C, V, px, ids);
    enc(src, NULL, px, ids, N, ref[0], ref[1]);
    const struct { st_dtype dt; double u; } cases[] = {{ST_F64, 0}, {ST_F16, 0x1p-11}, {ST_BF16, 0x1p-8}};
    for (int c = 0; c < 3; c++) {
        snprintf(p, sizeof p, "%s/w_%s.safetensors", test_tmpdir(), st_dtype_name(cases[c].dt));
        write_as(src, p, cases[c].dt);
        st_file f;
        REQUIRE_OK(tf_open(p, &f));
        CHECK(st_get(&f, "visual.conv1.weight")->dtype == cases[c].dt); /* the dtype stays visible */
        st_close(&f);
        clipc_load_opts o = {.vision_heads = 1, .text_heads = 4, .act_given = 1}; /* no config.json beside it */
        enc(p, &o, px, ids, N, got[0], got[1]);
        for (int w = 0; w < 2; w++) {
            double d = maxdiff(got[w], ref[w], N * E), m = maxabs(ref[w], N * E);
            if (getenv("CLIPC_TEST_VERBOSE"))
                printf("    %s %s: max|diff| %.3g = %.2f u of max|ref| %.3g\n", st_dtype_name(cases[c].dt),
                       w ? "text" : "image", d, cases[c].u ? d / (cases[c].u * m) : 0, m);
            if (cases[c].u == 0) CHECKF(d == 0, "%s: max|diff| %g, expected bit-exact", st_dtype_name(cases[c].dt), d);
            else CHECKF(d <= 8 * cases[c].u * m && d > 0, "%s %s: max|diff| %g > 8u * %g", st_dtype_name(cases[c].dt),
                        w ? "text" : "image", d, m);
        }
    }
    free(px);
}

/* The TorchScript archive: OpenAI's names from module attributes, F16
 * tensors equal to the f32 weights rounded to nearest even, non-weight
 * attributes (ints, bools, the attention masks) ignored by the model. */
TEST(torch_torchscript_fp16_archive) {
    const char *ts = "tests/data/torchscript/mini_vit_fp16_jit.pt", *f32 = "tests/data/torchscript/mini_vit_f32.safetensors";
    st_file a, b;
    REQUIRE_OK(tf_open(ts, &a));
    REQUIRE_OK(tf_open(f32, &b));
    int n_f16 = 0, bad = 0;
    for (int i = 0; i < b.n_tensors; i++) {
        const st_tensor *y = &b.tensors[i], *x = st_get(&a, y->name);
        REQUIREF(x, "tensor %s missing from the TorchScript archive", y->name);
        CHECKF(x->dtype == ST_F16 && x->ndim == y->ndim && x->numel == y->numel &&
               !memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim), "%s: dtype/shape", y->name);
        const uint16_t *h = x->data;
        const float *v = y->data;
        for (size_t k = 0; k < y->numel && x->dtype == ST_F16; k++) bad += h[k] != to_f16(v[k]);
        n_f16++;
    }
    CHECKF(bad == 0, "%d values differ from f32 rounded to f16", bad);
    CHECK(n_f16 == b.n_tensors && n_f16 > 30);
    /* Extra non-parameter tensors of the modules: the attention masks. */
    CHECK(st_get(&a, "transformer.resblocks.0.attn_mask") && st_get(&a, "visual.conv1.weight"));
    CHECK(a.n_tensors == b.n_tensors + 2);
    st_close(&a);
    st_close(&b);

    /* As models: the archive encodes bit for bit like the f32 weights
     * rounded to f16 (the same values), and within fp16 rounding of the
     * f32 model (the bound of the test above, 8u * max|ref|). */
    enum { N = 2, R = 16, C = 8, V = 300, E = 32 };
    float px[N * 3 * R * R], ref[2][N * E], got[2][N * E], r16[2][N * E];
    int32_t ids[N * C];
    make_batch(N, R, C, V, px, ids);
    enc(f32, NULL, px, ids, N, ref[0], ref[1]);
    enc(ts, NULL, px, ids, N, got[0], got[1]);
    char p[1024];
    snprintf(p, sizeof p, "%s/rounded.safetensors", test_tmpdir());
    write_as(f32, p, ST_F16);
    clipc_load_opts o = {.vision_heads = 2, .text_heads = 2, .act_given = 1};
    enc(p, &o, px, ids, N, r16[0], r16[1]);
    CHECK(!memcmp(got, r16, sizeof got));
    for (int w = 0; w < 2; w++) {
        double d = maxdiff(got[w], ref[w], N * E), m = maxabs(ref[w], N * E);
        if (getenv("CLIPC_TEST_VERBOSE"))
            printf("    torchscript %s: max|diff| %.3g = %.2f u of max|ref| %.3g\n", w ? "text" : "image", d,
                   d / (0x1p-11 * m), m);
        CHECKF(d <= 8 * 0x1p-11 * m && d > 0 && m > 0.1, "max|diff| %g, max|ref| %g", d, m);
    }
}

/* Non-finite weights are found after conversion: an inf in an F16 or F64
 * file is refused like one in an F32 file, naming the tensor. */
TEST(torch_f16_nonfinite_refused_after_conversion) {
    const char *src = "tests/data/torchscript/mini_vit_f32.safetensors";
    const st_dtype dts[] = {ST_F16, ST_BF16, ST_F64};
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/inf_%s.safetensors", test_tmpdir(), st_dtype_name(dts[i]));
        write_as_(src, p, dts[i], "ln_final.bias");
        clipc_load_opts o = {.vision_heads = 2, .text_heads = 2, .act_given = 1};
        clipc_model *m = NULL;
        CHECK(clipc_model_load(p, &o, &m) == CLIPC_ERR_FORMAT && !m);
        CHECKF(strstr(clipc_last_error(), "tensor 'ln_final.bias' holds 1 non-finite values"), "%s",
               clipc_last_error());
    }
}

static void count_warning(const char *msg, void *ud) {
    (void)msg;
    ++*(int *)ud;
}

/* A TorchScript archive holds each block's causal mask as a tensor
 * attribute (OpenAI's do too): ignored without a warning, as clipc builds
 * its own mask. */
TEST(torch_torchscript_attn_masks_ignored_quietly) {
    int warnings = 0;
    clipc_load_opts o = {.act_given = 1, .warn = count_warning, .warn_ud = &warnings};
    clipc_model *m;
    REQUIRE_OK(clipc_model_load("tests/data/torchscript/mini_vit_fp16_jit.pt", &o, &m));
    CHECKF(warnings == 0, "%d warning(s)", warnings);
    clipc_model_free(m);
}
