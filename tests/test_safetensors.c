/*
 * test_safetensors.c — the safetensors reader and writer: the reference
 * weights read with the right names, shapes, metadata and values; write/read
 * round trips of every dtype; a byte-identical re-write of the reference file;
 * and a table of corrupted files that must each fail with a message naming the
 * file and the tensor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "harness.h"

#define VIT_WEIGHTS "reference/openai_clip/vit_tiny/weights.safetensors"

static float f32_at(const st_tensor *t, size_t i) { return ((const float *)t->data)[i]; }

TEST(safetensors_read_reference) {
    const char *path = shared_path(VIT_WEIGHTS);
    if (!path) SKIP("../shared absent: no reference weights");
    st_file f;
    REQUIRE_OK(st_open(path, &f));
    CHECK(f.n_tensors == 62);
    for (int i = 1; i < f.n_tensors; i++) CHECK(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0);

    /* Expected values: /usr/bin/python3 + torch 1.13, read from the independent
     * copy weights.pt:  sd = torch.load("weights.pt"); sd[k].flatten()[:3], [-1]. */
    const st_tensor *t = st_get(&f, "logit_scale");
    REQUIRE(t);
    CHECK(t->dtype == ST_F32 && t->ndim == 0 && t->numel == 1 && t->nbytes == 4);
    CHECK(f32_at(t, 0) == 2.6861066818237305f);

    t = st_get(&f, "ln_final.weight");
    REQUIRE(t);
    CHECK(t->ndim == 1 && t->shape[0] == 64);
    CHECK(f32_at(t, 0) == 1.1304517984390259f);
    CHECK(f32_at(t, 1) == 0.9744030833244324f);
    CHECK(f32_at(t, 63) == 1.013107180595398f);

    t = st_get(&f, "visual.conv1.weight");
    REQUIRE(t);
    CHECK(t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 3 && t->shape[2] == 8 && t->shape[3] == 8);
    CHECK(f32_at(t, 0) == -0.015092222020030022f);
    CHECK(f32_at(t, t->numel - 1) == -0.030121726915240288f);

    t = st_get(&f, "token_embedding.weight");
    REQUIRE(t);
    CHECK(t->ndim == 2 && t->shape[0] == 49408 && t->shape[1] == 64 && t->nbytes == 49408u * 64u * 4u);
    CHECK(f32_at(t, 0) == 0.018087061122059822f);
    CHECK(f32_at(t, 2) == -0.0026654123794287443f);
    CHECK(f32_at(t, t->numel - 1) == 0.006809793412685394f);

    t = st_get(&f, "visual.proj");
    REQUIRE(t);
    CHECK(f32_at(t, 1) == 0.09448056668043137f);
    CHECK(f32_at(t, t->numel - 1) == -0.1950554996728897f);

    CHECK(st_get(&f, "no.such.tensor") == NULL);
    CHECK(st_get(&f, "") == NULL);
    CHECK(st_get(&f, "__metadata__") == NULL);

    const char *v = st_meta(&f, "transformer_heads");
    CHECK(v && strcmp(v, "4") == 0);
    v = st_meta(&f, "vision_type");
    CHECK(v && strcmp(v, "VisionTransformer") == 0);
    v = st_meta(&f, "vocab_size");
    CHECK(v && strcmp(v, "49408") == 0);
    CHECK(st_meta(&f, "nope") == NULL);
    CHECK(f.n_meta == 15);
    st_close(&f);
    st_close(&f); /* closing twice is harmless */
}

/* Every tensor of every reference safetensors file is aligned for its dtype,
 * even where the file stores it at an odd offset (inputs.safetensors). */
TEST(safetensors_reference_alignment) {
    const char *files[] = {"reference/openai_clip/vit_tiny/inputs/inputs.safetensors",
                           "reference/openai_clip/rn_tiny/weights.safetensors"};
    for (int k = 0; k < 2; k++) {
        const char *path = shared_path(files[k]);
        if (!path) SKIP("../shared absent: no reference files");
        st_file f;
        REQUIRE_OK(st_open(path, &f));
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            CHECKF((uintptr_t)t->data % st_dtype_size(t->dtype) == 0, "%s: %s misaligned", path, t->name);
        }
        if (k == 0) {
            const st_tensor *t = st_get(&f, "input_ids");
            REQUIRE(t && t->dtype == ST_I32);
            CHECK(((const int32_t *)t->data)[0] == 49406); /* SOT */
        }
        st_close(&f);
    }
}

TEST(safetensors_dtypes) {
    CHECK(st_dtype_size(ST_F32) == 4 && st_dtype_size(ST_F16) == 2 && st_dtype_size(ST_BF16) == 2);
    CHECK(st_dtype_size(ST_F64) == 8 && st_dtype_size(ST_I64) == 8 && st_dtype_size(ST_I32) == 4);
    CHECK(st_dtype_size(ST_I16) == 2 && st_dtype_size(ST_I8) == 1 && st_dtype_size(ST_U8) == 1);
    CHECK(st_dtype_size(ST_BOOL) == 1 && st_dtype_size((st_dtype)99) == 0);
    CHECK(strcmp(st_dtype_name(ST_BF16), "BF16") == 0 && strcmp(st_dtype_name(ST_BOOL), "BOOL") == 0);
}

/* ------------------------------------------------------ malformed files */

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct {
    const char *label;
    const char *header;  /* JSON header text */
    size_t data_len;     /* bytes of data actually present after the header */
    long long len_delta; /* added to the true header length in the prefix */
    long long truncate;  /* >= 0: cut the file to this many bytes; -1: keep it whole */
    uint64_t force_len;  /* nonzero: header length field value */
    const char *tensor;  /* must appear in the message (or NULL) */
    const char *phrase;  /* must appear in the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"empty", "", 0, 0, 0, 0, NULL, "too short"},
    {"trunc4", "{}", 0, 0, 4, 0, NULL, "too short"},
    {"trunc_header", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, 20, 0, NULL,
     "truncated"},
    {"trunc_data", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12, 0, -1, 0, "\"w\"",
     "truncated"},
    {"trunc_midtensor", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[8,24]}}",
     12, 0, -1, 0, "\"b\"", "truncated"},
    {"len_too_big", "{}", 0, 100, -1, 0, NULL, "larger than"},
    {"len_too_small", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -5, -1, 0, NULL,
     "not valid JSON"},
    {"len_absurd", "{}", 0, 0, -1, (uint64_t)1 << 40, NULL, "absurd"},
    {"bad_json", "{\"w\":{\"dtype\":\"F32\",", 0, 0, -1, 0, NULL, "not valid JSON"},
    {"not_object", "[1,2]", 0, 0, -1, 0, NULL, "not a JSON object"},
    {"trailing", "{} x", 0, 0, -1, 0, NULL, "trailing garbage"},
    {"entry_not_object", "{\"w\":[1]}", 0, 0, -1, 0, "\"w\"", "not a JSON object"},
    {"missing_dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"", "missing \"dtype\""},
    {"missing_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, 0, -1, 0, "\"w\"", "missing \"data_offsets\""},
    {"dtype_not_string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "dtype is not a string"},
    {"shape_not_array", "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "shape is not an array"},
    {"unknown_dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "unknown dtype \"F33\""},
    {"negative_dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "shape dimension 0"},
    {"fractional_dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "shape dimension 1"},
    {"string_dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "shape dimension 0"},
    {"huge_dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, 0, -1, 0, "\"w\"",
     "shape dimension 0"},
    {"too_many_dims", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, 0, -1,
     0, "\"w\"", "9 dimensions"},
    {"numel_overflow",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}", 4, 0, -1,
     0, "\"w\"", "overflows"},
    {"nbytes_overflow", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4503599627370496,1024],\"data_offsets\":[0,4]}}", 4,
     0, -1, 0, "\"w\"", "overflows"},
    {"offsets_three", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, 0, -1, 0, "\"w\"",
     "data_offsets is not [begin, end]"},
    {"offsets_reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 8, 0, -1, 0, "\"w\"",
     "data_offsets is not [begin, end]"},
    {"offsets_negative", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, 0, -1, 0, "\"w\"",
     "data_offsets is not [begin, end]"},
    {"offsets_out_of_range", "{\"w\":{\"dtype\":\"F32\",\"shape\":[250],\"data_offsets\":[0,1000]}}", 16, 0, -1, 0,
     "\"w\"", "beyond the 16-byte data section"},
    {"wrong_size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 16, 0, -1, 0, "\"w\"",
     "shape [2, 2] of dtype F32 needs 16 bytes but data_offsets give 8"},
    {"scalar_wrong_size", "{\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 8, 0, -1, 0, "\"s\"",
     "shape [] of dtype I64 needs 8 bytes but data_offsets give 4"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     16, 0, -1, 0, "\"b\" overlaps tensor \"a\"", "overlaps"},
    {"overlap_same", "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                     "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
     3, 0, -1, 0, "\"a\"", "overlaps"},
    {"duplicate", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, 0, -1, 0, "\"a\"", "duplicate tensor"},
    {"duplicate_meta", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, -1, 0, NULL, "duplicate \"__metadata__\""},
    {"duplicate_meta_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, 0, -1, 0, "\"k\"", "duplicate"},
    {"meta_not_string", "{\"__metadata__\":{\"heads\":4}}", 0, 0, -1, 0, "\"heads\"", "is not a string"},
    {"meta_not_object", "{\"__metadata__\":\"x\"}", 0, 0, -1, 0, NULL, "__metadata__ is not a JSON object"},
    {"bad_utf8", "{\"w\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, -1, 0, NULL,
     "invalid UTF-8 at byte 11"},
    {"overlong_utf8", "{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, -1, 0, NULL,
     "invalid UTF-8"},
    {"escaped_nul", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, -1, 0, NULL,
     "escaped NUL character"},
    {"escaped_nul_meta", "{\"__metadata__\":{\"k\":\"\\\\\\u0000\"}}", 0, 0, -1, 0, NULL, "escaped NUL character"},
    {"surrogate_utf8", "{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, -1, 0,
     NULL, "invalid UTF-8"},
};

TEST(safetensors_malformed) {
    const char *dir = test_tmpdir();
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const bad_case *bc = &bad_cases[c];
        size_t hl = strlen(bc->header);
        size_t total = 8 + hl + bc->data_len;
        uint8_t *buf = calloc(total ? total : 1, 1);
        REQUIRE(buf);
        put_u64(buf, bc->force_len ? bc->force_len : (uint64_t)((long long)hl + bc->len_delta));
        memcpy(buf + 8, bc->header, hl);
        for (size_t i = 0; i < bc->data_len; i++) buf[8 + hl + i] = (uint8_t)i;
        size_t len = bc->truncate >= 0 ? (size_t)bc->truncate : total;
        char path[512];
        snprintf(path, sizeof path, "%s/bad_%s.safetensors", dir, bc->label);
        REQUIRE_OK(clipc_write_file_atomic(path, buf, len));

        st_file f;
        clipc_status s = st_open(path, &f);
        const char *msg = clipc_last_error();
        CHECKF(s == CLIPC_ERR_FORMAT, "%s: status %d (%s)", bc->label, (int)s, msg);
        CHECKF(strstr(msg, path) != NULL, "%s: message lacks the path: %s", bc->label, msg);
        CHECKF(!bc->tensor || strstr(msg, bc->tensor), "%s: message lacks %s: %s", bc->label, bc->tensor, msg);
        CHECKF(strstr(msg, bc->phrase) != NULL, "%s: message lacks \"%s\": %s", bc->label, bc->phrase, msg);
        CHECKF(strchr(msg, '\n') == NULL, "%s: multi-line message", bc->label);
        CHECK(f.n_tensors == 0 && f.tensors == NULL && f.map == NULL && f.path == NULL);
        st_close(&f);

        /* The same bytes through st_parse, named by the caller. */
        s = st_parse(buf, len, "mem.safetensors", &f);
        CHECKF(s == CLIPC_ERR_FORMAT, "%s: st_parse status %d", bc->label, (int)s);
        CHECKF(strstr(clipc_last_error(), "mem.safetensors") != NULL, "%s: %s", bc->label, clipc_last_error());
        st_close(&f);
        free(buf);
    }
}

TEST(safetensors_open_errors) {
    st_file f;
    const char *dir = test_tmpdir();
    CHECK(st_open(dir, &f) == CLIPC_ERR_IO);
    CHECK(strstr(clipc_last_error(), dir) && strstr(clipc_last_error(), "is a directory"));
    char path[512];
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    CHECK(st_open(path, &f) == CLIPC_ERR_IO);
    CHECK(strstr(clipc_last_error(), path) && strstr(clipc_last_error(), "No such file"));
    st_close(&f);
}

/* Files that are unusual but valid: empty header object, gaps between
 * tensors, bytes after the last tensor, whitespace padding, zero-size tensors
 * sharing an offset with another tensor. */
TEST(safetensors_valid_edge_cases) {
    static const struct {
        const char *header;
        size_t data_len;
        int n_tensors;
    } ok[] = {
        {"{}", 0, 0},
        {"{\"__metadata__\":{\"k\":\"a\\\\u0000\"}}", 0, 0}, /* an escaped backslash, then "u0000" */
        {"  {\"__metadata__\":{}}   \n", 0, 0},
        {"{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 9, 2},
        {"{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"extra\":{\"dtype\":\"BOOL\",\"shape\":[],"
         "\"data_offsets\":[8,9],\"ignored\":true}}", 9, 3},
    };
    for (size_t c = 0; c < sizeof ok / sizeof ok[0]; c++) {
        size_t hl = strlen(ok[c].header), len = 8 + hl + ok[c].data_len;
        uint8_t *buf = calloc(len, 1);
        REQUIRE(buf);
        put_u64(buf, hl);
        memcpy(buf + 8, ok[c].header, hl);
        st_file f;
        clipc_status s = st_parse(buf, len, "ok", &f);
        CHECKF(s == CLIPC_OK, "case %zu: %s", c, clipc_last_error());
        CHECK(f.n_tensors == ok[c].n_tensors);
        if (s == CLIPC_OK && c == 1) CHECK(strcmp(st_meta(&f, "k"), "a\\u0000") == 0);
        if (s == CLIPC_OK && c == 3) {
            CHECK(strcmp(f.tensors[0].name, "a") == 0 && st_get(&f, "b")->data == buf + 8 + hl + 5);
        }
        if (s == CLIPC_OK && c == 4) {
            const st_tensor *z = st_get(&f, "z");
            CHECK(z && z->numel == 0 && z->nbytes == 0 && z->ndim == 2 && z->shape[1] == 3);
            const st_tensor *e = st_get(&f, "extra");
            CHECK(e && e->dtype == ST_BOOL && e->ndim == 0 && e->numel == 1);
        }
        st_close(&f);
        free(buf);
    }
}

/* ---------------------------------------------------------------- writing */

/* Re-writing every reference file from its parsed contents gives the same
 * bytes: same key order, JSON spelling, padding and data layout. */
TEST(safetensors_rewrite_reference_identical) {
    const char *files[] = {
        VIT_WEIGHTS,
        "reference/openai_clip/vit_tiny/inputs/inputs.safetensors",
        "reference/openai_clip/vit_tiny/outputs/outputs.safetensors",
        "reference/openai_clip/vit_tiny/grads/grads.safetensors",
        "reference/openai_clip/rn_tiny/weights.safetensors",
        "reference/openai_clip/rn_tiny/inputs/inputs.safetensors",
        "reference/openai_clip/rn_tiny/outputs/outputs.safetensors",
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        const char *path = shared_path(files[k]);
        if (!path) SKIP("../shared absent: no reference files");
        char src[1024];
        snprintf(src, sizeof src, "%s", path);
        st_file f;
        REQUIRE_OK(st_open(src, &f));
        st_out_tensor *out = calloc((size_t)f.n_tensors, sizeof *out);
        const char **meta = calloc(2 * (size_t)f.n_meta + 1, sizeof *meta);
        REQUIRE(out && meta);
        /* Reverse order: the writer must sort. */
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[f.n_tensors - 1 - i];
            out[i].name = t->name;
            out[i].dtype = t->dtype;
            out[i].ndim = t->ndim;
            memcpy(out[i].shape, t->shape, sizeof t->shape);
            out[i].data = t->data;
        }
        for (int i = 0; i < f.n_meta; i++) {
            meta[2 * i] = f.meta_keys[f.n_meta - 1 - i];
            meta[2 * i + 1] = f.meta_vals[f.n_meta - 1 - i];
        }
        char dst[512];
        snprintf(dst, sizeof dst, "%s/rewrite%zu.safetensors", test_tmpdir(), k);
        REQUIRE_OK(st_write(dst, out, f.n_tensors, meta));
        char *a, *b;
        size_t na, nb;
        REQUIRE_OK(clipc_read_file(src, &a, &na));
        REQUIRE_OK(clipc_read_file(dst, &b, &nb));
        CHECKF(na == nb && memcmp(a, b, na) == 0, "%s: re-written file differs (%zu vs %zu bytes)", src, na, nb);
        free(a);
        free(b);
        free(out);
        free(meta);
        st_close(&f);
    }
}

/* Every dtype, a 0-dim scalar, a zero-size tensor and odd-sized tensors that
 * push the next one off alignment; metadata with characters JSON escapes. */
TEST(safetensors_round_trip_all_dtypes) {
    float f32[6] = {1.5f, -2.25f, 0.0f, -0.0f, 3.4028235e38f, 1e-45f};
    uint16_t f16[3] = {0x3c00, 0xc000, 0x7c00}, bf16[2] = {0x3f80, 0xff80};
    double f64[2] = {3.141592653589793, -1e300};
    int64_t i64[1] = {-9007199254740993LL};
    int32_t i32[4] = {49406, -1, 2147483647, (int32_t)0x80000000u};
    int16_t i16[3] = {-32768, 0, 32767};
    int8_t i8[5] = {-128, -1, 0, 1, 127};
    uint8_t u8[3] = {0, 128, 255}, bools[2] = {1, 0};
    st_out_tensor t[] = {
        {"z.f32", ST_F32, 2, {2, 3}, f32},
        {"f16", ST_F16, 1, {3}, f16},
        {"bf16", ST_BF16, 2, {1, 2}, bf16},
        {"f64", ST_F64, 1, {2}, f64},
        {"scalar.i64", ST_I64, 0, {0}, i64},
        {"i32", ST_I32, 2, {2, 2}, i32},
        {"a.u8", ST_U8, 1, {3}, u8},
        {"i16", ST_I16, 1, {3}, i16},
        {"i8", ST_I8, 1, {5}, i8},
        {"bool", ST_BOOL, 1, {2}, bools},
        {"empty", ST_F32, 3, {4, 0, 2}, NULL},
        {"caf\xc3\xa9 \"q\"", ST_U8, 1, {1}, u8},
    };
    int n = (int)(sizeof t / sizeof t[0]);
    const char *meta[] = {"b", "line1\nline2\t\"x\" \\ \x01", "a", "\xe2\x82\xac", "", "empty key", NULL};
    char path[512];
    snprintf(path, sizeof path, "%s/all.safetensors", test_tmpdir());
    REQUIRE_OK(st_write(path, t, n, meta));

    st_file f;
    REQUIRE_OK(st_open(path, &f));
    REQUIRE(f.n_tensors == n);
    CHECK(strcmp(f.tensors[0].name, "a.u8") == 0 && strcmp(f.tensors[n - 1].name, "z.f32") == 0);
    for (int i = 0; i < n; i++) {
        const st_tensor *r = st_get(&f, t[i].name);
        REQUIRE(r);
        CHECKF(r->dtype == t[i].dtype && r->ndim == t[i].ndim, "%s", t[i].name);
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            CHECK(r->shape[d] == t[i].shape[d]);
            numel *= (size_t)t[i].shape[d];
        }
        CHECK(r->numel == numel && r->nbytes == numel * st_dtype_size(t[i].dtype));
        CHECK((uintptr_t)r->data % st_dtype_size(r->dtype) == 0);
        CHECKF(r->nbytes == 0 || memcmp(r->data, t[i].data, r->nbytes) == 0, "%s data differs", t[i].name);
    }
    CHECK(st_get(&f, "empty")->numel == 0);
    CHECK(st_get(&f, "scalar.i64")->numel == 1 && ((const int64_t *)st_get(&f, "scalar.i64")->data)[0] == i64[0]);
    CHECK(f.n_meta == 3);
    CHECK(st_meta(&f, "b") && strcmp(st_meta(&f, "b"), meta[1]) == 0);
    CHECK(st_meta(&f, "a") && strcmp(st_meta(&f, "a"), "\xe2\x82\xac") == 0);
    CHECK(st_meta(&f, "") && strcmp(st_meta(&f, ""), "empty key") == 0);
    /* The data section starts at a multiple of 8 and has no gaps. */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | ((const uint8_t *)f.map)[i];
    CHECK(hl % 8 == 0);
    size_t sum = 0;
    for (int i = 0; i < n; i++) sum += f.tensors[i].nbytes;
    CHECK(f.data_len == sum && f.map_len == 8 + hl + sum);
    st_close(&f);

    /* No tensors, no metadata: "{}" padded to 8. */
    REQUIRE_OK(st_write(path, NULL, 0, NULL));
    char *buf;
    size_t len;
    REQUIRE_OK(clipc_read_file(path, &buf, &len));
    CHECK(len == 16 && memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(buf);
}

TEST(safetensors_write_rejects) {
    float x[2] = {1, 2};
    char path[512];
    snprintf(path, sizeof path, "%s/rej.safetensors", test_tmpdir());
    st_out_tensor dup[] = {{"a", ST_F32, 1, {2}, x}, {"a", ST_F32, 1, {1}, x}};
    CHECK(st_write(path, dup, 2, NULL) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "duplicate tensor \"a\"") && strstr(clipc_last_error(), path));
    st_out_tensor bad[] = {
        {"neg", ST_F32, 1, {-1}, x},       {"dims", ST_F32, 9, {1}, x},    {"dt", (st_dtype)42, 1, {1}, x},
        {"nodata", ST_F32, 1, {2}, NULL},  {"__metadata__", ST_F32, 1, {1}, x}, {"bad\xff", ST_F32, 1, {1}, x},
        {NULL, ST_F32, 1, {1}, x},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(st_write(path, &bad[i], 1, NULL) == CLIPC_ERR_INVALID, "case %zu accepted", i);
        CHECK(strstr(clipc_last_error(), path) != NULL);
    }
    const char *dupmeta[] = {"k", "1", "k", "2", NULL};
    CHECK(st_write(path, NULL, 0, dupmeta) == CLIPC_ERR_INVALID);
    const char *oddmeta[] = {"k", NULL};
    CHECK(st_write(path, NULL, 0, oddmeta) == CLIPC_ERR_INVALID);
    struct stat st;
    CHECK(stat(path, &st) != 0); /* nothing was created */
}
