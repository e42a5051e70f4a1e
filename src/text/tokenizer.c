/*
 * tokenizer.c -- OpenAI CLIP's byte-level BPE tokenizer (clip/simple_tokenizer.py),
 * reproduced exactly: the ids are what the model's token embedding was
 * trained on, so "close" is wrong.
 *
 *   text --clean (clean.c, ftfy.c)--> code points --split (the CLIP regex)-->
 *   pieces --UTF-8, one symbol per byte--> BPE merges by rank --> ids
 *
 * Symbols are kept as vocabulary ids rather than strings: id 0..255 are the
 * bytes in GPT-2's bytes_to_unicode order, 256..511 the same with "</w>",
 * 512 + r the result of merge r, then <|startoftext|> and <|endoftext|>.  A
 * merge table maps the id pair (a, b) to (rank, merged id).
 *
 * The merge loop is Python's: repeatedly take the adjacent pair of lowest
 * rank and merge all its occurrences left to right -- NOT longest match.  It
 * runs on a heap of (rank, position) entries over a linked list of symbols,
 * so a long word costs O(n log n) instead of Python's O(n^2); popping in
 * (rank, position) order merges the occurrences of one pair left to right,
 * and a merge never creates another occurrence of the same pair (the merged
 * string is longer than either half), so the result is identical.
 *
 * Thread-safety: a clipc_tokenizer is immutable after load except for its
 * merge cache (piece bytes -> ids), which a mutex guards; one handle can be
 * used from several threads at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <zlib.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "base/utf8.h"
#include "text/clean.h"
#include "text/vocab_data.h"

#define N_MERGES 48894 /* merges used: 49408 - 256 - 256 - 2 */
#define N_VOCAB 49408
#define PAIR_SLOTS (1u << 17) /* power of two > 2 * N_MERGES */
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_PIECE 64 /* longer pieces are rare; not cached */


typedef struct {
    uint32_t key;    /* a << 16 | b, or EMPTY_KEY */
    int32_t rank;
    int32_t merged;  /* id of the concatenation */
} pair_slot;
#define EMPTY_KEY 0xFFFFFFFFu

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_len, n_ids;
    /* followed by key_len bytes of key, then n_ids int32 (aligned) */
    int32_t *ids;
    uint8_t key[];
} cache_entry;

struct clipc_tokenizer {
    int32_t byte_id[256], byte_id_w[256]; /* first symbols of a piece */
    pair_slot *pairs;                     /* PAIR_SLOTS */
    uint32_t *tok_off;                    /* N_VOCAB + 1 offsets into tok_bytes */
    uint8_t *tok_bytes;                   /* raw bytes of each token ("</w>" included) */
    pthread_mutex_t mu;                   /* guards the cache */
    cache_entry **cache;                  /* CACHE_SLOTS */
    int cache_n;
    clipc_wordpiece *wp;                  /* the tutorial's WordPiece instead of BPE (NULL: BPE) */
};

/* ---------------------------------------------------------------- hashing */

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint32_t pair_hash(uint32_t key) { return (key * 2654435761u) >> 15; } /* 17 bits */

static const pair_slot *pair_find(const clipc_tokenizer *t, int32_t a, int32_t b) {
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    for (uint32_t i = pair_hash(key);; i = (i + 1) & (PAIR_SLOTS - 1)) {
        const pair_slot *s = &t->pairs[i];
        if (s->key == key) return s;
        if (s->key == EMPTY_KEY) return NULL;
    }
}

/* --------------------------------------------------------------- loading */

/* GPT-2's bytes_to_unicode: the printable bytes map to themselves, the other
 * 68 to U+0100.. in byte order.  byte_of[] is the inverse (code point -> byte,
 * or -1); order[] lists the bytes in vocabulary order. */
static void byte_tables(int byte_of[0x144], int order[256]) {
    int n = 0, extra = 0;
    for (int i = 0; i < 0x144; i++) byte_of[i] = -1;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            byte_of[b] = b;
            order[n++] = b;
        }
    for (int b = 0; b < 256; b++)
        if (byte_of[b] != b) {
            byte_of[0x100 + extra++] = b;
            order[n++] = b;
        }
}

static clipc_status gunzip(const uint8_t *src, size_t n, const char *name, uint8_t **out, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return clipc_error(CLIPC_ERR_NOMEM, "%s: zlib init failed", name);
    size_t cap = 4u << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = Z_OK;
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)n;
    while (buf && rc != Z_STREAM_END) {
        if (len == cap) {
            uint8_t *nb = cap > (256u << 20) ? NULL : realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb, cap *= 2;
        }
        zs.next_out = buf + len;
        zs.avail_out = (uInt)(cap - len);
        rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) { rc = Z_DATA_ERROR; break; }
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a valid gzip file (zlib: %s)", name,
                           zs.msg ? zs.msg : "truncated or too large");
    }
    *out = buf;
    *out_len = len;
    return CLIPC_OK;
}

/* Load-time map raw token bytes -> id (the last id wins, as in Python's
 * encoder dict). */
typedef struct {
    int32_t *slot;
    const clipc_tokenizer *t;
} str_map;
#define STR_SLOTS (1u << 17)

static int32_t *str_slot(str_map *m, const uint8_t *p, size_t n) {
    for (uint32_t i = (uint32_t)fnv1a(p, n) & (STR_SLOTS - 1);; i = (i + 1) & (STR_SLOTS - 1)) {
        int32_t id = m->slot[i];
        if (id < 0) return &m->slot[i];
        size_t len = m->t->tok_off[id + 1] - m->t->tok_off[id];
        if (len == n && !memcmp(m->t->tok_bytes + m->t->tok_off[id], p, n)) return &m->slot[i];
    }
}

/* One merge-file symbol (UTF-8 of bytes_to_unicode chars) -> raw bytes. */
static int symbol_bytes(const uint8_t *s, size_t n, const int byte_of[0x144], uint8_t *out, size_t *m) {
    uint32_t cps[64];
    size_t bad;
    if (n > 64) return -1;
    size_t k = utf8_decode(s, n, cps, &bad);
    if (k == (size_t)-1) return -1;
    for (size_t i = 0; i < k; i++) {
        if (cps[i] >= 0x144 || byte_of[cps[i]] < 0) return -1;
        out[(*m)++] = (uint8_t)byte_of[cps[i]];
    }
    return 0;
}

static clipc_status parse_merges(clipc_tokenizer *t, const uint8_t *txt, size_t len, const char *name) {
    int byte_of[0x144], order[256];
    byte_tables(byte_of, order);
    /* Token bytes: 256 bytes, 256 with "</w>", merges (<= 128 bytes each), 2 specials. */
    t->tok_off = malloc((N_VOCAB + 1) * sizeof *t->tok_off);
    t->tok_bytes = malloc(256 * 5 + (size_t)N_MERGES * 128 + 64);
    str_map sm = {malloc(STR_SLOTS * sizeof(int32_t)), t};
    int32_t (*mp)[2] = malloc((size_t)N_MERGES * sizeof *mp);
    clipc_status st = CLIPC_OK;
    if (!t->tok_off || !t->tok_bytes || !sm.slot || !mp) {
        st = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory for the vocabulary", name);
        goto done;
    }
    uint32_t off = 0;
    int id = 0;
    for (int i = 0; i < 256; i++, id++) {
        t->tok_off[id] = off;
        t->tok_bytes[off++] = (uint8_t)order[i];
    }
    for (int i = 0; i < 256; i++, id++) {
        t->tok_off[id] = off;
        t->tok_bytes[off++] = (uint8_t)order[i];
        memcpy(t->tok_bytes + off, "</w>", 4);
        off += 4;
    }
    /* Merge lines 1..N_MERGES ("a b"); line 0 is a header. */
    const uint8_t *p = txt, *end = txt + len;
    const uint8_t *nl = memchr(p, '\n', len);
    if (!nl) {
        st = clipc_error(CLIPC_ERR_FORMAT, "%s: no merge lines", name);
        goto done;
    }
    p = nl + 1;
    for (int r = 0; r < N_MERGES; r++, id++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        const uint8_t *sp = memchr(p, ' ', (size_t)(le - p));
        size_t m = 0;
        t->tok_off[id] = off;
        if (p >= end || !sp || memchr(sp + 1, ' ', (size_t)(le - sp - 1)) ||
            symbol_bytes(p, (size_t)(sp - p), byte_of, t->tok_bytes + off, &m) ||
            (mp[r][0] = (int32_t)m, symbol_bytes(sp + 1, (size_t)(le - sp - 1), byte_of, t->tok_bytes + off, &m)) ||
            mp[r][0] == 0 || (size_t)mp[r][0] == m) {
            st = clipc_error(CLIPC_ERR_FORMAT, "%s: line %d: not a merge of two BPE symbols", name, r + 2);
            goto done;
        }
        off += (uint32_t)m;
        p = nl ? nl + 1 : end;
    }
    static const char *special[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++, id++) {
        t->tok_off[id] = off;
        memcpy(t->tok_bytes + off, special[i], strlen(special[i]));
        off += (uint32_t)strlen(special[i]);
    }
    t->tok_off[id] = off;

    for (uint32_t i = 0; i < STR_SLOTS; i++) sm.slot[i] = -1;
    for (int i = 0; i < N_VOCAB; i++)
        *str_slot(&sm, t->tok_bytes + t->tok_off[i], t->tok_off[i + 1] - t->tok_off[i]) = i;
    for (int i = 0; i < 256; i++) {
        t->byte_id[order[i]] = *str_slot(&sm, t->tok_bytes + t->tok_off[i], 1);
        t->byte_id_w[order[i]] = *str_slot(&sm, t->tok_bytes + t->tok_off[256 + i], 5);
    }
    /* Pair table: (id(a), id(b)) -> rank, id(a b); a repeated pair keeps its
     * last rank, as Python's bpe_ranks dict does. */
    for (uint32_t i = 0; i < PAIR_SLOTS; i++) t->pairs[i].key = EMPTY_KEY;
    for (int r = 0; r < N_MERGES; r++) {
        const uint8_t *tb = t->tok_bytes + t->tok_off[512 + r];
        size_t tl = t->tok_off[512 + r + 1] - t->tok_off[512 + r], la = (size_t)mp[r][0];
        int32_t a = *str_slot(&sm, tb, la), b = *str_slot(&sm, tb + la, tl - la);
        if (a < 0 || b < 0) continue; /* a half no word can produce: never applies */
        uint32_t key = (uint32_t)a << 16 | (uint32_t)b, i = pair_hash(key);
        while (t->pairs[i].key != EMPTY_KEY && t->pairs[i].key != key) i = (i + 1) & (PAIR_SLOTS - 1);
        t->pairs[i] = (pair_slot){key, r, *str_slot(&sm, tb, tl)};
    }
done:
    free(sm.slot);
    free(mp);
    return st;
}

clipc_status clipc_tokenizer_load(const char *path, clipc_tokenizer **out) {
    *out = NULL;
    const char *name = path ? path : "embedded bpe_simple_vocab_16e6.txt.gz";
    char *file = NULL;
    size_t flen = 0;
    const uint8_t *gz;
    if (path) {
        clipc_status st = clipc_read_file(path, &file, &flen);
        if (st) return st;
        gz = (const uint8_t *)file;
    } else
        gz = vocab_gz(&flen);
    uint8_t *txt = NULL;
    size_t tlen = 0;
    clipc_status st = gunzip(gz, flen, name, &txt, &tlen);
    free(file);
    if (st) return st;
    clipc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(txt);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory for the tokenizer");
    }
    pthread_mutex_init(&t->mu, NULL);
    t->pairs = malloc(PAIR_SLOTS * sizeof *t->pairs);
    t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
    if (!t->pairs || !t->cache) st = clipc_error(CLIPC_ERR_NOMEM, "out of memory for the tokenizer");
    else st = parse_merges(t, txt, tlen, name);
    free(txt);
    if (st) {
        clipc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return CLIPC_OK;
}

static void cache_clear(clipc_tokenizer *t) {
    for (uint32_t i = 0; i < CACHE_SLOTS; i++) {
        free(t->cache[i]);
        t->cache[i] = NULL;
    }
    t->cache_n = 0;
}

/* ---- the tutorial's DistilBERT: the same handle over a WordPiece
 * vocabulary (text/wordpiece.c), so every caller that tokenises captions
 * or queries through a clipc_tokenizer works for such a model unchanged.
 * Its ids are [CLS] pieces [SEP] padded with [PAD] = 0, always truncated to
 * the context keeping [SEP] (the tutorial's truncation=True). */
clipc_status clipc_tokenizer_wordpiece(const char *vocab, size_t n, const char *name, clipc_tokenizer **out) {
    *out = NULL;
    clipc_wordpiece *wp = clipc_wordpiece_from_buffer(vocab, n, name);
    if (!wp) return CLIPC_ERR_FORMAT; /* the message is wordpiece.c's */
    clipc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        clipc_wordpiece_free(wp);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory for a tokenizer");
    }
    pthread_mutex_init(&t->mu, NULL);
    t->wp = wp;
    *out = t;
    return CLIPC_OK;
}

int clipc_tokenizer_is_wordpiece(const clipc_tokenizer *t) { return t && t->wp; }

/* [CLS] ... [SEP] of a text of len bytes (copied: WordPiece takes C strings). */
static clipc_status wp_encode(const clipc_tokenizer *t, const char *text, size_t len, int32_t *out, int ctx,
                              int *count) {
    char *z = malloc(len + 1);
    if (!z) return clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    memcpy(z, text, len);
    z[len] = 0;
    int k = strlen(z) == len ? clipc_wordpiece_encode(t->wp, z, out, ctx) : -2;
    free(z);
    if (k == -2) return clipc_error(CLIPC_ERR_INVALID, "text holds a NUL byte");
    if (k < 0) return CLIPC_ERR_INVALID; /* the message is wordpiece.c's */
    *count = k;
    return CLIPC_OK;
}

static clipc_status wp_tokenize(clipc_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n) {
    /* Every piece holds at least one byte: len + 2 ids hold them all. */
    if (len > ((size_t)1 << 28)) return clipc_error(CLIPC_ERR_RANGE, "text of %zu bytes is too long to tokenize", len);
    int32_t *v = malloc((len + 2) * sizeof *v);
    if (!v) return clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    int k;
    clipc_status st = wp_encode(t, text, len, v, (int)len + 2, &k);
    if (st) {
        free(v);
        return st;
    }
    memmove(v, v + 1, (size_t)(k - 2) * sizeof *v); /* without [CLS] and [SEP] */
    *ids = v;
    *n = k - 2;
    return CLIPC_OK;
}
/* ---- end of the tutorial's WordPiece */

void clipc_tokenizer_free(clipc_tokenizer *t) {
    if (!t) return;
    clipc_wordpiece_free(t->wp);
    if (t->cache) cache_clear(t);
    free(t->cache);
    free(t->pairs);
    free(t->tok_off);
    free(t->tok_bytes);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* ------------------------------------------------------------------- BPE */

typedef struct {
    int32_t rank, pos;
} heap_ent;

static int heap_less(heap_ent a, heap_ent b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(heap_ent *h, int *n, heap_ent e) {
    int i = (*n)++;
    while (i > 0 && heap_less(e, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, int *n) {
    heap_ent top = h[0], e = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], e)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = e;
    return top;
}

/* Pushes the pair starting at symbol i if it is a merge. */
static void push_pair(const clipc_tokenizer *t, const int32_t *sym, const int *next, int i, heap_ent *h, int *nh) {
    if (i < 0 || next[i] < 0) return;
    const pair_slot *s = pair_find(t, sym[i], sym[next[i]]);
    if (s) heap_push(h, nh, (heap_ent){s->rank, i});
}

/* BPE of one piece's bytes b[0..n) (n >= 1); writes the ids to out (room for
 * n) and returns their count.  work has room for 9n ints. */
static int bpe(const clipc_tokenizer *t, const uint8_t *b, int n, int32_t *out, int32_t *work) {
    int32_t *sym = work;
    int *prev = (int *)(work + n), *next = (int *)(work + 2 * n);
    heap_ent *h = (heap_ent *)(work + 3 * n); /* n - 1 pairs + 2 per merge: < 3n entries */
    int nh = 0;
    for (int i = 0; i < n; i++) {
        sym[i] = i == n - 1 ? t->byte_id_w[b[i]] : t->byte_id[b[i]];
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++) push_pair(t, sym, next, i, h, &nh);
    while (nh > 0) {
        heap_ent e = heap_pop(h, &nh);
        int i = e.pos, j = next[i];
        /* Stale entries: the symbol was merged away (marked by prev = -2), or
         * the pair at i changed since the push (then it has another rank). */
        if (prev[i] == -2 || j < 0) continue;
        const pair_slot *s = pair_find(t, sym[i], sym[j]);
        if (!s || s->rank != e.rank) continue;
        sym[i] = s->merged;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        prev[j] = -2;
        push_pair(t, sym, next, prev[i], h, &nh);
        push_pair(t, sym, next, i, h, &nh);
    }
    int m = 0;
    for (int i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    return m;
}

/* -------------------------------------------------------------- encoding */

static int is_letter(uint32_t c) {
    if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int is_number(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* Does the literal `lit` (lowercase ASCII) match at t[i..n)?  OpenAI compiles
 * the pattern with IGNORECASE; after lower() the only other character that
 * case-folds onto one of the literals' letters is U+017F (long s) ~ 's'. */
static int lit_at(const uint32_t *t, size_t n, size_t i, const char *lit) {
    for (size_t k = 0; lit[k]; k++, i++)
        if (i >= n || !(t[i] == (uint8_t)lit[k] || (lit[k] == 's' && t[i] == 0x17F))) return 0;
    return 1;
}

/* Length of the regex match at t[i] of
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * (first alternative wins), or 0 where nothing matches (a space).
 * U+0345 (combining ypogegrammeni, Mn) matches nothing either: under
 * IGNORECASE the `regex` module excludes a character from a negated class
 * when one of its case variants (here U+0399/U+03B9, letters) is in it, yet
 * [\p{L}] does not match it; so like a space it separates and disappears.
 * (Checked over all code points: it is the only such character.) */
static size_t match_at(const uint32_t *t, size_t n, size_t i) {
    static const char *lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    uint32_t c = t[i];
    if (c == 0x345) return 0;
    if (c == '<' || c == '\'')
        for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++)
            if (lit_at(t, n, i, lits[k])) return strlen(lits[k]);
    size_t j = i;
    if (is_letter(c)) {
        while (j < n && is_letter(t[j])) j++;
        return j - i;
    }
    if (is_number(c)) return 1;
    while (j < n && !is_re_space(t[j]) && t[j] != 0x345 && !is_letter(t[j]) && !is_number(t[j])) j++;
    return j - i;
}

typedef struct {
    int32_t *v;
    size_t n, cap;
} idvec;

static int idvec_add(idvec *v, const int32_t *ids, size_t k) {
    if (v->n + k > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < v->n + k) cap *= 2;
        int32_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return -1;
        v->v = nv, v->cap = cap;
    }
    memcpy(v->v + v->n, ids, k * sizeof *ids);
    v->n += k;
    return 0;
}

/* ids of one piece through the cache; returns -1 on allocation failure. */
static int encode_piece(clipc_tokenizer *t, const uint8_t *b, size_t n, idvec *v, int32_t **work, size_t *work_cap) {
    if (n == 15 && !memcmp(b, "<|startoftext|>", 15)) return idvec_add(v, &(int32_t){CLIPC_SOT}, 1);
    if (n == 13 && !memcmp(b, "<|endoftext|>", 13)) return idvec_add(v, &(int32_t){CLIPC_EOT}, 1);
    uint64_t hash = 0;
    uint32_t slot = 0;
    if (n <= CACHE_MAX_PIECE) {
        hash = fnv1a(b, n);
        pthread_mutex_lock(&t->mu);
        for (slot = (uint32_t)hash & (CACHE_SLOTS - 1); t->cache[slot]; slot = (slot + 1) & (CACHE_SLOTS - 1)) {
            cache_entry *e = t->cache[slot];
            if (e->hash == hash && e->key_len == n && !memcmp(e->key, b, n)) {
                int rc = idvec_add(v, e->ids, e->n_ids);
                pthread_mutex_unlock(&t->mu);
                return rc;
            }
        }
        pthread_mutex_unlock(&t->mu);
    }
    if (*work_cap < 10 * n) {
        free(*work);
        *work_cap = 10 * n;
        *work = malloc(*work_cap * sizeof **work);
        if (!*work) return -1;
    }
    int32_t *ids = *work + 9 * n;
    int k = bpe(t, b, (int)n, ids, *work);
    if (n <= CACHE_MAX_PIECE) {
        /* Entry: header, key bytes, then the ids at an int32-aligned offset. */
        size_t koff = (n + 3) & ~(size_t)3;
        cache_entry *e = malloc(sizeof *e + koff + (size_t)k * sizeof(int32_t));
        if (e) {
            e->hash = hash, e->key_len = (uint32_t)n, e->n_ids = (uint32_t)k;
            memcpy(e->key, b, n);
            e->ids = (int32_t *)(void *)(e->key + koff);
            memcpy(e->ids, ids, (size_t)k * sizeof *ids);
            pthread_mutex_lock(&t->mu);
            if (t->cache_n >= (int)CACHE_MAX_ENTRIES) cache_clear(t); /* bounded memory */
            for (slot = (uint32_t)hash & (CACHE_SLOTS - 1); t->cache[slot]; slot = (slot + 1) & (CACHE_SLOTS - 1)) {
                cache_entry *o = t->cache[slot];
                if (o->hash == hash && o->key_len == n && !memcmp(o->key, b, n)) break; /* raced */
            }
            if (t->cache[slot]) free(e);
            else t->cache[slot] = e, t->cache_n++;
            pthread_mutex_unlock(&t->mu);
        }
    }
    return idvec_add(v, ids, (size_t)k);
}

clipc_status clipc_tokenize(clipc_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len)) return clipc_error(CLIPC_ERR_INVALID, "clipc_tokenize: NULL argument");
    if (t->wp) return wp_tokenize(t, text, len, ids, n);
    if (len > ((size_t)1 << 28)) return clipc_error(CLIPC_ERR_RANGE, "text of %zu bytes is too long to tokenize", len);
    /* cps: the input (len), then clean's 3 * len */
    uint32_t *cps = malloc((4 * len + 1) * sizeof *cps);
    if (!cps) return clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    size_t bad = 0;
    size_t nc = utf8_decode((const uint8_t *)text, len, cps, &bad);
    if (nc == (size_t)-1) {
        free(cps);
        return clipc_error(CLIPC_ERR_INVALID, "text is not valid UTF-8 (byte %zu)", bad);
    }
    uint32_t *clean = NULL;
    size_t m = 0;
    if (text_clean(cps, nc, cps + len, &clean, &m)) {
        free(cps);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    }
    idvec v = {0};
    uint8_t *piece = NULL;
    size_t piece_cap = 0;
    int32_t *work = NULL;
    size_t work_cap = 0;
    clipc_status st = CLIPC_OK;
    for (size_t i = 0; i < m;) {
        size_t k = match_at(clean, m, i);
        if (!k) {
            i++;
            continue;
        }
        if (piece_cap < 4 * k) {
            free(piece);
            piece_cap = 4 * k < 256 ? 256 : 4 * k;
            piece = malloc(piece_cap);
        }
        size_t nb = 0;
        if (piece)
            for (size_t j = i; j < i + k; j++) nb += (size_t)utf8_put(clean[j], piece + nb);
        if (!piece || encode_piece(t, piece, nb, &v, &work, &work_cap)) {
            st = clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
            break;
        }
        i += k;
    }
    free(piece);
    free(work);
    if (clean != cps + len) free(clean);
    free(cps);
    if (st) {
        free(v.v);
        return st;
    }
    if (v.n > (size_t)INT32_MAX) {
        free(v.v);
        return clipc_error(CLIPC_ERR_RANGE, "text gives too many tokens");
    }
    *ids = v.v ? v.v : malloc(sizeof(int32_t));
    if (!*ids) return clipc_error(CLIPC_ERR_NOMEM, "out of memory tokenizing");
    *n = (int)v.n;
    return CLIPC_OK;
}

clipc_status clipc_tokenize_context(clipc_tokenizer *t, const char *text, size_t len, int ctx, int truncate,
                                    int32_t *out) {
    if (ctx < 2) return clipc_error(CLIPC_ERR_INVALID, "context length %d: must be at least 2", ctx);
    if (t && t->wp) {
        int k;
        (void)truncate;
        return wp_encode(t, text, len, out, ctx, &k);
    }
    int32_t *ids;
    int n;
    clipc_status st = clipc_tokenize(t, text, len, &ids, &n);
    if (st) return st;
    if (n > ctx - 2 && !truncate) {
        free(ids);
        return clipc_error(CLIPC_ERR_RANGE,
                           "text is %d tokens, more than the %d that fit a context of %d (use truncation)", n,
                           ctx - 2, ctx);
    }
    int k = n > ctx - 2 ? ctx - 2 : n;
    out[0] = CLIPC_SOT;
    memcpy(out + 1, ids, (size_t)k * sizeof *ids);
    out[k + 1] = CLIPC_EOT;
    memset(out + k + 2, 0, (size_t)(ctx - k - 2) * sizeof *out);
    free(ids);
    return CLIPC_OK;
}

/* -------------------------------------------------------------- decoding */

clipc_status clipc_detokenize(clipc_tokenizer *t, const int32_t *ids, int n, char **text) {
    size_t len;
    return clipc_detokenize_len(t, ids, n, text, &len);
}

clipc_status clipc_detokenize_len(clipc_tokenizer *t, const int32_t *ids, int n, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    if (!t || n < 0 || (!ids && n)) return clipc_error(CLIPC_ERR_INVALID, "clipc_detokenize: bad arguments");
    if (t->wp) return clipc_error(CLIPC_ERR_UNSUPPORTED, "detokenize: not available for a WordPiece vocabulary");
    size_t nb = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= N_VOCAB)
            return clipc_error(CLIPC_ERR_RANGE, "token id %d at position %d is not in [0, %d)", (int)ids[i], i,
                               N_VOCAB);
        nb += t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
    }
    uint8_t *raw = malloc(nb + 1);
    uint32_t *cps = malloc((nb + 1) * sizeof *cps);
    char *s = malloc(3 * nb + 1); /* U+FFFD is 3 bytes, from at least 1 byte */
    if (!raw || !cps || !s) {
        free(raw), free(cps), free(s);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory decoding %d ids", n);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t l = t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
        memcpy(raw + off, t->tok_bytes + t->tok_off[ids[i]], l);
        off += l;
    }
    /* Python: bytes.decode("utf-8", errors="replace").replace("</w>", " ") --
     * the replace comes after decoding, so it also joins "</w>" across ids. */
    size_t nc = utf8_decode_replace(raw, nb, cps), o = 0;
    for (size_t i = 0; i < nc; i++) {
        if (cps[i] == '<' && i + 3 < nc && cps[i + 1] == '/' && cps[i + 2] == 'w' && cps[i + 3] == '>') {
            s[o++] = ' ';
            i += 3;
        } else
            o += (size_t)utf8_put(cps[i], (uint8_t *)s + o);
    }
    s[o] = 0;
    free(raw);
    free(cps);
    *text = s;
    *len = o;
    return CLIPC_OK;
}
