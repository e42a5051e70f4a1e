/*
 * walk.h — the folder walk of the image index (walk.c): the images below a
 * folder, the files passed over with their reason, and the skip report.
 */
#ifndef CLIPC_INDEX_WALK_H
#define CLIPC_INDEX_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"
#include "clipc_index.h"

typedef struct {
    char *path; /* full path, bytes */
    int64_t mtime_ns, size;
} walk_entry;

typedef struct {
    walk_entry *e;
    size_t n, cap;
    int skip_unreadable; /* a subfolder that cannot be opened is listed in skipped, not an error */
    char **skipped;      /* the folder, NUL, the reason (strerror): one malloc'ed block each */
    size_t n_skipped;
    /* With skip_unreadable: the files that are not images (reason
     * CLIPC_SKIP_NOT_IMAGE) or cannot be reached (a broken link:
     * CLIPC_SKIP_UNREADABLE), for the report. */
    char **others;
    int *other_why;
    size_t n_others;
} walk_list;

/* Adds the images below dir (depth: of dir, 0 at the top) to *w. */
clipc_status walk_folder(walk_list *w, const char *dir, int depth);
/* qsort order of walk entries: by path bytes. */
int walk_entry_cmp(const void *a, const void *b);
/* Whether path lies in a folder the walk skipped (its rows are kept as they are). */
int walk_in_skipped(const walk_list *w, const char *path);
/* One image file that could not be indexed: counted by reason, reported. */
void walk_report_failed(const clipc_index_opts *o, clipc_index_stats *st, const char *path, clipc_status s);
/* The walk's other files, counted and reported; frees them. */
void walk_report_others(const clipc_index_opts *o, clipc_index_stats *st, walk_list *w);

#endif
