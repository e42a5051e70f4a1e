/*
 * dataset.c — caption dataset readers: Karpathy split JSON, Flickr8k token
 * files (+ split lists), Flickr30k results.csv, plain CSV/TSV and folders of
 * images with .txt captions, all into one in-memory form (see clipc.h).
 *
 * Real caption files are dirty in known ways (a bogus Flickr8k name, a
 * Flickr30k line without its second '|', CRLF, BOMs, withheld test
 * captions), so every reader skips what it cannot use and counts it; the
 * counts go out once per kind through the caller's warn callback with the
 * first offending file:line.  Only input that is not a caption file at all
 * (binary, UTF-16, broken JSON) or that leaves nothing usable is an error.
 *
 * Loading runs in two phases.  A reader feeds (image name, caption, line)
 * records into a builder, which interns strings in one arena and maps image
 * names to indices; finish() then drops duplicates, applies the split filter
 * and the image existence check, and lays captions out contiguously per
 * image so the rest of the library can use plain index ranges.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <utf8proc.h>

#include "data/dataset.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/csv.h"
#include "base/utf8.h"

#define MAX_LINE (1 << 20) /* longer lines mean "not a caption file" */
#define MAX_DEPTH 32       /* folder recursion; guards against symlink loops */

typedef struct {
    size_t path;   /* arena offset of the path relative to the root */
    int64_t id;
    int line;      /* where first seen: line number, or JSON images[] index */
    int split;     /* clipc_split */
    int split_set; /* Flickr8k: assigned by a split file */
    int first, count;
} ds_image;

typedef struct {
    size_t text;   /* arena offset */
    int image;
    int line;      /* line number, or JSON sentences[] index */
    int64_t id;
} ds_caption;

struct clipc_dataset {
    clipc_dataset_format format;
    char *root;
    char *arena;
    size_t arena_len, arena_cap;
    ds_image *img;
    int n_img, img_cap;
    ds_caption *cap;
    int n_cap, cap_cap;
};

/* ------------------------------------------------------------ warnings */

enum {
    W_MALFORMED, W_UTF8, W_EMPTY, W_BAD_NAME, W_REPAIRED, W_DUP_IMAGE, W_BAD_SPLIT,
    W_SPLIT_UNKNOWN, W_SPLIT_CONFLICT, W_NO_SPLIT, W_DUP, W_MISSING, W_NO_CAPTIONS, W_COUNT
};

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

typedef struct {
    int count;
    char first[400]; /* "<loc>: <kind>: <detail>" of the first occurrence */
} warn_slot;

/* ------------------------------------------------------------- builder */

typedef struct {
    clipc_dataset *ds;
    const char *path;     /* the caption file or folder */
    int json;             /* locations are images[i] / sentences[j] */
    int has_splits;       /* the data says which split each image is in */
    char dataset_name[32];/* Karpathy "dataset" value */
    int *hash;            /* image name -> index, open addressing, -1 = empty */
    size_t hash_cap;
    warn_slot w[W_COUNT];
} builder;

/* Records one occurrence of a problem; the message is only formatted for the
 * first, so a file with 100k bad lines costs 100k increments. */
static void warn_at(builder *b, int kind, const char *file, int line, const char *fmt, ...)
    CLIPC_PRINTF(5, 6);
static void warn_at(builder *b, int kind, const char *file, int line, const char *fmt, ...) {
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
static void warn_json(builder *b, int kind, int i, int j, const char *fmt, ...) CLIPC_PRINTF(5, 6);
static void warn_json(builder *b, int kind, int i, int j, const char *fmt, ...) {
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

static void emit_warnings(builder *b, const clipc_dataset_opts *o) {
    if (!o || !o->warn) return;
    for (int k = 0; k < W_COUNT; k++) {
        if (!b->w[k].count) continue;
        char msg[512];
        snprintf(msg, sizeof msg, "%s (%d in all; %s)", b->w[k].first, b->w[k].count, w_action[k]);
        o->warn(msg, o->warn_ud);
    }
}

/* Short printable excerpt of untrusted text for messages. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t cap) {
    size_t m = n < cap - 4 ? n : cap - 4;
    size_t j = 0;
    for (size_t i = 0; i < m; i++) buf[j++] = (s[i] >= 32 && s[i] != 127) || (s[i] & 0x80) ? s[i] : '?';
    if (m < n) buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
    buf[j] = 0;
    return buf;
}

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

uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
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

/* Index of the image called name[0..n), or -1. *slot receives the hash slot
 * where it is or would go. */
static int image_find(builder *b, const char *name, size_t n, size_t *slot) {
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
static clipc_status image_get(builder *b, const char *name, size_t n, int line, int *idx,
                              int *added) {
    clipc_dataset *ds = b->ds;
    if ((size_t)(ds->n_img + 1) * 2 > b->hash_cap) {
        clipc_status s = hash_grow(b);
        if (s) return s;
    }
    size_t slot;
    int i = image_find(b, name, n, &slot);
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

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static void trim(const char **s, size_t *n) {
    while (*n && is_space((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && is_space((unsigned char)(*s)[*n - 1])) (*n)--;
}

static int utf8_valid(const char *s, size_t n) {
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

static int has_image_ext(const char *s, size_t n) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png"};
    for (int i = 0; i < 3; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && strncasecmp(s + n - m, ext[i], m) == 0) return 1;
    }
    return 0;
}

/* Adds a caption of image `img`; empty captions are counted, not added.
 * The caller has checked UTF-8. */
static clipc_status caption_add(builder *b, int img, const char *text, size_t n, int line,
                                int64_t id, const char *file) {
    clipc_dataset *ds = b->ds;
    trim(&text, &n);
    if (n == 0) {
        if (b->json) warn_json(b, W_EMPTY, ds->img[img].line, line, "caption is empty");
        else warn_at(b, W_EMPTY, file, line, "caption is empty");
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
static clipc_status pair_add(builder *b, const char *name, size_t nn, const char *cap, size_t cn,
                             int line, const char *file) {
    trim(&cap, &cn);
    if (cn == 0) {
        warn_at(b, W_EMPTY, file, line, "caption is empty");
        return CLIPC_OK;
    }
    int idx;
    clipc_status s = image_get(b, name, nn, line, &idx, NULL);
    if (!s) s = caption_add(b, idx, cap, cn, line, line, file);
    return s;
}

/* -------------------------------------------------------- text checks */

/* Refuses what is not a UTF-8 text file: UTF-16/32 (BOM), NUL bytes, and
 * (for line formats) lines over MAX_LINE bytes.  Errors name file:line. */
static clipc_status check_text(const char *path, const char *buf, size_t len, int line_based) {
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

typedef struct {
    const char *p, *end;
    int line; /* number of the line last returned */
} line_iter;

static void lines_init(line_iter *it, const char *buf, size_t len) {
    size_t b = utf8_bom_len(buf, len);
    it->p = buf + b;
    it->end = buf + len;
    it->line = 0;
}

/* Next line without its LF / CRLF; 0 at the end. */
static int lines_next(line_iter *it, const char **s, size_t *n) {
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

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_space((unsigned char)s[i])) return 0;
    return 1;
}

/* ------------------------------------------------------ Karpathy JSON */

static int split_parse(const char *s, clipc_split *out) {
    static const char *const names[] = {"train", "val", "test", "restval"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (clipc_split)(CLIPC_SPLIT_TRAIN + i);
            return 1;
        }
    return 0;
}

static clipc_status read_karpathy(builder *b, const char *buf, size_t len) {
    const char *path = b->path;
    clipc_status s = check_text(path, buf, len, 0);
    if (s) return s;
    size_t bom = utf8_bom_len(buf, len);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf + bom, len - bom, &end, 0);
    if (!root) {
        size_t off = end && end >= buf + bom ? (size_t)(end - buf) : 0;
        int line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += buf[i] == '\n';
        return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: invalid JSON near byte %zu", path, line, off);
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(images)) {
        cJSON_Delete(root);
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: no \"images\" array at the top level (not a Karpathy split JSON)", path);
    }
    const cJSON *dsname = cJSON_GetObjectItemCaseSensitive(root, "dataset");
    if (cJSON_IsString(dsname))
        snprintf(b->dataset_name, sizeof b->dataset_name, "%s", dsname->valuestring);
    b->json = 1;
    b->has_splits = 1;
    int i = -1;
    const cJSON *im;
    char ex[64];
    cJSON_ArrayForEach(im, images) {
        i++;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(im, "filename");
        if (!cJSON_IsObject(im) || !cJSON_IsString(fn) || !fn->valuestring[0]) {
            warn_json(b, W_MALFORMED, i, -1, "no \"filename\" string");
            continue;
        }
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(im, "filepath");
        const char *dir = cJSON_IsString(fp) && fp->valuestring[0] ? fp->valuestring : NULL;
        char *name = NULL;
        size_t nlen = strlen(fn->valuestring) + (dir ? strlen(dir) + 1 : 0);
        name = malloc(nlen + 1);
        if (!name) {
            cJSON_Delete(root);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        }
        if (dir) snprintf(name, nlen + 1, "%s/%s", dir, fn->valuestring);
        else memcpy(name, fn->valuestring, nlen + 1);
        if (!utf8_valid(name, nlen)) {
            warn_json(b, W_UTF8, i, -1, "file name is not valid UTF-8");
            free(name);
            continue;
        }
        int idx, added;
        s = image_get(b, name, nlen, i, &idx, &added);
        free(name);
        if (s) break;
        ds_image *di = &b->ds->img[idx];
        if (!added) {
            warn_json(b, W_DUP_IMAGE, i, -1, "'%s' already listed at images[%d]",
                      excerpt(fn->valuestring, strlen(fn->valuestring), ex, sizeof ex), di->line);
        } else {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(im, "imgid");
            di->id = i;
            if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < 9.0e15 &&
                id->valuedouble == (double)(int64_t)id->valuedouble)
                di->id = (int64_t)id->valuedouble;
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(im, "split");
            clipc_split spl = CLIPC_SPLIT_NONE;
            if (cJSON_IsString(sp) && !split_parse(sp->valuestring, &spl))
                warn_json(b, W_BAD_SPLIT, i, -1, "'%s'",
                          excerpt(sp->valuestring, strlen(sp->valuestring), ex, sizeof ex));
            di->split = (int)spl;
        }
        const cJSON *sents = cJSON_GetObjectItemCaseSensitive(im, "sentences");
        if (!sents) continue;
        if (!cJSON_IsArray(sents)) {
            warn_json(b, W_MALFORMED, i, -1, "\"sentences\" is not an array");
            continue;
        }
        int j = -1;
        const cJSON *se;
        cJSON_ArrayForEach(se, sents) {
            j++;
            const cJSON *raw = cJSON_GetObjectItemCaseSensitive(se, "raw");
            if (!cJSON_IsString(raw)) {
                warn_json(b, W_MALFORMED, i, j, "no \"raw\" string");
                continue;
            }
            size_t rl = strlen(raw->valuestring);
            if (!utf8_valid(raw->valuestring, rl)) {
                warn_json(b, W_UTF8, i, j, "caption is not valid UTF-8");
                continue;
            }
            const cJSON *sid = cJSON_GetObjectItemCaseSensitive(se, "sentid");
            int64_t cid = -1;
            if (cJSON_IsNumber(sid) && sid->valuedouble >= 0 && sid->valuedouble < 9.0e15)
                cid = (int64_t)sid->valuedouble;
            s = caption_add(b, idx, raw->valuestring, rl, j, cid, path);
            if (s) break;
        }
        if (s) break;
    }
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------ Flickr8k */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads Flickr_8k.{train,dev,test}Images.txt from the token file's folder
 * and assigns splits; images not listed keep CLIPC_SPLIT_NONE. */
static clipc_status read_flickr8k_splits(builder *b) {
    static const char *const files[3] = {"Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt",
                                          "Flickr_8k.testImages.txt"};
    static const clipc_split splits[3] = {CLIPC_SPLIT_TRAIN, CLIPC_SPLIT_VAL, CLIPC_SPLIT_TEST};
    char *dir = dir_of(b->path);
    if (!dir) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = CLIPC_OK;
    char ex[64];
    for (int f = 0; f < 3 && !s; f++) {
        char *p = path_join(dir, files[f]);
        if (!p) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        if (!is_file(p)) {
            free(p);
            continue;
        }
        char *buf;
        size_t len;
        s = clipc_read_file(p, &buf, &len);
        if (!s) s = check_text(p, buf, len, 1);
        if (s) {
            if (buf) free(buf);
            free(p);
            break;
        }
        b->has_splits = 1;
        line_iter it;
        lines_init(&it, buf, len);
        const char *l;
        size_t n;
        while (lines_next(&it, &l, &n)) {
            trim(&l, &n);
            if (!n) continue;
            size_t slot;
            int i = image_find(b, l, n, &slot);
            if (i < 0) {
                warn_at(b, W_SPLIT_UNKNOWN, p, it.line, "'%s'", excerpt(l, n, ex, sizeof ex));
            } else if (b->ds->img[i].split_set && b->ds->img[i].split != (int)splits[f]) {
                warn_at(b, W_SPLIT_CONFLICT, p, it.line, "'%s' is also in the %s list",
                        excerpt(l, n, ex, sizeof ex), clipc_split_name((clipc_split)b->ds->img[i].split));
            } else {
                b->ds->img[i].split = (int)splits[f];
                b->ds->img[i].split_set = 1;
            }
        }
        free(buf);
        free(p);
    }
    free(dir);
    if (!s && b->has_splits)
        for (int i = 0; i < b->ds->n_img; i++)
            if (!b->ds->img[i].split_set)
                warn_at(b, W_NO_SPLIT, b->path, b->ds->img[i].line, "'%s'",
                        b->ds->arena + b->ds->img[i].path);
    return s;
}

static clipc_status read_flickr8k(builder *b, const char *buf, size_t len) {
    clipc_status s = check_text(b->path, buf, len, 1);
    if (s) return s;
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    char ex[64];
    while (lines_next(&it, &l, &n)) {
        if (is_blank(l, n)) continue;
        if (!utf8_valid(l, n)) {
            warn_at(b, W_UTF8, b->path, it.line, "line is not valid UTF-8");
            continue;
        }
        const char *tab = memchr(l, '\t', n);
        if (!tab) {
            warn_at(b, W_MALFORMED, b->path, it.line, "no TAB between 'name#n' and the caption");
            continue;
        }
        const char *key = l;
        size_t kn = (size_t)(tab - l);
        trim(&key, &kn);
        const char *hash = NULL;
        for (size_t i = kn; i-- > 0;)
            if (key[i] == '#') {
                hash = key + i;
                break;
            }
        size_t digits = hash ? kn - (size_t)(hash - key) - 1 : 0;
        int ok = hash && hash > key && digits > 0 && digits < 10;
        for (size_t i = 0; ok && i < digits; i++) ok = isdigit((unsigned char)hash[1 + i]);
        if (!ok) {
            warn_at(b, W_MALFORMED, b->path, it.line, "key '%s' is not 'name#n'",
                    excerpt(key, kn, ex, sizeof ex));
            continue;
        }
        const char *name = key;
        size_t nn = (size_t)(hash - key);
        trim(&name, &nn);
        if (!has_image_ext(name, nn)) {
            warn_at(b, W_BAD_NAME, b->path, it.line, "'%s'", excerpt(name, nn, ex, sizeof ex));
            continue;
        }
        s = pair_add(b, name, nn, tab + 1, n - (size_t)(tab + 1 - l), it.line, b->path);
        if (s) return s;
    }
    return read_flickr8k_splits(b);
}

/* ----------------------------------------------------------- Flickr30k */

/* Parses a comment number "0".."4" (surrounding white space allowed). */
static int parse_comment_number(const char *s, size_t n) {
    trim(&s, &n);
    if (n != 1 || s[0] < '0' || s[0] > '4') return -1;
    return s[0] - '0';
}

static clipc_status read_flickr30k(builder *b, const char *buf, size_t len) {
    clipc_status s = check_text(b->path, buf, len, 1);
    if (s) return s;
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    char ex[64];
    int seen_first = 0;
    while (lines_next(&it, &l, &n)) {
        if (is_blank(l, n)) continue;
        if (!utf8_valid(l, n)) {
            warn_at(b, W_UTF8, b->path, it.line, "line is not valid UTF-8");
            continue;
        }
        const char *p1 = memchr(l, '|', n);
        if (!seen_first) {
            seen_first = 1;
            const char *f = l;
            size_t fn = p1 ? (size_t)(p1 - l) : n;
            trim(&f, &fn);
            if (fn == 10 && strncasecmp(f, "image_name", 10) == 0) continue; /* header */
        }
        if (!p1) {
            warn_at(b, W_MALFORMED, b->path, it.line, "no '|' separator");
            continue;
        }
        const char *name = l;
        size_t nn = (size_t)(p1 - l);
        trim(&name, &nn);
        const char *rest = p1 + 1;
        size_t rn = n - (size_t)(rest - l);
        /* Split at the first two '|' only: the caption is everything after
         * the second and may itself contain '|'. */
        const char *p2 = memchr(rest, '|', rn);
        const char *cap;
        size_t cn;
        int num;
        if (p2) {
            num = parse_comment_number(rest, (size_t)(p2 - rest));
            if (num < 0) {
                const char *t = rest;
                size_t tn = (size_t)(p2 - rest);
                trim(&t, &tn);
                warn_at(b, W_MALFORMED, b->path, it.line, "comment number '%s' is not an integer 0..4",
                        excerpt(t, tn, ex, sizeof ex));
                continue;
            }
            cap = p2 + 1;
            cn = n - (size_t)(cap - l);
        } else {
            /* The known broken line "2199200615.jpg| 4   A dog runs ..." lost
             * its second '|': accept "<digit><white space><caption>". */
            const char *t = rest;
            size_t tn = rn;
            trim(&t, &tn);
            if (tn >= 3 && t[0] >= '0' && t[0] <= '4' && is_space((unsigned char)t[1])) {
                num = t[0] - '0';
                cap = t + 1;
                cn = tn - 1;
                warn_at(b, W_REPAIRED, b->path, it.line,
                        "no '|' after the comment number; read as number %d + caption", num);
            } else {
                warn_at(b, W_MALFORMED, b->path, it.line,
                        "expected 'image| number| caption' (only one '|')");
                continue;
            }
        }
        (void)num;
        if (!has_image_ext(name, nn)) {
            warn_at(b, W_BAD_NAME, b->path, it.line, "'%s'", excerpt(name, nn, ex, sizeof ex));
            continue;
        }
        s = pair_add(b, name, nn, cap, cn, it.line, b->path);
        if (s) return s;
    }
    return CLIPC_OK;
}

/* ------------------------------------------------------------ CSV / TSV */

static int name_in(const char *s, const char *const *names) {
    const char *t = s;
    size_t n = strlen(s);
    trim(&t, &n);
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(t, names[i], n) == 0) return 1;
    return 0;
}

static clipc_status read_csv(builder *b, const char *buf, size_t len, char delim) {
    static const char *const img_names[] = {"image", "images", "image_name", "image_path", "img",
                                            "img_path", "filename", "file_name", "file", "path",
                                            "filepath", NULL};
    static const char *const cap_names[] = {"caption", "captions", "text", "comment", "sentence",
                                            "raw", "title", NULL};
    clipc_status s = check_text(b->path, buf, len, 1);
    if (s) return s;
    size_t bom = utf8_bom_len(buf, len);
    const char *p = buf + bom, *end = buf + len;
    csv_record r = {0};
    int line = 1, first = 1, img_col = 0, cap_col = 1, n_fields = 2;
    for (;;) {
        int start = line;
        const char *bad;
        int got = csv_next(&p, end, delim, &r, &line, &bad);
        if (got < 0) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory reading %s", b->path);
            break;
        }
        if (got == 0) break;
        if (r.n == 1 && is_blank(r.buf, strlen(r.buf))) continue; /* empty line */
        if (bad) {
            warn_at(b, W_MALFORMED, b->path, start, "%s", bad);
            continue;
        }
        if (first) {
            first = 0;
            int hi = -1, hc = -1;
            for (int f = 0; f < r.n; f++) {
                if (hi < 0 && name_in(r.buf + r.off[f], img_names)) hi = f;
                else if (hc < 0 && name_in(r.buf + r.off[f], cap_names)) hc = f;
            }
            if (hi >= 0 && hc >= 0) {
                img_col = hi, cap_col = hc, n_fields = r.n;
                continue;
            }
            if (hi == 0 && r.n == 2) continue; /* "image,<something>" header */
        }
        if (r.n != n_fields) {
            warn_at(b, W_MALFORMED, b->path, start,
                    "%d fields where %d are expected (quote captions that contain '%s')", r.n,
                    n_fields, delim == '\t' ? "\\t" : ",");
            continue;
        }
        const char *name = r.buf + r.off[img_col], *cap = r.buf + r.off[cap_col];
        size_t nn = strlen(name), cn = strlen(cap);
        if (!utf8_valid(name, nn) || !utf8_valid(cap, cn)) {
            warn_at(b, W_UTF8, b->path, start, "field is not valid UTF-8");
            continue;
        }
        trim(&name, &nn);
        if (!nn) {
            warn_at(b, W_MALFORMED, b->path, start, "empty image name");
            continue;
        }
        s = pair_add(b, name, nn, cap, cn, start, b->path);
        if (s) break;
    }
    csv_record_free(&r);
    return s;
}

/* --------------------------------------------------------------- folder */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static clipc_status read_caption_txt(builder *b, int idx, const char *txt) {
    char *buf;
    size_t len;
    clipc_status s = clipc_read_file(txt, &buf, &len);
    if (s) return s;
    s = check_text(txt, buf, len, 1);
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    while (!s && lines_next(&it, &l, &n)) {
        if (is_blank(l, n)) continue;
        if (!utf8_valid(l, n)) {
            warn_at(b, W_UTF8, txt, it.line, "line is not valid UTF-8");
            continue;
        }
        s = caption_add(b, idx, l, n, it.line, it.line, txt);
    }
    free(buf);
    return s;
}

/* Walks dir (= root/rel) in sorted order. */
static clipc_status walk(builder *b, const char *root, const char *rel, int depth) {
    if (depth > MAX_DEPTH)
        return clipc_error(CLIPC_ERR_FORMAT, "%s/%s: folders nested deeper than %d (symlink loop?)",
                           root, rel, MAX_DEPTH);
    char *dir = rel[0] ? path_join(root, rel) : strdup(root);
    if (!dir) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
        free(dir);
        return s;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    clipc_status s = CLIPC_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ., .., hidden files */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!s && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !s; i++) {
        char *full = path_join(dir, names[i]);
        char *r = rel[0] ? path_join(rel, names[i]) : strdup(names[i]);
        if (!full || !r) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        } else {
            struct stat st;
            int ok = stat(full, &st) == 0; /* dangling symlinks are skipped */
            if (ok && S_ISDIR(st.st_mode)) {
                s = walk(b, root, r, depth + 1);
            } else if (ok && S_ISREG(st.st_mode) && has_image_ext(names[i], strlen(names[i]))) {
                int idx;
                s = image_get(b, r, strlen(r), 0, &idx, NULL);
                /* foo.jpg -> foo.txt */
                char *dot = strrchr(full, '.');
                if (!s && strlen(dot) >= 4) {
                    memcpy(dot, ".txt", 5);
                    if (is_file(full)) s = read_caption_txt(b, idx, full);
                }
            }
        }
        free(full);
        free(r);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dir);
    return s;
}

/* ----------------------------------------------------------- finishing */

size_t caption_key(const char *s, size_t n, char *out) {
    size_t j = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space(c)) {
            space = j > 0;
            continue;
        }
        if (space) out[j++] = ' ';
        space = 0;
        out[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[j] = 0;
    return j;
}

/* The txt file or line location of image i / caption c for messages. */
static void warn_item(builder *b, int kind, int img, int cap_line, const char *fmt, const char *arg) {
    const clipc_dataset *ds = b->ds;
    if (b->json) {
        warn_json(b, kind, ds->img[img].line, cap_line, fmt, arg);
    } else if (ds->format == CLIPC_DS_FOLDER) {
        char loc[512];
        const char *p = ds->arena + ds->img[img].path;
        const char *dot = strrchr(p, '.');
        snprintf(loc, sizeof loc, "%s/%.*s.txt", b->path, (int)(dot ? dot - p : (long)strlen(p)), p);
        warn_at(b, kind, loc, cap_line, fmt, arg);
    } else {
        warn_at(b, kind, b->path, cap_line >= 0 ? cap_line : ds->img[img].line, fmt, arg);
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

static clipc_status finish(builder *b, const clipc_dataset_opts *o) {
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
                              excerpt(tx, strlen(tx), ex, sizeof ex));
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
            if (!is_file(full)) {
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

/* ------------------------------------------------------------- loading */

/* Content sniffing: JSON object -> Karpathy; "name#n<TAB>" -> Flickr8k;
 * "x| y| z" with an image name or image_name header -> Flickr30k; TAB -> TSV;
 * otherwise CSV. */
static clipc_dataset_format sniff(const char *buf, size_t len) {
    size_t i = utf8_bom_len(buf, len);
    while (i < len && is_space((unsigned char)buf[i])) i++;
    if (i < len && buf[i] == '{') return CLIPC_DS_KARPATHY;
    const char *l = buf + i;
    const char *nl = memchr(l, '\n', len - i);
    size_t n = nl ? (size_t)(nl - l) : len - i;
    const char *tab = memchr(l, '\t', n);
    if (tab) {
        const char *k = l;
        size_t kn = (size_t)(tab - l);
        trim(&k, &kn);
        size_t d = 0;
        while (d < kn && isdigit((unsigned char)k[kn - 1 - d])) d++;
        if (d > 0 && d < kn && k[kn - 1 - d] == '#') return CLIPC_DS_FLICKR8K;
        return CLIPC_DS_TSV;
    }
    const char *bar = memchr(l, '|', n);
    if (bar) {
        const char *f = l;
        size_t fn = (size_t)(bar - l);
        trim(&f, &fn);
        if ((fn == 10 && strncasecmp(f, "image_name", 10) == 0) || has_image_ext(f, fn))
            return CLIPC_DS_FLICKR30K;
    }
    return CLIPC_DS_CSV;
}

static clipc_status pick_root(builder *b, const clipc_dataset_opts *o) {
    clipc_dataset *ds = b->ds;
    if (o && o->image_root) {
        ds->root = strdup(o->image_root);
    } else if (ds->format == CLIPC_DS_FOLDER) {
        ds->root = strdup(b->path);
    } else {
        char *dir = dir_of(b->path);
        if (!dir) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        static const char *const f8[] = {"Flicker8k_Dataset", "Flickr8k_Dataset", NULL};
        static const char *const f30[] = {"flickr30k_images", NULL};
        const char *const *cands = NULL;
        if (ds->format == CLIPC_DS_FLICKR8K || strcmp(b->dataset_name, "flickr8k") == 0) cands = f8;
        if (ds->format == CLIPC_DS_FLICKR30K || strcmp(b->dataset_name, "flickr30k") == 0) cands = f30;
        for (int i = 0; cands && cands[i] && !ds->root; i++) {
            char *p = path_join(dir, cands[i]);
            if (p && is_dir(p)) ds->root = p;
            else free(p);
        }
        if (!ds->root) ds->root = dir;
        else free(dir);
    }
    return ds->root ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
}

clipc_status clipc_dataset_load(const char *path, const clipc_dataset_opts *opts,
                                clipc_dataset **out) {
    *out = NULL;
    if (!path || !*path) return clipc_error(CLIPC_ERR_INVALID, "dataset path is empty");
    clipc_dataset_format fmt = opts ? opts->format : CLIPC_DS_AUTO;
    if ((int)fmt < CLIPC_DS_AUTO || (int)fmt > CLIPC_DS_FOLDER)
        return clipc_error(CLIPC_ERR_INVALID, "unknown dataset format %d", (int)fmt);
    struct stat st;
    if (stat(path, &st) != 0)
        return clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int folder = S_ISDIR(st.st_mode);
    if (folder && fmt != CLIPC_DS_AUTO && fmt != CLIPC_DS_FOLDER)
        return clipc_error(CLIPC_ERR_INVALID, "%s: is a folder, not a %s caption file", path,
                           clipc_dataset_format_name(fmt));
    if (!folder && fmt == CLIPC_DS_FOLDER)
        return clipc_error(CLIPC_ERR_INVALID, "%s: format 'folder' needs a folder", path);
    char *buf = NULL;
    size_t len = 0;
    if (!folder) {
        clipc_status s = clipc_read_file(path, &buf, &len);
        if (s) return s;
        if (is_blank(buf + utf8_bom_len(buf, len), len - utf8_bom_len(buf, len))) {
            free(buf);
            return clipc_error(CLIPC_ERR_FORMAT, "%s: empty file", path);
        }
        if (fmt == CLIPC_DS_AUTO) fmt = sniff(buf, len);
    } else {
        fmt = CLIPC_DS_FOLDER;
    }
    clipc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        free(buf);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    ds->format = fmt;
    builder b = {0};
    b.ds = ds;
    b.path = path;
    clipc_status s = hash_grow(&b);
    if (!s) {
        switch (fmt) {
        case CLIPC_DS_KARPATHY: s = read_karpathy(&b, buf, len); break;
        case CLIPC_DS_FLICKR8K: s = read_flickr8k(&b, buf, len); break;
        case CLIPC_DS_FLICKR30K: s = read_flickr30k(&b, buf, len); break;
        case CLIPC_DS_CSV: s = read_csv(&b, buf, len, ','); break;
        case CLIPC_DS_TSV: s = read_csv(&b, buf, len, '\t'); break;
        default: s = walk(&b, path, "", 0); break;
        }
    }
    free(buf);
    int read_images = ds->n_img, read_caps = ds->n_cap;
    if (!s) s = pick_root(&b, opts);
    if (!s) s = finish(&b, opts);
    if (!s || s == CLIPC_ERR_FORMAT) emit_warnings(&b, opts);
    free(b.hash);
    if (!s && ds->n_img == 0) {
        if (opts && opts->split && *opts->split && strcmp(opts->split, "all") != 0)
            s = clipc_error(CLIPC_ERR_FORMAT,
                            "%s: nothing usable: no image of split '%s' left (%d images, %d captions read)",
                            path, opts->split, read_images, read_caps);
        else
            s = clipc_error(CLIPC_ERR_FORMAT,
                            "%s: nothing usable: no image left (%d images, %d captions read)", path,
                            read_images, read_caps);
    }
    if (s) {
        clipc_dataset_free(ds);
        return s;
    }
    *out = ds;
    return CLIPC_OK;
}

void clipc_dataset_free(clipc_dataset *ds) {
    if (!ds) return;
    free(ds->root);
    free(ds->arena);
    free(ds->img);
    free(ds->cap);
    free(ds);
}

/* ----------------------------------------------------------- accessors */

static const char *const fmt_names[] = {"auto", "karpathy", "flickr8k", "flickr30k",
                                        "csv", "tsv", "folder"};

clipc_dataset_format clipc_dataset_get_format(const clipc_dataset *ds) { return ds->format; }

const char *clipc_dataset_format_name(clipc_dataset_format f) {
    return (int)f >= 0 && (int)f <= CLIPC_DS_FOLDER ? fmt_names[f] : "?";
}

clipc_status clipc_dataset_format_parse(const char *name, clipc_dataset_format *f) {
    for (int i = 0; i <= CLIPC_DS_FOLDER; i++)
        if (name && strcmp(name, fmt_names[i]) == 0) {
            *f = (clipc_dataset_format)i;
            return CLIPC_OK;
        }
    return clipc_error(CLIPC_ERR_INVALID,
                       "unknown dataset format '%s' (auto, karpathy, flickr8k, flickr30k, csv, tsv, folder)",
                       name ? name : "(null)");
}

const char *clipc_split_name(clipc_split s) {
    static const char *const n[] = {"", "train", "val", "test", "restval"};
    return (int)s >= 0 && (int)s <= CLIPC_SPLIT_RESTVAL ? n[s] : "?";
}

int clipc_dataset_n_images(const clipc_dataset *ds) { return ds->n_img; }
int clipc_dataset_n_captions(const clipc_dataset *ds) { return ds->n_cap; }
const char *clipc_dataset_image_root(const clipc_dataset *ds) { return ds->root; }

const char *clipc_dataset_image_path(const clipc_dataset *ds, int i) {
    return i >= 0 && i < ds->n_img ? ds->arena + ds->img[i].path : NULL;
}

int clipc_dataset_image_fullpath(const clipc_dataset *ds, int i, char *buf, size_t cap) {
    const char *p = clipc_dataset_image_path(ds, i);
    if (!p) {
        if (cap) buf[0] = 0;
        return -1;
    }
    return snprintf(buf, cap, "%s/%s", ds->root, p);
}

clipc_split clipc_dataset_image_split(const clipc_dataset *ds, int i) {
    return i >= 0 && i < ds->n_img ? (clipc_split)ds->img[i].split : CLIPC_SPLIT_NONE;
}

int64_t clipc_dataset_image_id(const clipc_dataset *ds, int i) {
    return i >= 0 && i < ds->n_img ? ds->img[i].id : -1;
}

int clipc_dataset_image_captions(const clipc_dataset *ds, int i, int *first) {
    if (i < 0 || i >= ds->n_img) {
        if (first) *first = 0;
        return 0;
    }
    if (first) *first = ds->img[i].first;
    return ds->img[i].count;
}

const char *clipc_dataset_caption(const clipc_dataset *ds, int c) {
    return c >= 0 && c < ds->n_cap ? ds->arena + ds->cap[c].text : NULL;
}

int clipc_dataset_caption_image(const clipc_dataset *ds, int c) {
    return c >= 0 && c < ds->n_cap ? ds->cap[c].image : -1;
}

int64_t clipc_dataset_caption_id(const clipc_dataset *ds, int c) {
    return c >= 0 && c < ds->n_cap ? ds->cap[c].id : -1;
}
