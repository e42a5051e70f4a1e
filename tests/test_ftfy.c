/*
 * test_ftfy.c -- clipc's ftfy (src/text/ftfy.c) against the real ftfy 6.3.1:
 * the generated goldens of tests/data/goldens/ftfy_cases.json (made by
 * tools/make_ftfy_goldens.py: fix_text's exact output, OpenAI's token ids
 * with ftfy, is_bad's verdict on random strings), the ftfy_sensitive cases of
 * the shared tokenizer goldens (OpenAI's real ids), and ftfy's own
 * documented examples.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"
#include "text/ftfy.h"
#include "text/ftfy_badness.h"

static clipc_tokenizer *tok(void) {
    static clipc_tokenizer *t; /* loaded once for the whole run; freed at exit */
    if (!t && clipc_tokenizer_load(NULL, &t) != CLIPC_OK) return NULL;
    return t;
}
__attribute__((destructor)) static void tok_cleanup(void) { clipc_tokenizer_free(tok()); }

static uint8_t *unhex(const char *h, size_t *n) {
    size_t l = strlen(h) / 2;
    uint8_t *s = malloc(l + 1);
    for (size_t i = 0; i < l; i++) {
        unsigned x;
        sscanf(h + 2 * i, "%2x", &x);
        s[i] = (uint8_t)x;
    }
    s[l] = 0;
    *n = l;
    return s;
}

/* fix_text on UTF-8, returning malloc'd UTF-8 (NUL-terminated, *n bytes). */
static char *fix_utf8(const uint8_t *s, size_t len, size_t *n) {
    uint32_t *cps = malloc((len + 1) * sizeof *cps), *out;
    size_t bad, nc = utf8_decode(s, len, cps, &bad), m;
    if (nc == (size_t)-1 || ftfy_fix_text(cps, nc, &out, &m)) {
        free(cps);
        return NULL;
    }
    char *r = malloc(4 * m + 1);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) k += (size_t)utf8_put(out[i], (uint8_t *)r + k);
    r[k] = 0;
    *n = k;
    free(cps);
    free(out);
    return r;
}

static int ids_equal(const int32_t *a, int n, const cJSON *arr) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return 0;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || e->valueint != a[i]) return 0;
    return 1;
}

static cJSON *load_json(const char *path) {
    char *js;
    size_t jl;
    if (clipc_read_file(path, &js, &jl) != CLIPC_OK) return NULL;
    cJSON *g = cJSON_Parse(js);
    free(js);
    return g;
}

TEST(ftfy_generated_cases_match_ftfy_and_openai_ids) {
    cJSON *g = load_json("tests/data/goldens/ftfy_cases.json");
    REQUIRE(g);
    REQUIRE(tok());
    int n = 0, n_text = 0, n_ids = 0, n_idem = 0, n_idem_ok = 0, n_changed = 0;
    for (const cJSON *c = cJSON_GetObjectItem(g, "cases")->child; c; c = c->next, n++) {
        const char *cat = cJSON_GetObjectItem(c, "category")->valuestring;
        size_t len, wlen, glen;
        uint8_t *text = unhex(cJSON_GetObjectItem(c, "text_hex")->valuestring, &len);
        uint8_t *want = unhex(cJSON_GetObjectItem(c, "ftfy_hex")->valuestring, &wlen);
        n_changed += wlen != len || memcmp(text, want, len);
        char *got = fix_utf8(text, len, &glen);
        REQUIRE(got);
        if (glen == wlen && !memcmp(got, want, wlen)) n_text++;
        else harness_fail(__FILE__, __LINE__, "case %d (%s) '%s': ftfy gives '%s', want '%s'", n, cat, (char *)text, got,
                          (char *)want);
        int32_t *ids;
        int k;
        REQUIRE_OK(clipc_tokenize(tok(), (const char *)text, len, &ids, &k));
        if (ids_equal(ids, k, cJSON_GetObjectItem(c, "ids"))) n_ids++;
        else harness_fail(__FILE__, __LINE__, "case %d (%s) '%s': ids differ", n, cat, (char *)text);
        free(ids);
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "idempotent"))) { /* fixing the fixed text changes nothing */
            size_t g2len;
            char *again = fix_utf8((const uint8_t *)got, glen, &g2len);
            n_idem++;
            n_idem_ok += again && g2len == glen && !memcmp(again, got, glen);
            free(again);
        }
        free(got);
        free(text);
        free(want);
    }
    CHECKF(n >= 300 && n_text == n && n_ids == n, "%d cases: %d texts, %d id lists equal", n, n_text, n_ids);
    CHECKF(n_changed >= 300, "only %d cases are changed by ftfy", n_changed);
    CHECKF(n_idem_ok == n_idem, "%d of %d idempotent cases stay fixed", n_idem_ok, n_idem);
    cJSON_Delete(g);
}

TEST(ftfy_is_bad_matches_ftfy_badness) {
    cJSON *g = load_json("tests/data/goldens/ftfy_cases.json");
    REQUIRE(g);
    int n = 0, ok = 0, n_bad = 0;
    for (const cJSON *c = cJSON_GetObjectItem(g, "is_bad")->child; c; c = c->next, n++) {
        const char *s = cJSON_GetArrayItem(c, 0)->valuestring;
        int want = cJSON_IsTrue(cJSON_GetArrayItem(c, 1));
        uint32_t cps[64];
        size_t bad, k = utf8_decode((const uint8_t *)s, strlen(s), cps, &bad);
        REQUIRE(k != (size_t)-1);
        n_bad += want;
        if (ftfy_is_bad(cps, k) == want) ok++;
        else harness_fail(__FILE__, __LINE__, "is_bad('%s') should be %d", s, want);
    }
    /* Both verdicts are well represented, so a constant answer fails. */
    CHECKF(n >= 3000 && ok == n && n_bad > n / 10 && n_bad < n * 9 / 10, "%d of %d (%d bad)", ok, n, n_bad);
    cJSON_Delete(g);
}

TEST(ftfy_sensitive_shared_cases_give_openai_ids) {
    const char *path = shared_path("reference/tokenizer/tokenizer_goldens.json");
    if (!path) SKIP("../shared/reference/tokenizer/tokenizer_goldens.json absent");
    cJSON *g = load_json(path);
    REQUIRE(g);
    REQUIRE(tok());
    int n = 0, ok = 0;
    for (const cJSON *c = cJSON_GetObjectItem(g, "ftfy_sensitive")->child; c; c = c->next, n++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const char *fixed = cJSON_GetObjectItem(c, "ftfy_fix_text")->valuestring;
        size_t glen;
        char *got = fix_utf8((const uint8_t *)text, strlen(text), &glen);
        CHECKF(got && !strcmp(got, fixed), "'%s': ftfy gives '%s', want '%s'", text, got ? got : "?", fixed);
        free(got);
        int32_t *ids;
        int k;
        REQUIRE_OK(clipc_tokenize(tok(), text, strlen(text), &ids, &k));
        /* ... and they are not the ids without ftfy, which the test would otherwise not tell apart */
        int real = ids_equal(ids, k, cJSON_GetObjectItem(c, "ids_real_ftfy"));
        int identity = ids_equal(ids, k, cJSON_GetObjectItem(c, "ids_identity_ftfy"));
        CHECKF(real && !identity, "'%s': ids are not OpenAI's with ftfy", text);
        ok += real && !identity;
        free(ids);
    }
    CHECKF(n == 5 && ok == n, "%d of %d ftfy_sensitive cases", ok, n);
    cJSON_Delete(g);
}

static void expect_fix(const char *in, const char *want) {
    size_t n;
    char *got = fix_utf8((const uint8_t *)in, strlen(in), &n);
    CHECKF(got && !strcmp(got, want), "fix_text('%s') = '%s', want '%s'", in, got ? got : "?", want);
    free(got);
}

/* The examples of ftfy's documentation (docstrings of fix_text and the fixers). */
TEST(ftfy_documented_examples) {
    expect_fix("\xc3\xa2\xc5\x93\xe2\x80\x9d No problems", "\xe2\x9c\x94 No problems"); /* âœ” */
    expect_fix("&macr;\\_(\xc3\xa3\xc2\x83\xc2\x84)_/&macr;", "\xc2\xaf\\_(\xe3\x83\x84)_/\xc2\xaf");
    /* (ftfy's docstring shows "..." here; ftfy 6.3.1 itself keeps U+2026) */
    expect_fix("Broken text&hellip; it&#x2019;s \xef\xac\x82ubberi\xef\xac\x81" "c!",
               "Broken text\xe2\x80\xa6 it's flubberific!");
    expect_fix("\xef\xbc\xac\xef\xbc\xaf\xef\xbc\xb5\xef\xbc\xa4\xe3\x80\x80\xef\xbc\xae\xef\xbc\xaf\xef\xbc\xa9\xef"
               "\xbc\xb3\xef\xbc\xa5\xef\xbc\xb3",
               "LOUD NOISES");
    expect_fix("P&EACUTE;REZ", "P\xc3\x89REZ");
    expect_fix("BUNDESSTRA&SZLIG;E", "BUNDESSTRASSE");
    expect_fix("&ntilde; &Ntilde; &NTILDE; &nTILDE;", "\xc3\xb1 \xc3\x91 \xc3\x91 &nTILDE;");
    expect_fix("<b>&lt;tag&gt;</b>", "<b>&lt;tag&gt;</b>"); /* real HTML: entities stay */
    expect_fix("\x1b[36;44mI'm blue\x1b[0m", "I'm blue");
    expect_fix("voil\xc3\x83 le travail", "voil\xc3\xa0 le travail");
    expect_fix("s\xc3\x83\xc2\xb3", "s\xc3\xb3");
    expect_fix("a\r\nb\rc\xe2\x80\xa8" "d", "a\nb\nc\nd");
    expect_fix("", "");
}

TEST(ftfy_fast_path_is_exact) {
    /* Whatever the fast path skips must be what fix_text leaves alone. */
    const char *plain[] = {"a photo of a cat.", "tab\tand\nnewline\fff", "<b>x</b> 100% {ok} ~", ""};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        uint32_t cps[64], *out;
        size_t bad, n = utf8_decode((const uint8_t *)plain[i], strlen(plain[i]), cps, &bad), m;
        CHECK(ftfy_is_noop_fast(cps, n));
        REQUIRE(!ftfy_fix_text(cps, n, &out, &m));
        CHECK(m == n && (!n || !memcmp(out, cps, n * sizeof *cps)));
        free(out);
    }
    const char *not_plain[] = {"a&amp;b", "cr\r", "esc\x1b[0m", "del\x7f", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof not_plain / sizeof not_plain[0]; i++) {
        uint32_t cps[64];
        size_t bad, n = utf8_decode((const uint8_t *)not_plain[i], strlen(not_plain[i]), cps, &bad);
        CHECKF(!ftfy_is_noop_fast(cps, n), "'%s' takes the fast path", not_plain[i]);
    }
}

/* Segments: fix_text works on one line at a time, at most 1,000,000 code
 * points each, and stops unescaping HTML from the first line with '<' on.
 * Expected values from ftfy 6.3.1: fix_text("a"*999999 + "Ã©") is unchanged
 * (the cut falls between Ã and ©), fix_text("a"*999998 + "Ã©") ends in "é";
 * fix_text("&amp;\nx<y\n&amp;") == "&\nx<y\n&amp;". */
TEST(ftfy_segments_lines_and_length) {
    size_t n = 1000001;
    uint32_t *t = malloc(n * sizeof *t), *out;
    size_t m;
    REQUIRE(t);
    for (size_t i = 0; i < n; i++) t[i] = 'a';
    t[n - 2] = 0xC3, t[n - 1] = 0xA9; /* "Ã©" across the 1,000,000 cut */
    REQUIRE(!ftfy_fix_text(t, n, &out, &m));
    CHECK(m == n && out[n - 2] == 0xC3 && out[n - 1] == 0xA9);
    free(out);
    REQUIRE(!ftfy_fix_text(t + 1, n - 1, &out, &m)); /* the same, one 'a' shorter: one segment */
    CHECK(m == n - 2 && out[m - 1] == 0xE9 && out[m - 2] == 'a');
    free(out);
    free(t);
    expect_fix("&amp;\nx<y\n&amp;", "&\nx<y\n&amp;");
    expect_fix("x<y\n&amp;\n", "x<y\n&amp;\n");
}
