/*
 * builder.c — the dataset builder the caption readers fill (see builder.h):
 * the warning counters, the string arena and image-name hash table, the
 * caption and pair records, the text checks and line iterator the readers
 * share, and builder_finish(), which drops duplicate captions, applies the
 * split filter and the image existence check, and lays captions out
 * contiguously per image.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <utf8proc.h>

#include "data/builder.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/hash.h"
#include "base/utf8.h"
#include "data/caption_key.h"

/* ------------------------------------------------------------ warnings */

static const char *const w_kind[W_COUNT] = {
    "malformed line", "invalid UTF-8", "empty caption", "not an image file name",
    "repaired line", "duplicate image entry", "unknown split",
    "split file lists an image with no captions", "image in two split files",
    "image in no split file", "duplicate caption", "missing image file",
    "image without captions",
};
static const char *const w_action[W_COUNT] = {
    "skipped", "skipped", "skipped", "skipped", "repaired", "merged", "kept without split",
    "ignored", "first kept", "kept without split", "skipped", "skipped", "kept as image-only",
};

/* Records one occurrence of a problem; the message is only formatted for the
 * first, so a file with 100k bad lines costs 100k increments. */
void ds_warn(builder *b, int kind, const char *file, int line, const char *fmt, ...) {
    warn_slot *w = &b->w[kind];
    if (w->count++) return;
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(w->first, sizeof w->first, "%s:%d: %s: %s", file, line, w_kind[kind], detail);
    else
        snprintf(w->first, sizeof w->first, "%s: %s: %s", file, w_kind[kind], detail);
}

/* Location of JSON entries: "file: images[i].sentences[j]". */
void ds_warn_json(builder *b, int kind, int i, int j, const char *fmt, ...) {
    warn_slot *w = &b->w[kind];
    if (w->count++) return;
    char detail[256], loc[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (j >= 0) snprintf(loc, sizeof loc, "images[%d].sentences[%d]", i, j);
    else snprintf(loc, sizeof loc, "images[%d]", i);
    snprintf(w->first, sizeof w->first, "%s: %s: %s: %s", b->path, loc, w_kind[kind], detail);
}

void builder_emit_warnings(builder *b, const clipc_dataset_opts *o) {
    if (!o || !o->warn) return;
    for (int k = 0; k < W_COUNT; k++) {
        if (!b->w[k].count) continue;
        char msg[512];
        snprintf(msg, sizeof msg, "%s (%d in all; %s)", b->w[k].first, b->w[k].count, w_action[k]);
        o->warn(msg, o->warn_ud);
    }
}

/* Short printable excerpt of untrusted text for messages. */
const char *text_excerpt(const char *s, size_t n, char *buf, size_t cap) {
    size_t m = n < cap - 4 ? n : cap - 4;
    size_t j = 0;
    for (size_t i = 0; i < m; i++) buf[j++] = (s[i] >= 32 && s[i] != 127) || (s[i] & 0x80) ? s[i] : '?';
    if (m < n) buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
    buf[j] = 0;
    return buf;
}

/* ------------------------------------------------ images and captions */

static clipc_status arena_add(clipc_dataset *ds, const char *s, size_t n, size_t *off) {
    if (ds->arena_len + n + 1 > ds->arena_cap) {
        size_t cap = ds->arena_cap ? ds->arena_cap : 4096;
        while (cap < ds->arena_len + n + 1) cap *= 2;
        char *a = realloc(ds->arena, cap);
        if (!a) return clipc_error(CLIPC_ERR_NOMEM, "out of memory for caption text");
        ds->arena = a;
        ds->arena_cap = cap;
    }
    memcpy(ds->arena + ds->arena_len, s, n);
    ds->arena[ds->arena_len + n] = 0;
    *off = ds->arena_len;
    ds->arena_len += n + 1;
    return CLIPC_OK;
}

static clipc_status hash_grow(builder *b) {
    size_t cap = b->hash_cap ? b->hash_cap * 2 : 1024;
    int *h = malloc(cap * sizeof *h);
    if (!h) return clipc_error(CLIPC_ERR_NOMEM, "out of memory for the image index");
    memset(h, 0xff, cap * sizeof *h);
    for (int i = 0; i < b->ds->n_img; i++) {
        const char *name = b->ds->arena + b->ds->img[i].path;
        size_t k = hash_bytes(name, strlen(name), HASH_FNV_OFFSET) & (cap - 1);
        while (h[k] >= 0) k = (k + 1) & (cap - 1);
        h[k] = i;
    }
    free(b->hash);
    b->hash = h;
    b->hash_cap = cap;
    return CLIPC_OK;
}

clipc_status builder_init(builder *b, clipc_dataset *ds, const char *path) {
    memset(b, 0, sizeof *b);
    b->ds = ds;
    b->path = path;
    return hash_grow(b);
}

void builder_free(builder *b) {
    free(b->hash);
    b->hash = NULL;
}

/* Index of the image called name[0..n), or -1. *slot receives the hash slot
 * where it is or would go. */
int builder_image_find(builder *b, const char *name, size_t n, size_t *slot) {
    size_t k = hash_bytes(name, n, HASH_FNV_OFFSET) & (b->hash_cap - 1);
    for (;;) {
        int i = b->hash[k];
        if (i < 0) break;
        const char *s = b->ds->arena + b->ds->img[i].path;
        if (strlen(s) == n && memcmp(s, name, n) == 0) {
            *slot = k;
            return i;
        }
        k = (k + 1) & (b->hash_cap - 1);
    }
    *slot = k;
    return -1;
}

/* Finds or adds the image called name[0..n); *idx receives its index and
 * *added whether it is new. */
clipc_status builder_image_get(builder *b, const char *name, size_t n, int line, int *idx,
                               int *added) {
    clipc_dataset *ds = b->ds;
    if ((size_t)(ds->n_img + 1) * 2 > b->hash_cap) {
        clipc_status s = hash_grow(b);
        if (s) return s;
    }
    size_t slot;
    int i = builder_image_find(b, name, n, &slot);
    if (added) *added = i < 0;
    if (i >= 0) {
        *idx = i;
        return CLIPC_OK;
    }
    if (ds->n_img == ds->img_cap) {
        int cap = ds->img_cap ? ds->img_cap * 2 : 256;
        ds_image *p = realloc(ds->img, (size_t)cap * sizeof *p);
        if (!p) return clipc_error(CLIPC_ERR_NOMEM, "out of memory for images");
        ds->img = p;
        ds->img_cap = cap;
    }
    ds_image *im = &ds->img[ds->n_img];
    memset(im, 0, sizeof *im);
    clipc_status s = arena_add(ds, name, n, &im->path);
    if (s) return s;
    im->id = ds->n_img;
    im->line = line;
    b->hash[slot] = ds->n_img;
    *idx = ds->n_img++;
    return CLIPC_OK;
}

int text_is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

void text_trim(const char **s, size_t *n) {
    while (*n && text_is_space((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && text_is_space((unsigned char)(*s)[*n - 1])) (*n)--;
}

int text_utf8_valid(const char *s, size_t n) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
        if (k <= 0) return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

/* clipc_image_path_supported() sees a C string; the readers have s[0..n).
 * Its rule only looks at the last '.' and what follows, so the last 5
 * bytes (".jpeg") decide, with NUL bytes made harmless and one more byte in
 * front when there is more; a name that is only the extension is refused
 * (the dot must not be the first byte), as the readers always did. */
int has_image_ext(const char *s, size_t n) {
    char tail[8];
    size_t k = n < 5 ? n : 5, j = 0;
    if (n > k) tail[j++] = 'x';
    for (size_t i = n - k; i < n; i++) tail[j++] = s[i] ? s[i] : '?';
    tail[j] = 0;
    const char *dot = strrchr(tail, '.');
    return dot && dot != tail && clipc_image_path_supported(tail);
}

/* Adds a caption of image `img`; empty captions are counted, not added.
 * The caller has checked UTF-8. */
clipc_status builder_caption_add(builder *b, int img, const char *text, size_t n, int line,
                                 int64_t id, const char *file) {
    clipc_dataset *ds = b->ds;
    text_trim(&text, &n);
    if (n == 0) {
        if (b->json) ds_warn_json(b, W_EMPTY, ds->img[img].line, line, "caption is empty");
        else ds_warn(b, W_EMPTY, file, line, "caption is empty");
        return CLIPC_OK;
    }
    if (ds->n_cap == ds->cap_cap) {
        int cap = ds->cap_cap ? ds->cap_cap * 2 : 1024;
        ds_caption *p = realloc(ds->cap, (size_t)cap * sizeof *p);
        if (!p) return clipc_error(CLIPC_ERR_NOMEM, "out of memory for captions");
        ds->cap = p;
        ds->cap_cap = cap;
    }
    ds_caption *c = &ds->cap[ds->n_cap];
    clipc_status s = arena_add(ds, text, n, &c->text);
    if (s) return s;
    c->image = img;
    c->line = line;
    c->id = id;
    ds->n_cap++;
    return CLIPC_OK;
}

/* A record of a line format: the image exists only through its captions,
 * so an empty caption skips the whole record. */
clipc_status builder_pair_add(builder *b, const char *name, size_t nn, const char *cap, size_t cn,
                              int line, const char *file) {
    text_trim(&cap, &cn);
    if (cn == 0) {
        ds_warn(b, W_EMPTY, file, line, "caption is empty");
        return CLIPC_OK;
    }
    int idx;
    clipc_status s = builder_image_get(b, name, nn, line, &idx, NULL);
    if (!s) s = builder_caption_add(b, idx, cap, cn, line, line, file);
    return s;
}

/* -------------------------------------------------------- text checks */

/* Refuses what is not a UTF-8 text file: UTF-16/32 (BOM), NUL bytes, and
 * (for line formats) lines over MAX_LINE bytes.  Errors name file:line. */
clipc_status text_check(const char *path, const char *buf, size_t len, int line_based) {
    const unsigned char *u = (const unsigned char *)buf;
    if (len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff)))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: UTF-16 text is not supported; convert it to UTF-8", path);
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (u[i] == 0)
            return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: NUL byte (binary file?)", path, line);
        if (u[i] == '\n') {
            line++;
            start = i + 1;
        } else if (line_based && i - start >= MAX_LINE) {
            return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: line longer than %d bytes", path, line, MAX_LINE);
        }
    }
    return CLIPC_OK;
}

void lines_init(line_iter *it, const char *buf, size_t len) {
    size_t b = utf8_bom_len(buf, len);
    it->p = buf + b;
    it->end = buf + len;
    it->line = 0;
}

/* Next line without its LF / CRLF; 0 at the end. */
int lines_next(line_iter *it, const char **s, size_t *n) {
    if (it->p >= it->end) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *e = nl ? nl : it->end;
    *s = it->p;
    *n = (size_t)(e - it->p);
    if (*n && (*s)[*n - 1] == '\r') (*n)--;
    it->p = nl ? nl + 1 : it->end;
    it->line++;
    return 1;
}

int text_is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!text_is_space((unsigned char)s[i])) return 0;
    return 1;
}

/* --------------------------------------------------------------- splits */

int split_parse(const char *s, clipc_split *out) {
    static const char *const names[] = {"train", "val", "test", "restval"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (clipc_split)(CLIPC_SPLIT_TRAIN + i);
            return 1;
        }
    return 0;
}

/* --------------------------------------------------------------- paths */

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int path_is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int path_is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------ finishing */

/* The txt file or line location of image i / caption c for messages. */
static void warn_item(builder *b, int kind, int img, int cap_line, const char *fmt, const char *arg) {
    const clipc_dataset *ds = b->ds;
    if (b->json) {
        ds_warn_json(b, kind, ds->img[img].line, cap_line, fmt, arg);
    } else if (ds->format == CLIPC_DS_FOLDER) {
        char loc[512];
        const char *p = ds->arena + ds->img[img].path;
        const char *dot = strrchr(p, '.');
        snprintf(loc, sizeof loc, "%s/%.*s.txt", b->path, (int)(dot ? dot - p : (long)strlen(p)), p);
        ds_warn(b, kind, loc, cap_line, fmt, arg);
    } else {
        ds_warn(b, kind, b->path, cap_line >= 0 ? cap_line : ds->img[img].line, fmt, arg);
    }
}

/* A split filter is one name or a comma-separated list ("val,test"); the
 * result is a bit mask over clipc_split values, 0 for all. */
static int split_mask_parse(const char *s, unsigned *mask) {
    *mask = 0;
    char name[16];
    while (*s) {
        size_t n = strcspn(s, ",");
        clipc_split sp;
        if (n == 0 || n >= sizeof name) return 0;
        memcpy(name, s, n);
        name[n] = 0;
        if (!split_parse(name, &sp)) return 0;
        *mask |= 1u << sp;
        s += n;
        if (*s == ',') s++;
    }
    return *mask != 0;
}

clipc_status builder_finish(builder *b, const clipc_dataset_opts *o) {
    clipc_dataset *ds = b->ds;
    unsigned want = 0;
    if (o && o->split && *o->split && strcmp(o->split, "all") != 0) {
        if (!split_mask_parse(o->split, &want))
            return clipc_error(CLIPC_ERR_INVALID,
                               "unknown split '%s' (train, val, test, restval, all, or a list like val,test)",
                               o->split);
        if (!b->has_splits)
            return clipc_error(CLIPC_ERR_INVALID,
                               "%s: split '%s' requested but the %s data has no split information%s",
                               b->path, o->split, clipc_dataset_format_name(ds->format),
                               ds->format == CLIPC_DS_FLICKR8K
                                   ? " (no Flickr_8k.*Images.txt beside it)" : "");
    }
    int n_img = ds->n_img, n_cap = ds->n_cap;
    int *keep_img = calloc((size_t)n_img + 1, sizeof *keep_img);
    int *count = calloc((size_t)n_img + 1, sizeof *count);
    int *order = malloc(((size_t)n_cap + 1) * sizeof *order);
    char *norm = NULL;
    uint64_t *h = malloc(((size_t)n_cap + 1) * sizeof *h);
    unsigned char *drop = calloc((size_t)n_cap + 1, 1);
    size_t maxlen = 0;
    for (int c = 0; c < n_cap; c++) {
        size_t l = strlen(ds->arena + ds->cap[c].text);
        if (l > maxlen) maxlen = l;
    }
    norm = malloc(2 * maxlen + 2);
    clipc_status s = CLIPC_OK;
    if (!keep_img || !count || !order || !h || !drop || !norm) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* 1. Group captions by image (stable counting sort: file order kept). */
    for (int c = 0; c < n_cap; c++) count[ds->cap[c].image]++;
    {
        int acc = 0;
        for (int i = 0; i < n_img; i++) {
            ds->img[i].first = acc;
            acc += count[i];
            count[i] = ds->img[i].first;
        }
        for (int c = 0; c < n_cap; c++) order[count[ds->cap[c].image]++] = c;
    }
    /* 2. Duplicate captions of one image (normalised text). */
    for (int c = 0; c < n_cap; c++) {
        const char *t = ds->arena + ds->cap[c].text;
        size_t l = caption_key(t, strlen(t), norm);
        h[c] = hash_bytes(norm, l, HASH_FNV_OFFSET);
    }
    for (int i = 0; i < n_img; i++) {
        int f = ds->img[i].first, e = i + 1 < n_img ? ds->img[i + 1].first : n_cap;
        for (int x = f + 1; x < e; x++) {
            int cx = order[x];
            for (int y = f; y < x; y++) {
                int cy = order[y];
                if (drop[cy] || h[cx] != h[cy]) continue;
                const char *tx = ds->arena + ds->cap[cx].text, *ty = ds->arena + ds->cap[cy].text;
                size_t lx = caption_key(tx, strlen(tx), norm);
                size_t ly = caption_key(ty, strlen(ty), norm + lx + 1);
                if (lx == ly && memcmp(norm, norm + lx + 1, lx) == 0) {
                    drop[cx] = 1;
                    char ex[64];
                    warn_item(b, W_DUP, i, ds->cap[cx].line, "'%s'",
                              text_excerpt(tx, strlen(tx), ex, sizeof ex));
                    break;
                }
            }
        }
    }
    /* 3. Split filter and 4. image existence. */
    for (int i = 0; i < n_img; i++) {
        keep_img[i] = want == 0 || (want >> ds->img[i].split & 1u);
        if (keep_img[i] && o && o->check_images) {
            const char *p = ds->arena + ds->img[i].path;
            size_t need = strlen(ds->root) + strlen(p) + 2;
            char *full = malloc(need);
            if (!full) {
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                goto done;
            }
            snprintf(full, need, "%s/%s", ds->root, p);
            if (!path_is_file(full)) {
                keep_img[i] = 0;
                warn_item(b, W_MISSING, i, -1, "'%s' not found", full);
            }
            free(full);
        }
    }
    /* 5. Compact: kept images in file order, their kept captions contiguous. */
    {
        int ni = 0, nc = 0;
        ds_caption *caps = malloc(((size_t)n_cap + 1) * sizeof *caps);
        if (!caps) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < n_img; i++) {
            if (!keep_img[i]) continue;
            int f = ds->img[i].first, e = i + 1 < n_img ? ds->img[i + 1].first : n_cap;
            ds_image im = ds->img[i];
            im.first = nc;
            for (int x = f; x < e; x++) {
                if (drop[order[x]]) continue;
                caps[nc] = ds->cap[order[x]];
                caps[nc].image = ni;
                nc++;
            }
            im.count = nc - im.first;
            if (!im.count) warn_item(b, W_NO_CAPTIONS, i, -1, "'%s'", ds->arena + im.path);
            ds->img[ni++] = im;
        }
        free(ds->cap);
        ds->cap = caps;
        ds->cap_cap = n_cap + 1;
        ds->n_img = ni;
        ds->n_cap = nc;
    }
done:
    free(keep_img);
    free(count);
    free(order);
    free(h);
    free(drop);
    free(norm);
    return s;
}
