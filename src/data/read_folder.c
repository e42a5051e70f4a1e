/*
 * read_folder.c — the folder reader (readers.h): the images under a folder
 * (recursively, in sorted order, hidden entries skipped), each with the
 * lines of foo.txt beside foo.jpg as its captions.  An image without a
 * .txt file is kept as image-only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/readers.h"
#include "clipc.h"
#include "clipc_util.h"

#define MAX_DEPTH 32 /* folder recursion; guards against symlink loops */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static clipc_status read_caption_txt(builder *b, int idx, const char *txt) {
    char *buf;
    size_t len;
    clipc_status s = clipc_read_file(txt, &buf, &len);
    if (s) return s;
    s = text_check(txt, buf, len, 1);
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    while (!s && lines_next(&it, &l, &n)) {
        if (text_is_blank(l, n)) continue;
        if (!text_utf8_valid(l, n)) {
            ds_warn(b, W_UTF8, txt, it.line, "line is not valid UTF-8");
            continue;
        }
        s = builder_caption_add(b, idx, l, n, it.line, it.line, txt);
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
            } else if (ok && S_ISREG(st.st_mode) && clipc_image_path_supported(names[i])) {
                /* Names starting with '.' were skipped above, so the plain
                 * rule is has_image_ext's here (".jpg" alone cannot occur). */
                int idx;
                s = builder_image_get(b, r, strlen(r), 0, &idx, NULL);
                /* foo.jpg -> foo.txt */
                char *dot = strrchr(full, '.');
                if (!s && strlen(dot) >= 4) {
                    memcpy(dot, ".txt", 5);
                    if (path_is_file(full)) s = read_caption_txt(b, idx, full);
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

clipc_status read_folder(builder *b) { return walk(b, b->path, "", 0); }
