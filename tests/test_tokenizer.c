/*
 * test_tokenizer.c -- the CLIP BPE tokenizer against OpenAI's output: the 310
 * golden cases + decode cases in ../shared (skipped when absent), and a few
 * known encodings with the embedded vocabulary that need no shared data.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"

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
    char path[600];
    snprintf(path, sizeof path, "%s/vocab.gz", test_tmpdir());
    REQUIRE_OK(clipc_write_file_atomic(path, "not gzip", 8));
    CHECK(clipc_tokenizer_load(path, &bad) == CLIPC_ERR_FORMAT && bad == NULL);
    CHECKF(strstr(clipc_last_error(), "vocab.gz: not a valid gzip file") != NULL, "%s", clipc_last_error());
}

/* Same ids for two spellings that OpenAI's clean-up maps to one text. */
static void expect_same(const char *a, const char *b) {
    int32_t *x, *y;
    int nx, ny;
    REQUIRE_OK(clipc_tokenize(tok_embedded(), a, strlen(a), &x, &nx));
    REQUIRE_OK(clipc_tokenize(tok_embedded(), b, strlen(b), &y, &ny));
    CHECKF(nx == ny && (nx == 0 || !memcmp(x, y, (size_t)nx * sizeof *x)), "'%s' and '%s' differ", a, b);
    free(x);
    free(y);
}

TEST(tokenizer_embedded_cleanup) {
    REQUIRE(tok_embedded());
    expect_same("&amp;lt;b&gt;", "<b>");            /* unescaped twice */
    expect_same("&ampx &notit; &#x41;&#65", "&x ¬it; aa"); /* no ';', longest prefix, numeric */
    expect_same("&#128;&#0;&#1;", "\xe2\x82\xac\xef\xbf\xbd"); /* cp1252 fix-up, U+FFFD, dropped */
    expect_same("\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"); /* ΟΔΟΣ -> οδος (final sigma) */
    expect_same("\xce\xa3\xce\x91", "\xcf\x83\xce\xb1");     /* ΣΑ -> σα */
    expect_same("\xc4\xb0", "i\xcc\x87");                   /* İ -> i + U+0307 */
    expect_same("a\xe2\x80\x83\xe3\x80\x80 b", "a b");      /* Unicode spaces collapse */
    int32_t *x;
    int n;
    REQUIRE_OK(clipc_tokenize(tok_embedded(), "a\xcd\x85" "b", 4, &x, &n)); /* U+0345 separates, vanishes */
    CHECK(n == 2 && x[0] == 320 && x[1] == 321);
    free(x);
}

#include <pthread.h>

typedef struct {
    int seed, ok;
} thread_arg;

static void *tok_thread(void *p) {
    thread_arg *a = p;
    char text[64];
    a->ok = 1;
    for (int i = 0; i < 300; i++) {
        snprintf(text, sizeof text, "word%dx%d a photo of a cat.", (a->seed * 7919 + i) % 97, i % 13);
        int32_t *ids;
        int n;
        if (clipc_tokenize(tok_embedded(), text, strlen(text), &ids, &n) != CLIPC_OK) a->ok = 0;
        else {
            if (n < 6 || ids[n - 6] != 320 || ids[n - 1] != 269) a->ok = 0;
            free(ids);
        }
    }
    return NULL;
}

TEST(tokenizer_threads_share_handle) {
    REQUIRE(tok_embedded());
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].seed = i;
        REQUIRE(pthread_create(&th[i], NULL, tok_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECKF(args[i].ok, "thread %d got wrong ids", i);
    }
}
