/*
 * test_tokenizer.c -- the CLIP BPE tokenizer against OpenAI's output: the 310
 * golden cases + decode cases in ../shared (skipped when absent), and a few
 * known encodings with the embedded vocabulary that need no shared data.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "harness.h"
#include "util.h"

static clipc_tokenizer *tok_embedded(void) {
    static clipc_tokenizer *t; /* loaded once for the whole run; freed at exit */
    if (!t && clipc_tokenizer_load(NULL, &t) != CLIPC_OK) return NULL;
    return t;
}
__attribute__((destructor)) static void tok_cleanup(void) { clipc_tokenizer_free(tok_embedded()); }

static int ids_equal(const int32_t *a, int n, const cJSON *arr) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return 0;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || e->valueint != a[i]) return 0;
    return 1;
}

static int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next) v[i++] = (int32_t)e->valueint;
    return v;
}

static char *unhex(const char *h, size_t *n) {
    size_t l = strlen(h) / 2;
    char *s = malloc(l + 1);
    for (size_t i = 0; i < l; i++) {
        unsigned x;
        sscanf(h + 2 * i, "%2x", &x);
        s[i] = (char)x;
    }
    s[l] = 0;
    *n = l;
    return s;
}

TEST(tokenizer_goldens) {
    const char *path = shared_path("reference/tokenizer/tokenizer_goldens.json");
    if (!path) SKIP("../shared/reference/tokenizer/tokenizer_goldens.json absent");
    char *js;
    size_t jl;
    REQUIRE_OK(clipc_read_file(path, &js, &jl));
    cJSON *g = cJSON_Parse(js);
    free(js);
    REQUIRE(g);
    clipc_tokenizer *t = NULL;
    /* The shared file, loaded from disk, must agree with the embedded copy. */
    REQUIRE_OK(clipc_tokenizer_load(shared_path("reference/tokenizer/bpe_simple_vocab_16e6.txt.gz"), &t));
    int ctx = cJSON_GetObjectItem(g, "context_length")->valueint;
    int n_cases = 0, n_ok = 0;
    int32_t *row = malloc((size_t)ctx * sizeof *row);
    for (const cJSON *c = cJSON_GetObjectItem(g, "cases")->child; c; c = c->next, n_cases++) {
        const char *id = cJSON_GetObjectItem(c, "id")->valuestring ? cJSON_GetObjectItem(c, "id")->valuestring : "?";
        size_t len;
        char *text = unhex(cJSON_GetObjectItem(c, "text_utf8_hex")->valuestring, &len);
        int32_t *ids;
        int n, ok = 1;
        REQUIRE_OK(clipc_tokenize(t, text, len, &ids, &n));
        if (!ids_equal(ids, n, cJSON_GetObjectItem(c, "ids"))) ok = 0, harness_fail(__FILE__, __LINE__, "case %s: ids differ", id);
        const cJSON *ctxj = cJSON_GetObjectItem(c, "context");
        clipc_status st = clipc_tokenize_context(t, text, len, ctx, 0, row);
        if (cJSON_IsNull(ctxj)) {
            if (st != CLIPC_ERR_RANGE) ok = 0, harness_fail(__FILE__, __LINE__, "case %s: too long not reported (%d)", id, st);
        } else if (st != CLIPC_OK || !ids_equal(row, ctx, ctxj))
            ok = 0, harness_fail(__FILE__, __LINE__, "case %s: context differs", id);
        REQUIRE_OK(clipc_tokenize_context(t, text, len, ctx, 1, row));
        if (!ids_equal(row, ctx, cJSON_GetObjectItem(c, "context_truncate")))
            ok = 0, harness_fail(__FILE__, __LINE__, "case %s: context_truncate differs", id);
        char *dec;
        REQUIRE_OK(clipc_detokenize(t, ids, n, &dec));
        if (strcmp(dec, cJSON_GetObjectItem(c, "decoded")->valuestring))
            ok = 0, harness_fail(__FILE__, __LINE__, "case %s: decoded '%s' != '%s'", id, dec,
                                 cJSON_GetObjectItem(c, "decoded")->valuestring);
        free(dec);
        free(ids);
        free(text);
        n_ok += ok;
    }
    int n_dec = 0;
    for (const cJSON *d = cJSON_GetObjectItem(g, "decode_cases")->child; d; d = d->next, n_dec++) {
        int n;
        int32_t *ids = json_ids(cJSON_GetObjectItem(d, "ids"), &n);
        char *dec;
        REQUIRE_OK(clipc_detokenize(t, ids, n, &dec));
        CHECKF(!strcmp(dec, cJSON_GetObjectItem(d, "decoded")->valuestring), "decode_cases[%d]: '%s'", n_dec, dec);
        free(dec);
        free(ids);
    }
    CHECKF(n_cases == 310 && n_ok == 310, "%d of %d golden cases pass", n_ok, n_cases);
    CHECK(n_dec == 6);
    free(row);
    clipc_tokenizer_free(t);
    cJSON_Delete(g);
}

static void expect_ids(const char *text, const int32_t *want, int nwant) {
    int32_t *ids;
    int n;
    REQUIRE_OK(clipc_tokenize(tok_embedded(), text, strlen(text), &ids, &n));
    int same = n == nwant && (n == 0 || !memcmp(ids, want, (size_t)n * sizeof *ids));
    CHECKF(same, "'%s': got %d ids, first %d", text, n, n ? ids[0] : -1);
    free(ids);
}

TEST(tokenizer_embedded_known_ids) {
    REQUIRE(tok_embedded());
    /* OpenAI: clip.tokenize("a photo of a cat.") = [49406, 320, 1125, 539, 320, 2368, 269, 49407, 0...] */
    expect_ids("a photo of a cat.", (const int32_t[]){320, 1125, 539, 320, 2368, 269}, 6);
    /* Lower-casing, whitespace collapse and HTML unescape: same ids. */
    expect_ids("  A   PHOTO\tof&#32;a&nbsp;CAT. ", (const int32_t[]){320, 1125, 539, 320, 2368, 269}, 6);
    /* Digits are single tokens; "!" is id 0; special tokens are recognised. */
    expect_ids("2021", (const int32_t[]){273, 271, 273, 272}, 4);
    expect_ids("<|endoftext|>", (const int32_t[]){CLIPC_EOT}, 1);
    expect_ids("", NULL, 0);
    expect_ids(" \t\n", NULL, 0);
}

TEST(tokenizer_embedded_context_and_errors) {
    clipc_tokenizer *t = tok_embedded();
    REQUIRE(t);
    int32_t row[8];
    REQUIRE_OK(clipc_tokenize_context(t, "a cat", 5, 8, 0, row));
    const int32_t want[8] = {CLIPC_SOT, 320, 2368, CLIPC_EOT, 0, 0, 0, 0};
    CHECK(!memcmp(row, want, sizeof row));
    /* "a b c d e f g" = 7 ids; context 8 holds 6. */
    CHECK(clipc_tokenize_context(t, "a b c d e f g", 13, 8, 0, row) == CLIPC_ERR_RANGE);
    CHECK(!strcmp(clipc_last_error(), "text is 7 tokens, more than the 6 that fit a context of 8 (use truncation)"));
    REQUIRE_OK(clipc_tokenize_context(t, "a b c d e f g", 13, 8, 1, row));
    CHECK(row[0] == CLIPC_SOT && row[6] == 325 /* "f</w>" */ && row[7] == CLIPC_EOT);
    int32_t *ids;
    int n;
    CHECK(clipc_tokenize(t, "ab\xc3(", 4, &ids, &n) == CLIPC_ERR_INVALID);
    CHECK(!strcmp(clipc_last_error(), "text is not valid UTF-8 (byte 2)"));
    char *s;
    CHECK(clipc_detokenize(t, (const int32_t[]){5, 49408}, 2, &s) == CLIPC_ERR_RANGE);
    CHECK(!strcmp(clipc_last_error(), "token id 49408 at position 1 is not in [0, 49408)"));
    REQUIRE_OK(clipc_detokenize(t, (const int32_t[]){320, 1125, 539, 320, 2368, 269}, 6, &s));
    CHECK(!strcmp(s, "a photo of a cat . "));
    free(s);
    clipc_tokenizer *bad;
    CHECK(clipc_tokenizer_load("no/such/vocab.gz", &bad) == CLIPC_ERR_IO && bad == NULL);
}
