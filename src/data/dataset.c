/*
 * dataset.c — the clipc_dataset handle (see clipc.h): clipc_dataset_load
 * sniffs the caption format, runs its reader (readers.h) into a builder
 * (builder.h), picks the image root and finishes; then the accessors and
 * the format and split names.
 *
 * Real caption files are dirty in known ways (a bogus Flickr8k name, a
 * Flickr30k line without its second '|', CRLF, BOMs, withheld test
 * captions), so every reader skips what it cannot use and counts it; the
 * counts go out once per kind through the caller's warn callback with the
 * first offending file:line.  Only input that is not a caption file at all
 * (binary, UTF-16, broken JSON) or that leaves nothing usable is an error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/utf8.h"
#include "data/builder.h"
#include "data/readers.h"

/* ------------------------------------------------------------- loading */

/* Content sniffing: JSON object -> Karpathy; "name#n<TAB>" -> Flickr8k;
 * "x| y| z" with an image name or image_name header -> Flickr30k; TAB -> TSV;
 * otherwise CSV. */
static clipc_dataset_format sniff(const char *buf, size_t len) {
    size_t i = utf8_bom_len(buf, len);
    while (i < len && text_is_space((unsigned char)buf[i])) i++;
    if (i < len && buf[i] == '{') return CLIPC_DS_KARPATHY;
    const char *l = buf + i;
    const char *nl = memchr(l, '\n', len - i);
    size_t n = nl ? (size_t)(nl - l) : len - i;
    const char *tab = memchr(l, '\t', n);
    if (tab) {
        const char *k = l;
        size_t kn = (size_t)(tab - l);
        text_trim(&k, &kn);
        size_t d = 0;
        while (d < kn && isdigit((unsigned char)k[kn - 1 - d])) d++;
        if (d > 0 && d < kn && k[kn - 1 - d] == '#') return CLIPC_DS_FLICKR8K;
        return CLIPC_DS_TSV;
    }
    const char *bar = memchr(l, '|', n);
    if (bar) {
        const char *f = l;
        size_t fn = (size_t)(bar - l);
        text_trim(&f, &fn);
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
        char *dir = path_dir(b->path);
        if (!dir) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        static const char *const f8[] = {"Flicker8k_Dataset", "Flickr8k_Dataset", NULL};
        static const char *const f30[] = {"flickr30k_images", NULL};
        const char *const *cands = NULL;
        if (ds->format == CLIPC_DS_FLICKR8K || strcmp(b->dataset_name, "flickr8k") == 0) cands = f8;
        if (ds->format == CLIPC_DS_FLICKR30K || strcmp(b->dataset_name, "flickr30k") == 0) cands = f30;
        for (int i = 0; cands && cands[i] && !ds->root; i++) {
            char *p = path_join(dir, cands[i]);
            if (p && path_is_dir(p)) ds->root = p;
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
        if (text_is_blank(buf + utf8_bom_len(buf, len), len - utf8_bom_len(buf, len))) {
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
    builder b;
    clipc_status s = builder_init(&b, ds, path);
    if (!s) {
        switch (fmt) {
        case CLIPC_DS_KARPATHY: s = read_karpathy(&b, buf, len); break;
        case CLIPC_DS_FLICKR8K: s = read_flickr8k(&b, buf, len); break;
        case CLIPC_DS_FLICKR30K: s = read_flickr30k(&b, buf, len); break;
        case CLIPC_DS_CSV: s = read_csv(&b, buf, len, ','); break;
        case CLIPC_DS_TSV: s = read_csv(&b, buf, len, '\t'); break;
        default: s = read_folder(&b); break;
        }
    }
    free(buf);
    int read_images = ds->n_img, read_caps = ds->n_cap;
    if (!s) s = pick_root(&b, opts);
    if (!s) s = builder_finish(&b, opts);
    if (!s || s == CLIPC_ERR_FORMAT) builder_emit_warnings(&b, opts);
    builder_free(&b);
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
