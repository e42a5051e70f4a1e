/*
 * resize.h — Pillow-exact image resizing (internal).
 */
#ifndef CLIPC_RESIZE_H
#define CLIPC_RESIZE_H

#include "clipc.h"

/* What PIL.Image.resize(size, BICUBIC) does to an image of this kind:
 * NEAREST for `nearest` (palette / bilevel) images, premultiplied-alpha
 * bicubic for grey+alpha and RGBA, plain bicubic otherwise; a copy when the
 * size is unchanged.  `out` gets a new image of the same channel count. */
clipc_status pil_resize(const clipc_image *in, int ow, int oh, clipc_image *out);

/* Pillow's ImagingResample with the BICUBIC filter on interleaved 8-bit
 * samples (every channel treated alike); `out` holds ow*oh*ch bytes. */
clipc_status resize_bicubic(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow,
                                  int oh);

/* Image.convert("RGB") of a decoded image: grey replicated, alpha
 * dropped (Pillow discards it), 3 channels, `nearest` cleared (an RGB
 * image resizes bicubic).  `out` is a new image. */
clipc_status pil_convert_rgb(const clipc_image *in, clipc_image *out);

/* Pillow's NEAREST resize (ImagingScaleAffine). */
clipc_status resize_nearest(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow,
                                  int oh);

#endif
