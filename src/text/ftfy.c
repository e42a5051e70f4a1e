/*
 * ftfy.c -- ftfy 6.3's fix_text(text) with its default TextFixerConfig, the
 * first step of OpenAI's CLIP tokenizer (simple_tokenizer.basic_clean), on
 * arrays of code points.
 *
 * fix_text cuts the text into segments ending at each '\n' (at most
 * 1,000,000 code points each) and fixes every segment on its own, repeating
 * until nothing changes:
 *   unescape_html (only while no segment so far contained '<': ftfy then
 *   takes the text for real HTML and switches it off for the rest),
 *   fix_encoding (ftfy_encoding.c), fix_c1_controls, fix_latin_ligatures,
 *   fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates,
 *   remove_terminal_escapes, remove_control_chars, NFC.
 * The tables (entities, width map, ligatures, encodings, classes) are
 * generated from ftfy itself into ftfy_tables.c; NFC and digit categories
 * come from utf8proc, whose Unicode version may differ from the Python that
 * ran OpenAI's tokenizer (docs/using.md says which).  ftfy is a Python
 * library with no C counterpart, hence this reimplementation, written from
 * its documented behaviour and source (not copied).
 */
#include <string.h>
#include <utf8proc.h>

#include "base/utf8.h"
#include "text/clean.h"
#include "text/ftfy.h"
#include "text/ftfy_encoding.h"
#include "text/ftfy_tables.h"

enum { MAX_DECODE_LENGTH = 1000000, MAX_ROUNDS = 64 };

int ftfy_is_noop_fast(const uint32_t *t, size_t n) {
    /* c - 0x20 < 0x5F is printable ASCII; OR-ing the exceptions into one
     * flag keeps the loop branch-light (it runs on every caption). */
    uint32_t odd = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        odd |= (c - 0x20 >= 0x5F && c != '\t' && c != '\n' && c != '\f') | (c == '&');
    }
    return !odd;
}

/* -------------------------------------------------------- unescape_html */

static int ent_cmp(const uint32_t *s, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (unsigned char)name[i];
        if (!c || s[i] > c) return 1;
        if (s[i] < c) return -1;
    }
    return name[n] ? -1 : 0;
}

static const ftfy_entity *entity_find(const uint32_t *s, size_t n) {
    int lo = 0, hi = ftfy_n_entities - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, r = ent_cmp(s, n, ftfy_entities[mid].name);
        if (!r) return &ftfy_entities[mid];
        if (r < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static int alnum_ascii(uint32_t c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* fixes.unescape_html: each match of &#?[0-9A-Za-z]{1,24}; that names an
 * entity of ftfy's table becomes its text; a numeric one becomes what
 * html.unescape makes of it unless that leaves a ';' (a partial decode). */
static int unescape_html(const cvec *t, cvec *out) {
    out->n = 0;
    for (size_t i = 0; i < t->n;) {
        size_t j = i + 1, hash = j < t->n && t->v[j] == '#', k = j + hash, len = 0;
        if (t->v[i] == '&') /* a run of more than 24 cannot end in ';' within 24 */
            while (k + len < t->n && len < 25 && alnum_ascii(t->v[k + len])) len++;
        if (len < 1 || len > 24 || k + len >= t->n || t->v[k + len] != ';') {
            if (cvec_push(out, t->v[i++])) return -1;
            continue;
        }
        size_t end = k + len + 1; /* past the ';' */
        if (!hash) {
            const ftfy_entity *e = entity_find(t->v + j, end - j);
            if (e) {
                for (int q = 0; q < 3 && e->cp[q]; q++)
                    if (cvec_push(out, e->cp[q])) return -1;
            } else if (cvec_append(out, t->v + i, end - i))
                return -1;
        } else {
            uint32_t u[32];
            size_t m = html_unescape(t->v + i, end - i, u), semi = 0;
            for (size_t q = 0; q < m; q++) semi |= u[q] == ';';
            if (semi ? cvec_append(out, t->v + i, end - i) : cvec_append(out, u, m)) return -1;
        }
        i = end;
    }
    return 0;
}

/* ------------------------------------------------------ character maps */

static const ftfy_map_entry *map_find(const ftfy_map_entry *map, int n, uint32_t c) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (map[mid].cp == c) return &map[mid];
        if (map[mid].cp < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes:
 * four passes of per-character maps in ftfy, composed here into one pass
 * (each character's output of one map goes through the next ones: the
 * ligature U+0149 gives U+02BC + 'n', whose U+02BC the quote map makes '). */
static int translate(const cvec *t, cvec *out) {
    out->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->v[i];
        if (c >= 0x80 && c <= 0x9F) c = ftfy_charmap[FTFY_ENC_SLOPPY_1252][c];
        const ftfy_map_entry *e = NULL;
        if (c >= 0x132) e = map_find(ftfy_ligatures, ftfy_ligatures_n, c);
        uint32_t buf[3] = {c, 0, 0};
        if (e) memcpy(buf, e->to, sizeof buf);
        for (int q = 0; q < 3 && buf[q]; q++) {
            uint32_t d = buf[q];
            const ftfy_map_entry *w = d >= 0x3000 ? map_find(ftfy_width_map, ftfy_width_map_n, d) : NULL;
            uint32_t wb[3] = {d, 0, 0};
            if (w) memcpy(wb, w->to, sizeof wb);
            for (int r = 0; r < 3 && wb[r]; r++) {
                uint32_t x = wb[r];
                if (x == 0x2BC || (x >= 0x2018 && x <= 0x201B)) x = '\'';
                else if (x >= 0x201C && x <= 0x201F) x = '"';
                if (cvec_push(out, x)) return -1;
            }
        }
    }
    return 0;
}

/* fix_line_breaks, fix_surrogates, remove_terminal_escapes,
 * remove_control_chars, in that order. */
static int is_decimal(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return c <= 0x10FFFF && utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}
static int removed_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}
static int clean_breaks_controls(const cvec *t, cvec *a, cvec *out) {
    a->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->v[i];
        if (c == '\r' && i + 1 < t->n && t->v[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < t->n && t->v[i + 1] >= 0xDC00 && t->v[i + 1] <= 0xDFFF) {
            c = 0x10000 + (c - 0xD800) * 0x400 + (t->v[i + 1] - 0xDC00);
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF)
            c = 0xFFFD;
        if (cvec_push(a, c)) return -1;
    }
    out->n = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i] == 0x1B && i + 1 < a->n && a->v[i + 1] == '[') { /* \033\[(\d|;)*[a-zA-Z] */
            size_t k = i + 2;
            while (k < a->n && (is_decimal(a->v[k]) || a->v[k] == ';')) k++;
            if (k < a->n && ((a->v[k] | 32) >= 'a' && (a->v[k] | 32) <= 'z')) {
                i = k;
                continue;
            }
        }
        if (!removed_control(a->v[i]) && cvec_push(out, a->v[i])) return -1;
    }
    return 0;
}

/* unicodedata.normalize("NFC", t) by utf8proc.  Text below U+0300 is
 * already NFC (nothing there decomposes or composes), the common case. */
static int nfc(const cvec *t, cvec *out) {
    out->n = 0;
    size_t i = 0, nb = 0;
    while (i < t->n && t->v[i] < 0x300) i++;
    if (i == t->n) return cvec_append(out, t->v, t->n);
    uint8_t *s = malloc(4 * t->n + 1);
    if (!s) return -1;
    for (i = 0; i < t->n; i++) nb += (size_t)utf8_put(t->v[i], s + nb);
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t m = utf8proc_decompose(s, (utf8proc_ssize_t)nb, NULL, 0, opt);
    if (m < 0 || cvec_reserve(out, (size_t)m + 1)) {
        free(s);
        return -1;
    }
    m = utf8proc_decompose(s, (utf8proc_ssize_t)nb, (utf8proc_int32_t *)out->v, (utf8proc_ssize_t)out->cap, opt);
    free(s);
    if (m < 0) return -1;
    m = utf8proc_normalize_utf32((utf8proc_int32_t *)out->v, m, opt);
    if (m < 0) return -1;
    out->n = (size_t)m;
    return 0;
}

/* -------------------------------------------------------------- fix_text */

/* ftfy.fix_and_explain on one segment, in place. */
static int fix_segment(cvec *t, int unescape) {
    cvec a = {0}, b = {0}, orig = {0};
    int rc = -1;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        orig.n = 0;
        if (cvec_append(&orig, t->v, t->n)) goto done;
        if (unescape) {
            if (unescape_html(t, &a)) goto done;
            cvec_take(t, &a);
        }
        if (ftfy_fix_encoding(t) || translate(t, &a) || clean_breaks_controls(&a, &b, t) || nfc(t, &a)) goto done;
        cvec_take(t, &a);
        if (cvec_equal(t, &orig)) break;
    }
    rc = 0;
done:
    cvec_free(&a);
    cvec_free(&b);
    cvec_free(&orig);
    return rc;
}

int ftfy_fix_text(const uint32_t *in, size_t n, uint32_t **out, size_t *out_n) {
    cvec res = {0}, seg = {0};
    int unescape = 1;
    *out = NULL;
    *out_n = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = pos;
        while (end < n && in[end] != '\n') end++;
        end = end < n ? end + 1 : n;
        if (end - pos > MAX_DECODE_LENGTH) end = pos + MAX_DECODE_LENGTH;
        for (size_t i = pos; i < end && unescape; i++)
            if (in[i] == '<') unescape = 0;
        seg.n = 0;
        if (cvec_append(&seg, in + pos, end - pos) || fix_segment(&seg, unescape) ||
            cvec_append(&res, seg.v, seg.n)) {
            cvec_free(&seg);
            cvec_free(&res);
            return -1;
        }
        pos = end;
    }
    cvec_free(&seg);
    if (!res.v && cvec_reserve(&res, 1)) return -1;
    *out = res.v;
    *out_n = res.n;
    return 0;
}
