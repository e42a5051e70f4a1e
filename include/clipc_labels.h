/*
 * clipc_labels.h — a labelled image set for zero-shot evaluation (`clipc
 * eval --labels-csv`): image paths, each with the index of its class, and
 * the class names.
 */
#ifndef CLIPC_LABELS_PUBLIC_H
#define CLIPC_LABELS_PUBLIC_H

#include "clipc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char **paths;   /* n image paths (malloc'ed strings) */
    int *labels;    /* n class indices */
    int n;
    char **classes; /* n_classes class names (malloc'ed strings), in order of first appearance */
    int n_classes;
} clipc_labels;

/* Reads image,label rows (RFC 4180: quote a field holding a comma or a
 * quote; a header "image,label" is optional; a UTF-8 BOM is skipped) and
 * appends them to *L.  Image paths are taken relative to root, or to the
 * CSV's folder when root is NULL.  The label is the last field, so an
 * unquoted image path with commas still reads.  Errors name path:line. */
clipc_status clipc_labels_read_csv(const char *path, const char *root, clipc_labels *L);
/* Frees what *L holds and zeroes it. */
void clipc_labels_free(clipc_labels *L);

#ifdef __cplusplus
}
#endif
#endif
