/*
 * image_internal.h — decoding with a size hint (internal; used by the
 * training loader's --fast-decode).
 *
 * libjpeg can run its inverse DCT at 1/2, 1/4 or 1/8 scale, which makes
 * decoding a large JPEG several times cheaper when the image is going to be
 * shrunk anyway.  The result is NOT what Pillow decodes (Pillow decodes at
 * full size and resamples), so this is opt-in and never used by
 * clipc_image_load / clipc_preprocess.
 */
#ifndef CLIPC_IMAGE_INTERNAL_H
#define CLIPC_IMAGE_INTERNAL_H

#include "clipc.h"

/* As clipc_image_load / clipc_image_decode, except that a JPEG whose short
 * side is at least 2*min_short is decoded at the smallest of the scales 1/8,
 * 1/4, 1/2 that keeps its short side >= min_short.  min_short <= 0: exact
 * (full-size) decoding.  PNGs are always decoded at full size. */
clipc_status image_load_scaled(const char *path, int min_short, clipc_image *out);
clipc_status image_decode_scaled(const void *buf, size_t len, const char *name, int min_short,
                                       clipc_image *out);

/* The decoder everything goes through: exif chooses whether the stored
 * orientation (JPEG EXIF, TIFF tag) is applied. */
clipc_status image_decode_full(const void *buf, size_t len, const char *name, int min_short,
                               clipc_exif_mode exif, clipc_image *out);

#endif
