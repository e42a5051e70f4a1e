/*
 * read_flickr8k.c — the Flickr8k reader (readers.h): Flickr8k.token.txt
 * lines "name.jpg#n<TAB>caption", then the split lists
 * Flickr_8k.{train,dev,test}Images.txt from the same folder when they are
 * there.  The real file has a bogus name (not an image file name), which is
 * counted and skipped.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "clipc.h"
#include "clipc_util.h"

/* Reads Flickr_8k.{train,dev,test}Images.txt from the token file's folder
 * and assigns splits; images not listed keep CLIPC_SPLIT_NONE. */
static clipc_status read_flickr8k_splits(builder *b) {
    static const char *const files[3] = {"Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt",
                                          "Flickr_8k.testImages.txt"};
    static const clipc_split splits[3] = {CLIPC_SPLIT_TRAIN, CLIPC_SPLIT_VAL, CLIPC_SPLIT_TEST};
    char *dir = path_dir(b->path);
    if (!dir) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = CLIPC_OK;
    char ex[64];
    for (int f = 0; f < 3 && !s; f++) {
        char *p = path_join(dir, files[f]);
        if (!p) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        if (!path_is_file(p)) {
            free(p);
            continue;
        }
        char *buf;
        size_t len;
        s = clipc_read_file(p, &buf, &len);
        if (!s) s = text_check(p, buf, len, 1);
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
            text_trim(&l, &n);
            if (!n) continue;
            size_t slot;
            int i = builder_image_find(b, l, n, &slot);
            if (i < 0) {
                ds_warn(b, W_SPLIT_UNKNOWN, p, it.line, "'%s'", text_excerpt(l, n, ex, sizeof ex));
            } else if (b->ds->img[i].split_set && b->ds->img[i].split != (int)splits[f]) {
                ds_warn(b, W_SPLIT_CONFLICT, p, it.line, "'%s' is also in the %s list",
                        text_excerpt(l, n, ex, sizeof ex), clipc_split_name((clipc_split)b->ds->img[i].split));
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
                ds_warn(b, W_NO_SPLIT, b->path, b->ds->img[i].line, "'%s'",
                        b->ds->arena + b->ds->img[i].path);
    return s;
}

clipc_status read_flickr8k(builder *b, const char *buf, size_t len) {
    clipc_status s = text_check(b->path, buf, len, 1);
    if (s) return s;
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    char ex[64];
    while (lines_next(&it, &l, &n)) {
        if (text_is_blank(l, n)) continue;
        if (!text_utf8_valid(l, n)) {
            ds_warn(b, W_UTF8, b->path, it.line, "line is not valid UTF-8");
            continue;
        }
        const char *tab = memchr(l, '\t', n);
        if (!tab) {
            ds_warn(b, W_MALFORMED, b->path, it.line, "no TAB between 'name#n' and the caption");
            continue;
        }
        const char *key = l;
        size_t kn = (size_t)(tab - l);
        text_trim(&key, &kn);
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
            ds_warn(b, W_MALFORMED, b->path, it.line, "key '%s' is not 'name#n'",
                    text_excerpt(key, kn, ex, sizeof ex));
            continue;
        }
        const char *name = key;
        size_t nn = (size_t)(hash - key);
        text_trim(&name, &nn);
        if (!has_image_ext(name, nn)) {
            ds_warn(b, W_BAD_NAME, b->path, it.line, "'%s'", text_excerpt(name, nn, ex, sizeof ex));
            continue;
        }
        s = builder_pair_add(b, name, nn, tab + 1, n - (size_t)(tab + 1 - l), it.line, b->path);
        if (s) return s;
    }
    return read_flickr8k_splits(b);
}
