/*
 * walk.c — the folder walk of the image index (walk.h): every image below a
 * folder with its size and mtime, the files passed over with their reason
 * (not an image, unsupported, corrupt, too large, unreadable), subfolders
 * that cannot be opened, and the skip report of `clipc index`.
 */
#include "index/walk.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>




/* Records a file the walk passes over (path is taken over, freed on error). */
static clipc_status walk_other(walk_list *w, char *path, clipc_skip_reason why) {
    char **np = realloc(w->others, sizeof *np * (w->n_others + 1));
    if (np) w->others = np;
    int *nw = np ? realloc(w->other_why, sizeof *nw * (w->n_others + 1)) : NULL;
    if (nw) w->other_why = nw;
    if (!np || !nw) {
        free(path);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    w->others[w->n_others] = path;
    w->other_why[w->n_others++] = why;
    return CLIPC_OK;
}

static const char *const skip_names[CLIPC_SKIP_N] = {"not_image", "unsupported", "corrupt",
                                                     "too_large", "unreadable", "other"};

const char *clipc_skip_reason_name(clipc_skip_reason r) {
    return r >= 0 && r < CLIPC_SKIP_N ? skip_names[r] : "other";
}

clipc_skip_reason clipc_skip_reason_of(clipc_status s) {
    switch (s) {
    case CLIPC_ERR_UNSUPPORTED: return CLIPC_SKIP_UNSUPPORTED;
    case CLIPC_ERR_FORMAT: return CLIPC_SKIP_CORRUPT;
    case CLIPC_ERR_RANGE: return CLIPC_SKIP_TOO_LARGE;
    case CLIPC_ERR_IO: return CLIPC_SKIP_UNREADABLE;
    default: return CLIPC_SKIP_OTHER;
    }
}

/* One image file that could not be indexed: counted by reason, reported. */
void walk_report_failed(const clipc_index_opts *o, clipc_index_stats *st, const char *path, clipc_status s) {
    clipc_skip_reason why = clipc_skip_reason_of(s);
    st->failed++;
    st->skipped[why]++;
    if (o->failed) o->failed(path, clipc_last_error(), o->ud);
    if (o->skipped) o->skipped(path, why, clipc_last_error(), o->ud);
}

/* The walk's other files, counted and reported; frees them. */
void walk_report_others(const clipc_index_opts *o, clipc_index_stats *st, walk_list *w) {
    for (size_t i = 0; i < w->n_others; i++) {
        clipc_skip_reason why = (clipc_skip_reason)w->other_why[i];
        st->skipped[why]++;
        char msg[8192];
        snprintf(msg, sizeof msg, "%s: %s", w->others[i],
                 why == CLIPC_SKIP_NOT_IMAGE ? "not an image file name"
                                             : "a symbolic link to nothing (or to what is not a file)");
        if (why != CLIPC_SKIP_NOT_IMAGE) {
            st->failed++;
            if (o->failed) o->failed(w->others[i], msg, o->ud);
        }
        if (o->skipped) o->skipped(w->others[i], why, msg, o->ud);
        free(w->others[i]);
    }
    free(w->others);
    free(w->other_why);
    w->others = NULL, w->other_why = NULL, w->n_others = 0;
}

/* Records the subfolder dir that could not be opened (errno). */
static clipc_status walk_skip(walk_list *w, const char *dir) {
    const char *why = strerror(errno);
    size_t dl = strlen(dir), wl = strlen(why);
    char **ns = realloc(w->skipped, sizeof *ns * (w->n_skipped + 1)), *m = ns ? malloc(dl + wl + 2) : NULL;
    if (ns) w->skipped = ns;
    if (!m) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    memcpy(m, dir, dl + 1);
    memcpy(m + dl + 1, why, wl + 1);
    w->skipped[w->n_skipped++] = m;
    return CLIPC_OK;
}

clipc_status walk_folder(walk_list *w, const char *dir, int depth) {
    if (depth > 64) return CLIPC_OK; /* deeper than any sane tree: a bind-mount loop */
    DIR *d = opendir(dir);
    if (!d && depth > 0 && w->skip_unreadable) return walk_skip(w, dir);
    if (!d) return clipc_error(CLIPC_ERR_IO, "%s: %s", dir, strerror(errno));
    clipc_status s = CLIPC_OK;
    for (struct dirent *de; !s && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(p, len, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st)) {
            free(p);
            continue; /* vanished while walking */
        }
        if (S_ISLNK(st.st_mode)) {
            /* A link to a file is indexed; a link to a folder is not followed (loops). */
            struct stat lst = st;
            if (stat(p, &st) || !S_ISREG(st.st_mode)) {
                if (w->skip_unreadable && (!stat(p, &st) ? !S_ISDIR(st.st_mode) : S_ISLNK(lst.st_mode)))
                    s = walk_other(w, p, CLIPC_SKIP_UNREADABLE);
                else
                    free(p);
                continue;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            s = walk_folder(w, p, depth + 1);
            free(p);
        } else if (S_ISREG(st.st_mode) && clipc_image_path_supported(de->d_name)) {
            if (w->n == w->cap) {
                size_t nc = w->cap ? 2 * w->cap : 256;
                walk_entry *ne = realloc(w->e, nc * sizeof *ne);
                if (!ne) {
                    free(p);
                    s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                    break;
                }
                w->e = ne, w->cap = nc;
            }
            w->e[w->n++] = (walk_entry){p, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                                        (int64_t)st.st_size};
        } else if (w->skip_unreadable) {
            s = walk_other(w, p, CLIPC_SKIP_NOT_IMAGE);
        } else {
            free(p);
        }
    }
    closedir(d);
    return s;
}

int walk_entry_cmp(const void *a, const void *b) {
    return strcmp(((const walk_entry *)a)->path, ((const walk_entry *)b)->path);
}

clipc_status clipc_index_list_images(const char *dir, char ***paths, size_t *n) {
    walk_list w = {0};
    *paths = NULL;
    *n = 0;
    clipc_status s = walk_folder(&w, dir, 0);
    if (!s && w.n) qsort(w.e, w.n, sizeof *w.e, walk_entry_cmp);
    char **p = s ? NULL : malloc(sizeof *p * (w.n + 1));
    if (!s && !p) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w.n; i++) {
        if (p) p[i] = w.e[i].path;
        else free(w.e[i].path);
    }
    free(w.e);
    if (!s) *paths = p, *n = w.n;
    return s;
}

/* ------------------------------------------------------------ the model meta */


/* Records the model; *model_id receives the id rows embedded with it carry.
 * A different file content, config or precision (f32 / bf16) gets a new id
 * (everything re-embeds: one index, one kind of embedding). */

/* Whether path lies in a folder the walk skipped (its rows are kept as they are). */
int walk_in_skipped(const walk_list *w, const char *path) {
    for (size_t i = 0; i < w->n_skipped; i++) {
        size_t l = strlen(w->skipped[i]);
        if (!strncmp(w->skipped[i], path, l) && path[l] == '/') return 1;
    }
    return 0;
}
