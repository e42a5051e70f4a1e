/*
 * ftfy_badness.c -- ftfy 6's mojibake detector (ftfy.badness.is_bad, the
 * regex BADNESS_RE) and its finder of embedded UTF-8 mojibake
 * (ftfy.chardata.UTF8_DETECTOR_RE), written out as code.
 *
 * Both are regexes over character classes in ftfy; the classes are
 * generated into ftfy_tables.c (one bit per class), the sequences they are
 * combined into are spelled out below, one alternative of BADNESS_RE per
 * line, in ftfy's order.  is_bad() only asks whether any alternative matches
 * anywhere, so the order of alternatives does not matter there; the UTF-8
 * detector's greedy `(...)+` has nothing after it, so its first matching
 * alternative at each step is final (no backtracking to emulate).  No C
 * regex library matches Python's `re` on Unicode classes, hence this file.
 */
#include <utf8proc.h>

#include "text/clean.h"
#include "text/ftfy_badness.h"
#include "text/ftfy_tables.h"

uint32_t ftfy_class(uint32_t c) {
    if (c < FTFY_CLASS_LO) return ftfy_class_lo[c];
    if (c < FTFY_CLASS_HI_START) return 0;
    int lo = 0, hi = ftfy_n_classes - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (ftfy_classes[mid].cp == c) return ftfy_classes[mid].mask;
        if (ftfy_classes[mid].cp < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static int in_list(uint32_t c, const uint32_t *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (list[i] == c) return 1;
    return 0;
}
#define IN(c, ...) in_list((c), (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / 4)

static int lower_ascii(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int alpha_ascii(uint32_t c) { return lower_ascii(c) || (c >= 'A' && c <= 'Z'); }
/* Python re's \w on str: str.isalnum() or '_'; isalnum is letters (L*) and
 * characters with a numeric value (N*, which utf8proc gives by category). */
static int word_char(uint32_t c) {
    if (c < 0x80) return alpha_ascii(c) || (c >= '0' && c <= '9') || c == '_';
    if (c > 0x10FFFF) return 0;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* The groups BADNESS_RE writes as [{...}{...}]. */
#define G_MOST (FC_BAD | FC_LA | FC_UA | FC_BOX | FC_SP | FC_EP | FC_CUR | FC_NUM | FC_LAW)
#define G_NOTBAD (FC_LA | FC_UA | FC_BOX | FC_SP | FC_EP | FC_CUR | FC_NUM | FC_LAW)
#define G_WIN1251 (FC_C1 | FC_BAD | FC_SP | FC_EP | FC_CUR)

enum { NONE = 0xFFFFFFFFu };
/* c(k), m(k): the character i+k and its classes (NONE / 0 past the end). */
#define c(k) (i + (k) < n ? t[i + (k)] : NONE)
#define m(k) (i + (k) < n ? ftfy_class(t[i + (k)]) : 0u)

/* The alternatives of BADNESS_RE that start with an ASCII character
 * ([a-zA-Z], [a-z], \s, [.,?!]): all need a non-ASCII one right after it,
 * or a space and then one, so most ASCII is rejected at once. */
static int bad_at_ascii(const uint32_t *t, size_t n, size_t i) {
    uint32_t a = t[i], b = c(1);
    if (b == NONE || (b < 0x80 && !(lower_ascii(a) && is_py_space(b)))) return 0;
    uint32_t mb = m(1), cc = c(2), mc = m(2);
    if (alpha_ascii(a) && (mb & (FC_LC | FC_UC)) && (mc & FC_BAD)) return 1;
    if (is_py_space(a) && (mb & FC_UA) && (mc & FC_CUR)) return 1;
    if (lower_ascii(a) && (mb & FC_UA) && (mc & (FC_SP | FC_CUR))) return 1;
    if (lower_ascii(a)) { /* [a-z]\s?[ÃÂ][ ] */
        if ((b == 0xC3 || b == 0xC2) && cc == ' ') return 1;
        if (is_py_space(b) && (cc == 0xC3 || cc == 0xC2) && c(3) == ' ') return 1;
    }
    if ((lower_ascii(a) || a == '.' || a == ',' || a == '?' || a == '!') && b == 0xC2 &&
        (cc == ' ' || (mc & (FC_SP | FC_EP))))
        return 1;
    return 0;
}

/* Whether one of BADNESS_RE's alternatives matches at t[i], t[i] >= 0x80. */
static int bad_at(const uint32_t *t, size_t n, size_t i) {
    uint32_t a = t[i], ma = ftfy_class(a);
    /* Every alternative starting with a non-ASCII character starts with a
     * classed one, or a space (\s): skip the rest (CJK...) quickly. */
    if (!ma && !is_py_space(a)) return 0;
    uint32_t b = c(1), mb = m(1), cc = c(2), mc = m(2);
    if (ma & FC_C1) return 1;
    if ((ma & G_MOST) && (mb & FC_BAD)) return 1;
    if ((ma & FC_BAD) && (mb & G_NOTBAD)) return 1;
    if ((ma & (FC_LA | FC_LC | FC_BOX | FC_EP | FC_CUR | FC_NUM)) && (mb & FC_UA)) return 1;
    if ((ma & (FC_BOX | FC_EP | FC_CUR | FC_NUM)) && (mb & FC_LA)) return 1;
    if ((ma & (FC_LA | FC_BOX | FC_EP)) && (mb & FC_CUR)) return 1;
    if (is_py_space(a) && (mb & FC_UA) && (mc & FC_CUR)) return 1;
    if ((ma & (FC_UA | FC_BOX)) && (mb & (FC_NUM | FC_LAW))) return 1;
    if ((ma & (FC_LA | FC_UA | FC_BOX | FC_CUR | FC_EP)) && (mb & FC_SP) && (mc & FC_NUM)) return 1;
    if ((ma & (FC_LA | FC_UA | FC_CUR | FC_NUM | FC_BOX | FC_LAW)) && (mb & FC_EP) && (mc & FC_SP)) return 1;
    if ((ma & (FC_CUR | FC_NUM | FC_BOX)) && (mb & FC_SP)) return 1;
    if ((ma & FC_BOX) && (mb & FC_KAO)) return 1;
    if ((ma & (FC_LA | FC_UA | FC_CUR | FC_NUM | FC_SP | FC_EP | FC_LAW)) && (mb & FC_BOX)) return 1;
    if ((ma & FC_BOX) && (mb & FC_EP)) return 1;
    if ((ma & (FC_LA | FC_UA)) && (mb & (FC_SP | FC_EP)) && cc != NONE && word_char(cc)) return 1;
    /* the ligature oe when not followed by an unaccented Latin letter */
    if ((a == 0x152 || a == 0x153) && b != NONE && !alpha_ascii(b)) return 1;
    /* degree signs after capital letters */
    if ((ma & FC_UA) && b == 0xB0) return 1;
    /* common Windows-1252 2-character mojibake */
    if (IN(a, 0xC2, 0xC3, 0xCE, 0xD0) &&
        ((mb & (FC_SP | FC_EP)) || IN(b, 0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178, 0x17E, 0xA0,
                                       0xAD, 0xAE, 0xA9, 0xB0, 0xB7, 0xBB, 0x2013, 0x2014, 0xB4)))
        return 1;
    if (a == 0xD7 && (b == 0xB2 || b == 0xB3)) return 1;
    /* Windows-1252 mojibake of Arabic: four characters */
    if ((a == 0xD8 || a == 0xD9) && (cc == 0xD8 || cc == 0xD9)) {
        uint32_t md = m(3), d = c(3);
        const uint32_t x = FC_COMMON | FC_CUR | FC_BAD | FC_NUM | FC_SP;
        if (((mb & x) || IN(b, 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)) &&
            ((md & x) || IN(d, 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)))
            return 1;
    }
    /* Windows-1252 mojibake starting South Asian 3-byte sequences */
    if (a == 0xE0 && IN(b, 0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE)) return 1;
    /* MacRoman mojibake */
    if (a == 0x221A && IN(b, 0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264, 0x2265, 0xA5, 0xB5, 0xF8))
        return 1;
    if (a == 0x2248 && (b == 0xB0 || b == 0xA2)) return 1;
    if (a == 0x201A && b == 0xC4 && IN(cc, 0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0))
        return 1;
    if (a == 0x201A && (b == 0xE2 || b == 0xF3) && IN(cc, 0xE0, 0xE4, 0xB0, 0xEA)) return 1;
    /* Windows-1251 mojibake */
    if (a == 0x432 && b == 0x402) return 1;
    if (IN(a, 0x412, 0x413, 0x420, 0x421) && ((mb & G_WIN1251) || b == 0xB0 || b == 0xB5) &&
        IN(cc, 0x412, 0x413, 0x420, 0x421))
        return 1;
    if (a == 0x413 && b == 0x45E && cc == 0x412 && c(3) == 0x402 && c(4) == 0x412 && c(5) != NONE &&
        c(5) != '\n' && (alpha_ascii(c(6)) || c(6) == ' '))
        return 1;
    /* Windows-1252 encodings of a-grave, a-acute and no-break space */
    if (a == 0xC3 && (b == 0xA0 || b == 0xA1)) return 1;
    if (i == 0 && (a == 0xC3 || a == 0xC2) && b == ' ') return 1;
    /* A-circumflex encoding the very character that follows it */
    if ((ma & FC_EP) && b == 0xC2 && (cc == ' ' || (mc & (FC_SP | FC_EP)))) return 1;
    /* Windows-1253 mojibake */
    if (a == 0x3B2 && b == 0x20AC && IN(cc, 0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0)) return 1;
    if (IN(a, 0x392, 0x393, 0x39E, 0x39F) && ((mb & G_WIN1251) || b == 0xB0) && IN(cc, 0x392, 0x393, 0x39E, 0x39F))
        return 1;
    /* Windows-1257 mojibake */
    if (a == 0x101 && b == 0x20AC) return 1;
    return 0;
}
#undef c
#undef m

int ftfy_is_bad(const uint32_t *t, size_t n) {
    /* Every alternative needs a non-ASCII character: pure ASCII is never bad. */
    size_t i = 0;
    while (i < n && t[i] < 0x80) i++;
    if (i == n) return 0;
    for (i = 0; i < n; i++)
        if (t[i] < 0x80 ? bad_at_ascii(t, n, i) : bad_at(t, n, i)) return 1;
    return 0;
}

size_t ftfy_utf8_detect(const uint32_t *t, size_t n, size_t i) {
    if (i > 0 && (ftfy_class(t[i - 1]) & FC_CONT_STRICT)) return 0; /* the lookbehind */
    size_t p = i;
    for (;;) {
        uint32_t m0 = p < n ? ftfy_class(t[p]) : 0;
        size_t need = (m0 & FC_FIRST2) ? 1 : 0, k;
        for (k = 1; need && k <= need && p + k < n && (ftfy_class(t[p + k]) & FC_CONT); k++) {}
        if (need && k > need) {
            p += 1 + need;
            continue;
        }
        need = (m0 & FC_FIRST3) ? 2 : 0;
        for (k = 1; need && k <= need && p + k < n && (ftfy_class(t[p + k]) & FC_CONT); k++) {}
        if (need && k > need) {
            p += 1 + need;
            continue;
        }
        need = (m0 & FC_FIRST4) ? 3 : 0;
        for (k = 1; need && k <= need && p + k < n && (ftfy_class(t[p + k]) & FC_CONT); k++) {}
        if (need && k > need) {
            p += 1 + need;
            continue;
        }
        return p - i;
    }
}
