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

#include "harness.h"
#include "safetensors.h"
#include "util.h"

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
    size_t data_len;     /* bytes of data after the header */
    long long len_delta; /* added to the true header length in the prefix */
    long long truncate;  /* >= 0: cut the file to this many bytes */
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
     24, 0, 8 + 0 /* patched below: header + 12 */, 0, "\"b\"", "truncated"},
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
        size_t len = total;
        if (strcmp(bc->label, "empty") == 0) len = 0;
        else if (strcmp(bc->label, "trunc_midtensor") == 0) len = 8 + hl + 12;
        else if (bc->truncate >= 0) len = (size_t)bc->truncate;
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
        if (s == CLIPC_OK && c == 2) {
            CHECK(strcmp(f.tensors[0].name, "a") == 0 && st_get(&f, "b")->data == buf + 8 + hl + 5);
        }
        if (s == CLIPC_OK && c == 3) {
            const st_tensor *z = st_get(&f, "z");
            CHECK(z && z->numel == 0 && z->nbytes == 0 && z->ndim == 2 && z->shape[1] == 3);
            const st_tensor *e = st_get(&f, "extra");
            CHECK(e && e->dtype == ST_BOOL && e->ndim == 0 && e->numel == 1);
        }
        st_close(&f);
        free(buf);
    }
}
