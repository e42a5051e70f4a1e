/*
 * clean.c -- OpenAI CLIP's text clean-up before BPE, exactly:
 *
 *   text = ftfy.fix_text(text)                          (text/ftfy.c)
 *   text = html.unescape(html.unescape(text)).strip()
 *   text = regex.sub(r"\s+", " ", text).strip()
 *   text = text.lower()
 *
 * Every step after ftfy is reproduced from CPython's
 * own rules because the model was trained on their output: html.unescape's
 * regex, numeric-reference table and HTML5 entity list (generated into
 * html_entities.c), str.isspace vs the `regex` module's \s (they differ on
 * U+001C..U+001F), and str.lower's two context rules (U+0130 and the final
 * sigma).  Simple case mappings and general categories come from utf8proc;
 * no library offers Python's unescape or lower() semantics, hence this file.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/clean.h"
#include "text/ftfy.h"
#include "text/html_entities.h"

/* ------------------------------------------------------------ html.unescape */

/* Binary search of the entity table for the name cps[0..n); returns the
 * entry or NULL.  Non-ASCII code points compare above every name byte, so
 * they simply never match. */
static const html_entity *entity_find(const uint32_t *cps, size_t n) {
    int lo = 0, hi = html5_n_entities - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const unsigned char *name = (const unsigned char *)html5_entities[mid].name;
        int cmp = 0;
        size_t i = 0;
        for (; i < n; i++) {
            if (!name[i]) { cmp = 1; break; } /* name is a proper prefix: cps > name */
            if (cps[i] != name[i]) { cmp = cps[i] < name[i] ? -1 : 1; break; }
        }
        if (!cmp && i == n && name[n]) cmp = -1;
        if (!cmp) return &html5_entities[mid];
        if (cmp < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

/* The replacement of a numeric reference &#num; (Python's _replace_charref);
 * num saturates above 0x10FFFF.  Returns the count written (0 or 1). */
static size_t numeric_ref(uint32_t num, uint32_t *out) {
    for (int i = 0; i < html_n_invalid_charrefs; i++)
        if (html_invalid_charrefs[i][0] == num) {
            out[0] = html_invalid_charrefs[i][1];
            return 1;
        }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        out[0] = 0xFFFD;
        return 1;
    }
    int lo = 0, hi = html_n_invalid_codepoints - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (html_invalid_codepoints[mid] == num) return 0;
        if (html_invalid_codepoints[mid] < num) lo = mid + 1;
        else hi = mid - 1;
    }
    out[0] = num;
    return 1;
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int hex_val(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}
/* Characters a named reference cannot contain: [^\t\n\f <&#;] */
static int name_char(uint32_t c) {
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

/* Python: re.sub(r'&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)',
 * _replace_charref, s), matched left to right without overlap. */
size_t html_unescape(const uint32_t *in, size_t n, uint32_t *out) {
    size_t i = 0, m = 0;
    while (i < n) {
        if (in[i] != '&') {
            out[m++] = in[i++];
            continue;
        }
        size_t j = i + 1;
        if (j < n && in[j] == '#') {
            size_t k = j + 1;
            uint32_t num = 0;
            int hex = 0;
            if (k < n && is_digit(in[k])) {
                for (; k < n && is_digit(in[k]); k++)
                    num = num > 0x10FFFF ? num : num * 10 + (in[k] - '0');
            } else if (k + 1 < n && (in[k] == 'x' || in[k] == 'X') && hex_val(in[k + 1]) >= 0) {
                hex = 1;
                for (k++; k < n && hex_val(in[k]) >= 0; k++)
                    num = num > 0x10FFFF ? num : num * 16 + (uint32_t)hex_val(in[k]);
            } else { /* "&#" not followed by a number: no match at this '&' */
                out[m++] = in[i++];
                continue;
            }
            (void)hex;
            if (k < n && in[k] == ';') k++;
            m += numeric_ref(num, out + m);
            i = k;
            continue;
        }
        size_t len = 0;
        while (len < 32 && j + len < n && name_char(in[j + len])) len++;
        if (len == 0) {
            out[m++] = in[i++];
            continue;
        }
        size_t slen = len + (j + len < n && in[j + len] == ';'); /* s = group(1) */
        const html_entity *e = entity_find(in + j, slen);
        size_t x = slen;
        if (!e) /* the longest prefix s[:x], x >= 2, that is an entity */
            for (x = slen - 1; x >= 2 && !(e = entity_find(in + j, x)); x--) {}
        if (e) {
            out[m++] = e->cp[0];
            if (e->cp[1]) out[m++] = e->cp[1];
            memmove(out + m, in + j + x, (slen - x) * sizeof *out);
            m += slen - x;
        } else {
            memmove(out + m, in + i, (slen + 1) * sizeof *out);
            m += slen + 1;
        }
        i = j + slen;
    }
    return m;
}

/* ------------------------------------------------------------- whitespace */

int is_re_space(uint32_t c) {
    if (c <= 0x20) return c == ' ' || (c >= '\t' && c <= '\r');
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int is_py_space(uint32_t c) { return (c >= 0x1C && c <= 0x1F) || is_re_space(c); }

/* ---------------------------------------------------------------- lower() */

/* Unicode Case_Ignorable (DerivedCoreProperties.txt): Mn, Me, Cf, Lm, Sk,
 * plus Word_Break MidLetter, MidNumLet and Single_Quote, listed here since
 * utf8proc has no word-break property. */
static int case_ignorable(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return 1;
    static const uint32_t wb[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                  0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                  0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof wb / sizeof wb[0]; i++)
        if (wb[i] == c) return 1;
    return 0;
}

/* Unicode Cased: Lu, Ll, Lt, Other_Lowercase, Other_Uppercase.  Characters
 * with a case mapping cover most of the Other_* ones; the rest that are not
 * also case-ignorable (which makes them irrelevant to the sigma rule) are
 * the ordinal indicators and the enclosed Latin capitals of U+1F130... */
static int cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
    utf8proc_int32_t s = (utf8proc_int32_t)c;
    if (utf8proc_tolower(s) != s || utf8proc_toupper(s) != s) return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final U+03C2 when a cased
 * letter precedes it and none follows (skipping case-ignorables both ways). */
static uint32_t lower_sigma(const uint32_t *t, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(t[j - 1])) j--;
    if (j == 0 || !cased(t[j - 1])) return 0x3C3;
    for (j = i + 1; j < n && case_ignorable(t[j]); j++) {}
    return (j == n || !cased(t[j])) ? 0x3C2 : 0x3C3;
}

/* Python's str.lower(): the full lowercase mapping, whose only
 * unconditional multi-character case is U+0130 -> "i\u0307"; language-
 * specific rules are not applied, Final_Sigma is. */
static size_t lower(const uint32_t *t, size_t n, uint32_t *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        if (c < 0x80) out[m++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        else if (c == 0x130) out[m++] = 'i', out[m++] = 0x307;
        else if (c == 0x3A3) out[m++] = lower_sigma(t, n, i);
        else out[m++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    }
    return m;
}

size_t text_py_lower(const uint32_t *t, size_t n, uint32_t *out) { return lower(t, n, out); }

/* ----------------------------------------------------------------- clean */

/* Everything after ftfy.  out needs room for 3n: the result (up to 2n, since
 * lower() of U+0130 gives two code points) and scratch. */
static size_t clean_after_ftfy(const uint32_t *in, size_t n, uint32_t *out) {
    /* out[2n..3n) is scratch, so no step reads what it writes. */
    uint32_t *a = out + 2 * n;
    size_t m = html_unescape(in, n, a);
    m = html_unescape(a, m, out);
    size_t b = 0, e = m;
    while (b < e && is_py_space(out[b])) b++;
    while (e > b && is_py_space(out[e - 1])) e--;
    size_t k = 0;
    for (size_t i = b; i < e;) {
        if (is_re_space(out[i])) {
            a[k++] = ' ';
            while (i < e && is_re_space(out[i])) i++;
        } else
            a[k++] = out[i++];
    }
    b = 0, e = k;
    while (b < e && is_py_space(a[b])) b++;
    while (e > b && is_py_space(a[e - 1])) e--;
    return lower(a + b, e - b, out);
}

int text_clean(const uint32_t *in, size_t n, uint32_t *buf, uint32_t **out, size_t *m) {
    *out = NULL;
    *m = 0;
    /* ftfy.fix_text comes first, as in OpenAI's basic_clean; plain ASCII
     * captions (the common case) skip it (it would leave them unchanged)
     * and use the caller's buffer: no allocation. */
    if (ftfy_is_noop_fast(in, n)) {
        *m = clean_after_ftfy(in, n, buf);
        *out = buf;
        return 0;
    }
    uint32_t *fixed = NULL;
    size_t nf = 0;
    if (ftfy_fix_text(in, n, &fixed, &nf)) return -1;
    uint32_t *big = malloc((3 * nf + 1) * sizeof *big);
    if (!big) {
        free(fixed);
        return -1;
    }
    *m = clean_after_ftfy(fixed, nf, big);
    free(fixed);
    *out = big;
    return 0;
}
