/*
 * wordpiece.c — BERT's WordPiece tokenizer for uncased vocabularies
 * (DistilBERT's): the vocabulary (a vocab.txt, one token per line, id =
 * line number from 0), the greedy longest-match-first split of each word
 * of the basic tokenizer (bert_basic.c) with "##" continuation pieces, and
 * the model's input: [CLS] pieces [SEP], truncated to max_len with [SEP]
 * kept, padded with 0.
 *
 * A word longer than 100 code points, or one that some position cannot
 * continue from, becomes a single [UNK] (BERT's max_input_chars_per_word
 * and its all-or-nothing rule).  The text tower masks id 0 as padding, so
 * the vocabulary must have [PAD] on its first line (every BERT vocabulary
 * does); [CLS], [SEP] and [UNK] may be anywhere.
 *
 * Written here rather than taken from a library: Debian packages no
 * WordPiece tokenizer for C (HF's `tokenizers` is Rust/Python only).
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/utf8.h"
#include "text/bert_basic.h"

#define WP_MAX_WORD 100      /* BERT's max_input_chars_per_word */
#define WP_MAX_VOCAB (1 << 24)

struct clipc_wordpiece {
    char *data;          /* the file's bytes, each token NUL-terminated in place */
    const char **tok;    /* (n) token strings */
    uint32_t *len;       /* (n) their byte lengths */
    int32_t *slot;       /* (cap) open-addressing table of ids, -1 empty */
    size_t cap;
    int n;
    int32_t cls, sep, pad, unk;
};

static int32_t find(const clipc_wordpiece *wp, const char *s, size_t n) {
    size_t i = (size_t)hash_bytes(s, n, HASH_FNV_OFFSET) & (wp->cap - 1);
    for (;; i = (i + 1) & (wp->cap - 1)) {
        int32_t id = wp->slot[i];
        if (id < 0) return -1;
        if (wp->len[id] == n && !memcmp(wp->tok[id], s, n)) return id;
    }
}

void clipc_wordpiece_free(clipc_wordpiece *wp) {
    if (!wp) return;
    free(wp->data);
    free(wp->tok);
    free(wp->len);
    free(wp->slot);
    free(wp);
}

int clipc_wordpiece_vocab_size(const clipc_wordpiece *wp) { return wp->n; }

/* Splits data into lines (HF's load_vocab: only "\n" ends a line, a last
 * line without one counts) and indexes them.  0 or an error. */
static clipc_status index_lines(clipc_wordpiece *wp, const char *name) {
    size_t len = strlen(wp->data), lines = 0;
    for (size_t i = 0; i < len; i++) lines += wp->data[i] == '\n';
    if (len && wp->data[len - 1] != '\n') lines++;
    if (lines == 0) return clipc_error(CLIPC_ERR_FORMAT, "%s: empty vocabulary", name);
    if (lines > WP_MAX_VOCAB)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: %zu tokens, more than the %d supported", name, lines, WP_MAX_VOCAB);
    wp->cap = 16;
    while (wp->cap < 2 * lines) wp->cap *= 2;
    wp->tok = mem_calloc(lines, sizeof *wp->tok, "vocabulary");
    wp->len = mem_calloc(lines, sizeof *wp->len, "vocabulary");
    wp->slot = mem_alloc(wp->cap * sizeof *wp->slot, "vocabulary");
    if (!wp->tok || !wp->len || !wp->slot) return CLIPC_ERR_NOMEM;
    memset(wp->slot, 0xff, wp->cap * sizeof *wp->slot);
    char *p = wp->data;
    for (int id = 0; id < (int)lines; id++) {
        char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        p[n] = 0;
        if (n == 0) return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: empty token", name, id + 1);
        wp->tok[id] = p;
        wp->len[id] = (uint32_t)n;
        size_t i = (size_t)hash_bytes(p, n, HASH_FNV_OFFSET) & (wp->cap - 1);
        for (; wp->slot[i] >= 0; i = (i + 1) & (wp->cap - 1))
            if (wp->len[wp->slot[i]] == n && !memcmp(wp->tok[wp->slot[i]], p, n))
                return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: duplicate token '%s' (first on line %d)", name, id + 1,
                                   p, wp->slot[i] + 1);
        wp->slot[i] = id;
        wp->n = id + 1;
        p += n + 1;
    }
    return CLIPC_OK;
}

static clipc_status find_special(const clipc_wordpiece *wp, const char *tok, int32_t *id, const char *name) {
    *id = find(wp, tok, strlen(tok));
    if (*id < 0) return clipc_error(CLIPC_ERR_FORMAT, "%s: the vocabulary has no %s token", name, tok);
    return CLIPC_OK;
}

clipc_wordpiece *clipc_wordpiece_from_buffer(const char *data, size_t n, const char *name) {
    if (!name) name = "vocabulary";
    clipc_wordpiece *wp = mem_calloc(1, sizeof *wp, "vocabulary");
    if (!wp) return NULL;
    if (memchr(data, 0, n)) {
        clipc_error(CLIPC_ERR_FORMAT, "%s: NUL byte in the vocabulary (not a vocab.txt)", name);
        goto fail;
    }
    wp->data = mem_alloc(n + 1, "vocabulary");
    if (!wp->data) goto fail;
    memcpy(wp->data, data, n);
    wp->data[n] = 0;
    if (index_lines(wp, name) || find_special(wp, "[CLS]", &wp->cls, name) ||
        find_special(wp, "[SEP]", &wp->sep, name) || find_special(wp, "[PAD]", &wp->pad, name) ||
        find_special(wp, "[UNK]", &wp->unk, name))
        goto fail;
    if (wp->pad != 0) {
        clipc_error(CLIPC_ERR_FORMAT, "%s:%d: [PAD] must be the first token (id 0): the text tower masks id 0 as "
                    "padding", name, wp->pad + 1);
        goto fail;
    }
    return wp;
fail:
    clipc_wordpiece_free(wp);
    return NULL;
}

clipc_wordpiece *clipc_wordpiece_load(const char *path) {
    char *data;
    size_t n;
    if (clipc_read_file(path, &data, &n)) return NULL;
    clipc_wordpiece *wp = clipc_wordpiece_from_buffer(data, n, path);
    free(data);
    return wp;
}

/* ---- encoding */

typedef struct {
    const clipc_wordpiece *wp;
    int32_t *ids;
    int n, room;     /* ids written; the most before [SEP] */
    char *buf;       /* "##" + the UTF-8 of a word: 2 + 4 * WP_MAX_WORD bytes */
} enc_state;

static int emit(enc_state *s, int32_t id) {
    s->ids[s->n++] = id;
    return s->n >= s->room; /* full: stop the basic tokenizer */
}

/* One word of the basic tokenizer: its WordPiece ids. */
static int on_word(void *ctx, const uint32_t *cps, size_t n) {
    enc_state *s = ctx;
    const clipc_wordpiece *wp = s->wp;
    if (n > WP_MAX_WORD) return emit(s, wp->unk);
    /* UTF-8 after "##", with the byte offset of every code point. */
    size_t at[WP_MAX_WORD + 1];
    char *u = s->buf + 2;
    at[0] = 0;
    for (size_t i = 0; i < n; i++) at[i + 1] = at[i] + (size_t)utf8_put(cps[i], (uint8_t *)u + at[i]);
    int32_t pieces[WP_MAX_WORD];
    size_t np = 0;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            /* a continuation is looked up with "##" in front: write it just before */
            const char *p = u + at[start];
            size_t len = at[end] - at[start];
            if (start > 0) {
                char save[2] = {p[-2], p[-1]};
                char *q = (char *)p - 2;
                q[0] = q[1] = '#';
                id = find(wp, q, len + 2);
                q[0] = save[0], q[1] = save[1];
            } else {
                id = find(wp, p, len);
            }
            if (id >= 0) break;
        }
        if (id < 0) return emit(s, wp->unk); /* no piece fits here: the whole word is unknown */
        pieces[np++] = id;
        start = end;
    }
    for (size_t i = 0; i < np; i++)
        if (emit(s, pieces[i])) return 1;
    return 0;
}

int clipc_wordpiece_encode(const clipc_wordpiece *wp, const char *text, int32_t *ids, int max_len) {
    if (max_len < 2) {
        clipc_error(CLIPC_ERR_INVALID, "wordpiece: max_len %d leaves no room for [CLS] and [SEP]", max_len);
        return -1;
    }
    char buf[2 + 4 * WP_MAX_WORD];
    enc_state s = {wp, ids, 0, max_len - 1, buf};
    ids[s.n++] = wp->cls;
    if (s.n < s.room && bert_basic_tokenize(text, strlen(text), on_word, &s)) return -1;
    ids[s.n++] = wp->sep;
    for (int i = s.n; i < max_len; i++) ids[i] = 0;
    return s.n;
}
