/*
 * encode_jpeg.h — 8-bit grey or RGB pixels to a JPEG in memory
 * (libjpeg-turbo), for the thumbnails of `clipc serve` (index/thumbs.c).
 */
#ifndef CLIPC_IMAGE_ENCODE_JPEG_H
#define CLIPC_IMAGE_ENCODE_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

/* Encodes img (channels 1 or 3; others CLIPC_ERR_INVALID) at quality
 * 1..100 (baseline, 4:2:0 for RGB, libjpeg's defaults otherwise):
 * *out malloc'ed, *len bytes. */
clipc_status jpeg_encode(const clipc_image *img, int quality, uint8_t **out, size_t *len);

#endif
