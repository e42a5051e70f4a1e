/*
 * builder.h — the in-memory dataset the caption readers fill (builder.c),
 * and the interface the readers (readers.h, read_*.c) and the loading code
 * (dataset.c) share.  Internal to src/data.
 *
 * A reader feeds (image name, caption, line) records into a builder, which
 * interns strings in one arena and maps image names to indices;
 * builder_finish() then drops duplicates, applies the split filter and the
 * image existence check, and lays captions out contiguously per image so
 * the rest of the library can use plain index ranges.
 *
 * Problems in the data are counted per kind (W_*); only the first of each
 * kind is formatted, with its file:line (or JSON location), and
 * builder_emit_warnings() sends one message per kind to the caller.
 */
#ifndef CLIPC_DATA_BUILDER_H
#define CLIPC_DATA_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"
#include "clipc_util.h"

#define MAX_LINE (1 << 20) /* longer lines mean "not a caption file" */

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

/* Kinds of problem in the data, each reported once (builder.c holds their
 * names and what was done about them). */
enum {
    W_MALFORMED, W_UTF8, W_EMPTY, W_BAD_NAME, W_REPAIRED, W_DUP_IMAGE, W_BAD_SPLIT,
    W_SPLIT_UNKNOWN, W_SPLIT_CONFLICT, W_NO_SPLIT, W_DUP, W_MISSING, W_NO_CAPTIONS, W_COUNT
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

/* A builder that fills ds (empty, calloc'ed) from the caption file or
 * folder `path`; builder_free releases what the builder itself holds (not
 * ds). */
clipc_status builder_init(builder *b, clipc_dataset *ds, const char *path);
void builder_free(builder *b);

/* Records one occurrence of a problem at file:line (line <= 0: no line);
 * the message is only formatted for the first, so a file with 100k bad
 * lines costs 100k increments. */
void ds_warn(builder *b, int kind, const char *file, int line, const char *fmt, ...)
    CLIPC_PRINTF(5, 6);
/* The same at "file: images[i].sentences[j]" (j < 0: "images[i]"). */
void ds_warn_json(builder *b, int kind, int i, int j, const char *fmt, ...) CLIPC_PRINTF(5, 6);
/* One message per kind that occurred, through o->warn. */
void builder_emit_warnings(builder *b, const clipc_dataset_opts *o);

/* Index of the image called name[0..n), or -1. *slot receives the hash slot
 * where it is or would go. */
int builder_image_find(builder *b, const char *name, size_t n, size_t *slot);
/* Finds or adds the image called name[0..n); *idx receives its index and
 * *added (when not NULL) whether it is new. */
clipc_status builder_image_get(builder *b, const char *name, size_t n, int line, int *idx,
                               int *added);
/* Adds a caption of image `img`; empty captions are counted, not added.
 * The caller has checked UTF-8. */
clipc_status builder_caption_add(builder *b, int img, const char *text, size_t n, int line,
                                 int64_t id, const char *file);
/* A record of a line format: the image exists only through its captions,
 * so an empty caption skips the whole record. */
clipc_status builder_pair_add(builder *b, const char *name, size_t nn, const char *cap, size_t cn,
                              int line, const char *file);
/* Duplicate captions, split filter (o->split), image existence
 * (o->check_images), then the contiguous per-image layout. */
clipc_status builder_finish(builder *b, const clipc_dataset_opts *o);

/* "train", "val", "test", "restval" -> *out; 0 for anything else. */
int split_parse(const char *s, clipc_split *out);

/* ---------------------------------------------------------------- text */

int text_is_space(int c);
/* Drops leading and trailing white space of s[0..*n). */
void text_trim(const char **s, size_t *n);
int text_is_blank(const char *s, size_t n);
int text_utf8_valid(const char *s, size_t n);
/* Short printable excerpt of untrusted text for messages. */
const char *text_excerpt(const char *s, size_t n, char *buf, size_t cap);
/* clipc_image_path_supported() on s[0..n), except that a name that is only
 * the extension (".jpg") is not an image name in a caption file. */
int has_image_ext(const char *s, size_t n);

/* Refuses what is not a UTF-8 text file: UTF-16/32 (BOM), NUL bytes, and
 * (for line formats) lines over MAX_LINE bytes.  Errors name file:line. */
clipc_status text_check(const char *path, const char *buf, size_t len, int line_based);

typedef struct {
    const char *p, *end;
    int line; /* number of the line last returned */
} line_iter;

/* Lines of buf[0..len), after a UTF-8 BOM if there is one. */
void lines_init(line_iter *it, const char *buf, size_t len);
/* Next line without its LF / CRLF; 0 at the end. */
int lines_next(line_iter *it, const char **s, size_t *n);

/* --------------------------------------------------------------- paths */

/* "dir/name", malloc'ed (NULL when out of memory). */
char *path_join(const char *dir, const char *name);
/* The folder part of path ("." when none), malloc'ed. */
char *path_dir(const char *path);
int path_is_dir(const char *p);
int path_is_file(const char *p);

#endif
