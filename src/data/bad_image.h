/*
 * bad_image.h — the kinds of unreadable image (missing, corrupt,
 * unsupported, too large) that the loader (loader.c) and its cache builder
 * (cache.c) each warn about once per kind.  Internal to src/data.
 */
#ifndef CLIPC_DATA_BAD_IMAGE_H
#define CLIPC_DATA_BAD_IMAGE_H

#include "clipc.h"

enum { BAD_MISSING, BAD_CORRUPT, BAD_UNSUPPORTED, BAD_TOO_LARGE, BAD_OTHER, N_BAD };

/* The kind of a failed image load, from its status. */
static inline int bad_kind(clipc_status s) {
    switch (s) {
    case CLIPC_ERR_IO: return BAD_MISSING;
    case CLIPC_ERR_FORMAT: return BAD_CORRUPT;
    case CLIPC_ERR_UNSUPPORTED: return BAD_UNSUPPORTED;
    case CLIPC_ERR_RANGE: return BAD_TOO_LARGE;
    default: return BAD_OTHER;
    }
}

static inline const char *bad_kind_name(int kind) {
    static const char *const names[N_BAD] = {"missing or unreadable image", "corrupt image",
                                             "unsupported image", "image too large",
                                             "image failed"};
    return names[kind];
}

#endif
