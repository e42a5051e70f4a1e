/*
 * bert_basic.c — BERT's BasicTokenizer as Hugging Face's BertTokenizer runs
 * it for uncased models (DistilBERT's distilbert-base-uncased):
 *
 *   1. clean: drop U+0000, U+FFFD and control characters (category C*, but
 *      not tab, newline, carriage return); whitespace (those three, space
 *      and category Zs) becomes a space;
 *   2. put spaces around every CJK ideograph (the CJK Unified Ideographs
 *      blocks and their extensions and compatibility blocks: not Hangul,
 *      Hiragana or Katakana, as BERT);
 *   3. split on whitespace (Python's str.split(): str.isspace());
 *   4. per word: Python's str.lower(), then NFD and drop the non-spacing
 *      marks (category Mn): "Café" -> "cafe";
 *   5. split off every punctuation character as its own token: ASCII
 *      33-47, 58-64, 91-96, 123-126 (so "$", "+", "^", "`" count, as in
 *      BERT) and category P*.
 *
 * Categories and the NFD decomposition come from utf8proc (already the
 * tokenizer's Unicode library, Debian's libutf8proc; ICU would add a large
 * dependency for the same two tables), Python's lower() from clean.c.
 * Known differences with HF: utf8proc 2.8 has Unicode 15.0 while Python
 * 3.11 has 14.0 (characters new in 15.0 can classify differently), and HF's
 * PreTrainedTokenizer keeps special-token strings typed in the text
 * ("[SEP]") as their ids where this tokenizes them as text.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/bert_basic.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/utf8.h"
#include "text/clean.h"

int bert_is_whitespace(uint32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ZS;
}

int bert_is_control(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    /* Python's unicodedata says "Cn" for unassigned code points, which BERT
     * counts as control: utf8proc's CN is 0 (UTF8PROC_CATEGORY_CN). */
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN;
}

int bert_is_punctuation(uint32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
           k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
           k == UTF8PROC_CATEGORY_PO;
}

int bert_is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Steps 1 and 2: in (n) -> out (room for 3n); returns the count. */
static size_t clean_and_space_cjk(const uint32_t *in, size_t n, uint32_t *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c == 0 || c == 0xFFFD || bert_is_control(c)) continue;
        if (bert_is_whitespace(c)) out[m++] = ' ';
        else if (bert_is_cjk(c)) out[m++] = ' ', out[m++] = c, out[m++] = ' ';
        else out[m++] = c;
    }
    return m;
}

/* Step 4 on one word w (n): lower, NFD, drop Mn.  *low and *norm are
 * growable scratch (room in *cap code points, for both); returns the count
 * in *norm, or -1 when out of memory or utf8proc fails (error set).  NFD
 * is utf8proc_decompose on the UTF-8 of the lowered word, canonical
 * ordering included. */
static long lower_strip(const uint32_t *w, size_t n, uint32_t **low, uint32_t **norm, size_t *cap) {
    if (4 * n + 1 > *cap) { /* lower() gives at most 2n; its UTF-8 at most 4 bytes each, in norm */
        free(*low);
        free(*norm);
        *cap = 4 * n + 1;
        *low = mem_alloc(*cap * sizeof(uint32_t), "tokenizer word");
        *norm = mem_alloc(*cap * sizeof(uint32_t), "tokenizer word");
        if (!*low || !*norm) return -1;
    }
    size_t ln = text_py_lower(w, n, *low), nb = 0;
    uint8_t *u8 = (uint8_t *)*norm; /* 4 * cap bytes of room >= 8n */
    for (size_t i = 0; i < ln; i++) nb += (size_t)utf8_put((*low)[i], u8 + nb);
    /* The decomposition can be longer than the word: ask utf8proc for the
     * size first, into a buffer of its own. */
    utf8proc_ssize_t k = utf8proc_decompose(u8, (utf8proc_ssize_t)nb, NULL, 0, UTF8PROC_DECOMPOSE);
    utf8proc_int32_t *d = k >= 0 ? mem_alloc(((size_t)k + 1) * sizeof *d, "tokenizer word") : NULL;
    if (k < 0 || !d) {
        if (k < 0) clipc_error(CLIPC_ERR_INVALID, "tokenizer: NFD failed: %s", utf8proc_errmsg(k));
        return -1;
    }
    k = utf8proc_decompose(u8, (utf8proc_ssize_t)nb, d, k, UTF8PROC_DECOMPOSE);
    size_t m = 0;
    if (k >= 0 && (size_t)k > *cap) { /* grow norm (u8 is no longer needed) */
        free(*norm);
        *cap = (size_t)k + 1;
        free(*low);
        *low = mem_alloc(*cap * sizeof(uint32_t), "tokenizer word");
        *norm = mem_alloc(*cap * sizeof(uint32_t), "tokenizer word");
        if (!*low || !*norm) {
            free(d);
            return -1;
        }
    }
    for (utf8proc_ssize_t j = 0; j < k; j++)
        if (utf8proc_category(d[j]) != UTF8PROC_CATEGORY_MN) (*norm)[m++] = (uint32_t)d[j];
    free(d);
    if (k < 0) {
        clipc_error(CLIPC_ERR_INVALID, "tokenizer: NFD failed: %s", utf8proc_errmsg(k));
        return -1;
    }
    return (long)m;
}

/* Step 5 and the callback: 1 when fn asked to stop. */
static int split_punct(const uint32_t *w, size_t n, bert_token_fn fn, void *ctx) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (bert_is_punctuation(w[i])) {
            if (i > start && fn(ctx, w + start, i - start)) return 1;
            if (fn(ctx, w + i, 1)) return 1;
            start = i + 1;
        }
    return n > start && fn(ctx, w + start, n - start);
}

int bert_basic_tokenize(const char *text, size_t len, bert_token_fn fn, void *ctx) {
    uint32_t *cps = mem_alloc((len + 1) * 4 * sizeof(uint32_t), "tokenizer text");
    if (!cps) return -1;
    size_t n = utf8_decode_replace((const uint8_t *)text, len, cps);
    uint32_t *t = cps + len + 1; /* room for 3 len */
    size_t m = clean_and_space_cjk(cps, n, t);
    uint32_t *low = NULL, *norm = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < m;) {
        while (i < m && is_py_space(t[i])) i++;
        size_t j = i;
        while (j < m && !is_py_space(t[j])) j++;
        if (j == i) break;
        long k = lower_strip(t + i, j - i, &low, &norm, &cap);
        if (k < 0) {
            rc = -1;
            break;
        }
        if (split_punct(norm, (size_t)k, fn, ctx)) break;
        i = j;
    }
    free(low);
    free(norm);
    free(cps);
    return rc;
}
