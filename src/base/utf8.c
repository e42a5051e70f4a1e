/*
 * utf8.c -- UTF-8 decoding and encoding for the tokenizer.
 *
 * utf8proc has a decoder, but not Python's exact error-replacement rule
 * ("maximal subpart" -> one U+FFFD, Unicode 15 section 3.9), which decode()
 * must reproduce byte for byte, so the one state machine here serves both
 * the strict and the replacing decoder.
 */
#include "base/utf8.h"

/* Length of the well-formed prefix of the sequence at s[0..n) (1..4), and
 * whether it is complete.  The second byte's range depends on the lead byte
 * (this is what rules out overlongs, surrogates and > U+10FFFF). */
static int seq_len(const uint8_t *s, size_t n, int *complete, uint32_t *cp) {
    uint8_t b = s[0];
    *complete = 0;
    if (b < 0x80) {
        *complete = 1;
        *cp = b;
        return 1;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) need = 1, c = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2, c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3, c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else
        return 1; /* not a lead byte: a one-byte ill-formed subpart */
    int k = 1;
    for (; k <= need; k++) {
        if ((size_t)k >= n) return k;
        uint8_t t = s[k];
        if (t < lo || t > hi) return k;
        lo = 0x80, hi = 0xBF; /* only the second byte has a narrowed range */
        c = (c << 6) | (t & 0x3F);
    }
    *complete = 1;
    *cp = c;
    return k;
}

size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cps, size_t *bad_at) {
    size_t i = 0, m = 0;
    while (i < n) {
        if (s[i] < 0x80) { /* fast path for ASCII */
            cps[m++] = s[i++];
            continue;
        }
        int ok;
        uint32_t c = 0;
        int k = seq_len(s + i, n - i, &ok, &c);
        if (!ok) {
            *bad_at = i;
            return (size_t)-1;
        }
        cps[m++] = c;
        i += (size_t)k;
    }
    return m;
}

size_t utf8_decode_replace(const uint8_t *s, size_t n, uint32_t *cps) {
    size_t i = 0, m = 0;
    while (i < n) {
        int ok;
        uint32_t c = 0;
        int k = seq_len(s + i, n - i, &ok, &c);
        cps[m++] = ok ? c : 0xFFFD;
        i += (size_t)k;
    }
    return m;
}

int utf8_put(uint32_t c, uint8_t *o) {
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (c >> 18));
    o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}
