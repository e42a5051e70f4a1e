/*
 * ftfy_encoding.c -- ftfy 6's fix_encoding: find text that was UTF-8 but got
 * decoded in a single-byte encoding ("mojibake", Ã© for é) and undo it.
 *
 * One step (ftfy's _fix_encoding_one_step_and_explain), repeated until the
 * text stops changing:
 *   1. pure ASCII, or text ftfy_is_bad() finds nothing wrong with: done;
 *   2. for each of the ten encodings, in order, that can encode the text:
 *      encode it, patch the bytes (restore_byte_a0: a space that was once
 *      byte A0; replace_lossy_sequences: UTF-8 with bytes lost to U+FFFD,
 *      sloppy encodings only), decode as UTF-8 (ftfy's "utf-8-variants" when
 *      byte ED or C0 occurs: CESU-8 surrogate pairs and Java's C0 80 NUL);
 *      the first that decodes is the answer;
 *   3. decode_inconsistent_utf8: fix runs of UTF-8 mojibake embedded in
 *      other text, each run on its own;
 *   4. Latin-1 text with C1 controls: read it as strict Windows-1252;
 *   5. fix_c1_controls: each C1 control as its Windows-1252 character.
 * The byte regexes of ftfy (ALTERED_UTF8_RE, A_GRAVE_WORD_RE, LOSSY_UTF8_RE)
 * are fixed-length alternations; they are matched here left to right,
 * alternatives in ftfy's order, as Python's re.sub does.  No library offers
 * ftfy's codecs or heuristics, hence this file.
 */
#include "text/ftfy_badness.h"
#include "text/ftfy_encoding.h"
#include "text/ftfy_tables.h"

/* decode_inconsistent_utf8 calls fix_encoding on ever shorter pieces;
 * Python would stop with RecursionError long before this depth. */
enum { MAX_DEPTH = 48 };

/* ------------------------------------------------------- single-byte codecs */

static int is_sloppy(int enc) { return enc >= FTFY_ENC_SLOPPY_1252 && enc < FTFY_ENC_FIRST_NOT_SLOPPY; }

/* The byte c encodes to in encoding enc, or -1 when it cannot. */
static int enc_byte(int enc, uint32_t c) {
    if (c < 0x80 && c != 0x1A) return (int)c;
    const uint16_t *tab = ftfy_charmap[enc];
    if (c == tab[0x1A]) return 0x1A;
    if (c > 0xFFFF) return -1;
    for (int b = 0x80; b < 0x100; b++)
        if (tab[b] == c) return b;
    return -1;
}

static int possible(const cvec *t, int enc) {
    for (size_t i = 0; i < t->n; i++)
        if (enc_byte(enc, t->v[i]) < 0) return 0;
    return 1;
}

static int encode(const cvec *t, int enc, bvec *out) {
    out->n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (bvec_push(out, (uint8_t)enc_byte(enc, t->v[i]))) return -1;
    return 0;
}

/* ---------------------------------------------------------- byte patches */

static int cont_x(int b) { return (b >= 0x80 && b <= 0x84) || (b >= 0x86 && b <= 0x9F) || (b >= 0xA1 && b <= 0xBF); }
static int cont(int b) { return b >= 0x80 && b <= 0xBF; }

/* Length of ALTERED_UTF8_RE's match at s[i] (a UTF-8 sequence with a space
 * where byte A0 belongs), 0 if none. */
static size_t altered_at(const uint8_t *s, size_t n, size_t i) {
    int b0 = s[i], b1 = i + 1 < n ? s[i + 1] : -1, b2 = i + 2 < n ? s[i + 2] : -1, b3 = i + 3 < n ? s[i + 3] : -1;
    if ((b0 == 0xC2 || b0 == 0xC3 || b0 == 0xC5 || b0 == 0xCE || b0 == 0xD0 || b0 == 0xD9) && b1 == ' ') return 2;
    if ((b0 == 0xE2 || b0 == 0xE3) && b1 == ' ' && cont_x(b2)) return 3;
    if (b0 >= 0xE0 && b0 <= 0xE3 && cont_x(b1) && b2 == ' ') return 3;
    if (b0 == 0xF0 && ((b1 == ' ' && cont(b2) && cont(b3)) || (cont(b1) && b2 == ' ' && cont(b3)) ||
                       (cont(b1) && cont(b2) && b3 == ' ')))
        return 4;
    return 0;
}

static int altered_search(const bvec *b) {
    for (size_t i = 0; i < b->n; i++)
        if (altered_at(b->v, b->n, i)) return 1;
    return 0;
}

static int starts(const uint8_t *s, size_t n, size_t i, const char *lit) {
    for (; *lit; lit++, i++)
        if (i >= n || s[i] != (uint8_t)*lit) return 0;
    return 1;
}

/* fixes.restore_byte_a0: first "\xc3 " not followed by a Portuguese
 * contraction becomes "\xc3\xa0 " (keeping the space: "Ã la" is "à la"),
 * then every ALTERED_UTF8_RE match gets its spaces turned into A0. */
static int restore_byte_a0(bvec *b) {
    bvec t = {0}, u = {0};
    for (size_t i = 0; i < b->n;) {
        if (b->v[i] == 0xC3 && i + 1 < b->n && b->v[i + 1] == ' ' && !starts(b->v, b->n, i + 2, " ") &&
            !starts(b->v, b->n, i + 2, "quele") && !starts(b->v, b->n, i + 2, "quela") &&
            !starts(b->v, b->n, i + 2, "quilo") && !starts(b->v, b->n, i + 2, "s ")) {
            if (bvec_push(&t, 0xC3) || bvec_push(&t, 0xA0) || bvec_push(&t, ' ')) goto oom;
            i += 2;
        } else if (bvec_push(&t, b->v[i++]))
            goto oom;
    }
    for (size_t i = 0; i < t.n;) {
        size_t k = altered_at(t.v, t.n, i);
        if (!k) k = 1;
        else
            for (size_t j = i; j < i + k; j++)
                if (t.v[j] == ' ') t.v[j] = 0xA0;
        for (size_t j = i; j < i + k; j++)
            if (bvec_push(&u, t.v[j])) goto oom;
        i += k;
    }
    bvec_free(&t);
    bvec_free(b);
    *b = u;
    return 0;
oom:
    bvec_free(&t);
    bvec_free(&u);
    return -1;
}

static int sub_q(int b) { return b == 0x1A || b == '?'; }     /* [\x1a?] */
static int sub_c(int b) { return b == 0x1A || cont(b); }       /* [\x1a\x80-\xbf] */
static int sub_qc(int b) { return sub_q(b) || cont(b); }      /* [\x1a?\x80-\xbf] */

/* Length of LOSSY_UTF8_RE's match at s[i], 0 if none. */
static size_t lossy_at(const uint8_t *s, size_t n, size_t i) {
    int b[6];
    for (int k = 0; k < 6; k++) b[k] = i + (size_t)k < n ? s[i + (size_t)k] : -1;
    if (b[0] >= 0xC2 && b[0] <= 0xDF && b[1] == 0x1A) return 2;
    if ((b[0] == 0xC2 || b[0] == 0xC3) && b[1] == '?') return 2;
    if (b[0] == 0xED && b[1] >= 0xA0 && b[1] <= 0xAF && b[3] == 0xED && b[4] >= 0xB0 && b[4] <= 0xBF &&
        ((sub_q(b[2]) && sub_qc(b[5])) || (sub_qc(b[2]) && sub_q(b[5]))))
        return 6;
    if (b[0] >= 0xE0 && b[0] <= 0xEF && ((sub_q(b[1]) && sub_c(b[2])) || (sub_c(b[1]) && sub_q(b[2])))) return 3;
    if (b[0] >= 0xF0 && b[0] <= 0xF4 &&
        ((sub_q(b[1]) && sub_c(b[2]) && sub_c(b[3])) || (sub_c(b[1]) && sub_q(b[2]) && sub_c(b[3])) ||
         (sub_c(b[1]) && sub_c(b[2]) && sub_q(b[3]))))
        return 4;
    return b[0] == 0x1A ? 1 : 0;
}

/* fixes.replace_lossy_sequences: each match becomes the UTF-8 of U+FFFD. */
static int replace_lossy(bvec *b) {
    bvec u = {0};
    for (size_t i = 0; i < b->n;) {
        size_t k = lossy_at(b->v, b->n, i);
        if (k) {
            if (bvec_push(&u, 0xEF) || bvec_push(&u, 0xBF) || bvec_push(&u, 0xBD)) goto oom;
            i += k;
        } else if (bvec_push(&u, b->v[i++]))
            goto oom;
    }
    bvec_free(b);
    *b = u;
    return 0;
oom:
    bvec_free(&u);
    return -1;
}

/* -------------------------------------------------------------- UTF-8 */

/* Python's `$` in a bytes regex: the end, or just before a final '\n'. */
static int dollar(const uint8_t *s, size_t n, size_t k) { return k == n || (k + 1 == n && s[k] == '\n'); }

/* Python's strict UTF-8: the length of the valid sequence at s[p], 0 if
 * invalid; *cp gets its value. */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t p, uint32_t *cp) {
    uint32_t b0 = s[p];
    if (b0 < 0x80) return *cp = b0, 1;
    size_t len;
    uint32_t lo = 0x80, hi = 0xBF, v;
    if (b0 >= 0xC2 && b0 <= 0xDF) len = 2, v = b0 & 0x1F;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3, v = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4, v = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (p + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        uint32_t b = s[p + k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
        v = v << 6 | (b & 0x3F);
    }
    *cp = v;
    return len;
}

/* bytes.decode("utf-8") or, with variants, ftfy's "utf-8-variants" (C0 80
 * is U+0000, a CESU-8 surrogate pair is its astral character; the
 * `$`-before-newline quirks of ftfy's regexes included).  Returns 1 when
 * the bytes decode (into out), 0 when Python would raise, -1 on OOM. */
static int decode_utf8(const bvec *b, int variants, cvec *out) {
    const uint8_t *s = b->v;
    size_t n = b->n;
    out->n = 0;
    for (size_t p = 0; p < n;) {
        uint32_t cp;
        if (variants && s[p] == 0xC0) {
            if (!(p + 1 < n && (s[p + 1] == 0x80 || dollar(s, n, p + 1)))) return 0;
            if (cvec_push(out, 0)) return -1;
            p += 2;
            continue;
        }
        if (variants && s[p] == 0xED && ((p + 1 < n && s[p + 1] >= 0xA0 && s[p + 1] <= 0xBF) || dollar(s, n, p + 1)) &&
            ((p + 2 < n && cont(s[p + 2])) || dollar(s, n, p + 2))) {
            if (n - p < 6) return 0;
            if (!(s[p + 1] <= 0xAF && cont(s[p + 2]) && s[p + 3] == 0xED && s[p + 4] >= 0xB0 && s[p + 4] <= 0xBF &&
                  (cont(s[p + 5]) || dollar(s, n, p + 5))))
                return 0;
            cp = ((uint32_t)(s[p + 1] & 0x0F) << 16) + ((uint32_t)(s[p + 2] & 0x3F) << 10) +
                 ((uint32_t)(s[p + 4] & 0x0F) << 6) + (s[p + 5] & 0x3F) + 0x10000;
            if (cvec_push(out, cp)) return -1;
            p += 6;
            continue;
        }
        size_t k = utf8_seq(s, n, p, &cp);
        if (!k) return 0;
        if (cvec_push(out, cp)) return -1;
        p += k;
    }
    return 1;
}

/* ---------------------------------------------------------- fix_encoding */

static int fix_encoding_depth(cvec *t, int depth);

/* fixes.decode_inconsistent_utf8: each UTF8_DETECTOR_RE match that is
 * shorter than the whole text and is_bad is fixed on its own. */
static int decode_inconsistent(const cvec *t, cvec *out, int depth) {
    out->n = 0;
    for (size_t i = 0; i < t->n;) {
        size_t k = ftfy_utf8_detect(t->v, t->n, i);
        if (!k) {
            if (cvec_push(out, t->v[i++])) return -1;
            continue;
        }
        if (k < t->n && ftfy_is_bad(t->v + i, k) && depth < MAX_DEPTH) {
            cvec sub = {0};
            if (cvec_append(&sub, t->v + i, k) || fix_encoding_depth(&sub, depth + 1) ||
                cvec_append(out, sub.v, sub.n)) {
                cvec_free(&sub);
                return -1;
            }
            cvec_free(&sub);
        } else if (cvec_append(out, t->v + i, k))
            return -1;
        i += k;
    }
    return 0;
}

/* Step 2 for encoding enc: 1 with the decoded text in out, 0 when the bytes
 * are not UTF-8, -1 on OOM. */
static int try_encoding(const cvec *t, int enc, cvec *out) {
    bvec b = {0};
    int r = -1;
    if (encode(t, enc, &b)) goto done;
    if (enc != FTFY_ENC_MACROMAN && altered_search(&b) && restore_byte_a0(&b)) goto done;
    if (is_sloppy(enc) && replace_lossy(&b)) goto done;
    int variants = 0;
    for (size_t i = 0; i < b.n; i++)
        if (b.v[i] == 0xED || b.v[i] == 0xC0) variants = 1;
    r = decode_utf8(&b, variants, out);
done:
    bvec_free(&b);
    return r;
}

/* One step; out gets the result (a copy of t when nothing applies). */
static int one_step(const cvec *t, cvec *out, int depth) {
    size_t i = 0;
    while (i < t->n && t->v[i] < 0x80) i++;
    if (i == t->n || !ftfy_is_bad(t->v, t->n)) goto same;
    int latin1 = 0;
    for (int enc = 0; enc < FTFY_N_ENCODINGS; enc++) {
        if (!possible(t, enc)) continue;
        if (enc == FTFY_ENC_LATIN1) latin1 = 1;
        int r = try_encoding(t, enc, out);
        if (r) return r < 0 ? -1 : 0;
    }
    if (decode_inconsistent(t, out, depth)) return -1;
    if (!cvec_equal(t, out)) return 0;
    /* ftfy asks whether "windows-1252" is among the possible encodings, but
     * it lists "sloppy-windows-1252": that test is never true, so Latin-1
     * text goes on to strict Windows-1252. */
    int c1 = 0;
    for (i = 0; i < t->n; i++) c1 |= t->v[i] >= 0x80 && t->v[i] <= 0x9F;
    if (latin1 && c1) {
        int ok = 1;
        out->n = 0;
        for (i = 0; i < t->n && ok; i++) {
            uint32_t c = t->v[i];
            if (c >= 0x80 && c <= 0x9F) {
                c = ftfy_charmap[FTFY_ENC_SLOPPY_1252][c];
                ok = c > 0x9F; /* a hole of strict Windows-1252 */
            }
            if (cvec_push(out, c)) return -1;
        }
        if (ok && !cvec_equal(t, out)) return 0;
    }
    if (c1) { /* fix_c1_controls */
        out->n = 0;
        for (i = 0; i < t->n; i++) {
            uint32_t c = t->v[i];
            if (cvec_push(out, c >= 0x80 && c <= 0x9F ? ftfy_charmap[FTFY_ENC_SLOPPY_1252][c] : c)) return -1;
        }
        return 0;
    }
same:
    out->n = 0;
    return cvec_append(out, t->v, t->n);
}

static int fix_encoding_depth(cvec *t, int depth) {
    cvec out = {0};
    for (;;) {
        if (one_step(t, &out, depth)) {
            cvec_free(&out);
            return -1;
        }
        if (cvec_equal(t, &out)) break;
        cvec_take(t, &out);
    }
    cvec_free(&out);
    return 0;
}

int ftfy_fix_encoding(cvec *t) { return fix_encoding_depth(t, 0); }
