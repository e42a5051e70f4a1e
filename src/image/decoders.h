/*
 * decoders.h — the per-format decoders behind clipc_image_decode (internal).
 *
 * decode.c recognises a file by its magic bytes and hands the whole buffer to
 * one of these.  Each fills `out` with the pixels Pillow 9.4 holds after
 * Image.open() (8-bit, 1..4 channels, `nearest` set for Pillow's "P" and "1"
 * modes) so that clipc_preprocess's convert("RGB") step gives what
 * Image.open(f).convert("RGB") gives.  Every failure is a one-line
 * clipc_error naming the file.  *orientation (may be NULL) receives the
 * EXIF/TIFF orientation 1..8 stored in the file, 1 when absent; the decoders
 * never apply it themselves (decode.c does, when asked to).
 *
 * Defined in: decode.c (image_check_size, decode_png, decode_jpeg),
 * decode_webp.c, decode_tiff.c, decode_heif.c, decode_gif.c, decode_bmp.c.
 */
#ifndef CLIPC_IMAGE_DECODERS_H
#define CLIPC_IMAGE_DECODERS_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

/* The limits every decoder applies before allocating pixels: no zero side,
 * sides <= 65535, <= 2^28 pixels (CLIPC_ERR_RANGE "too large"), aspect ratio
 * <= 1:1000 (CLIPC_ERR_RANGE). */
clipc_status image_check_size(const char *name, unsigned long w, unsigned long h);

clipc_status decode_webp(const void *buf, size_t len, const char *name, clipc_image *out);
clipc_status decode_tiff(const void *buf, size_t len, const char *name, clipc_image *out,
                         int *orientation);
/* HEIC and AVIF (any ISO-BMFF file libheif reads): the primary image. */
clipc_status decode_heif(const void *buf, size_t len, const char *name, clipc_image *out);
/* The first frame, on the logical screen as Pillow places it. */
clipc_status decode_gif(const void *buf, size_t len, const char *name, clipc_image *out);
clipc_status decode_bmp(const void *buf, size_t len, const char *name, clipc_image *out);

/* What decoding a HEIF/AVIF file's primary image will cost, read from the
 * container and the codecs' headers before anything is decoded
 * (heif_probe.c): an error when an image's coded stream is larger than the
 * size it declares, or when everything decoded for the primary image (a
 * grid's tiles, an alpha plane) comes to over HEIF_MAX_DECODED pixels. */
#define HEIF_MAX_DECODED (1ull << 29)
clipc_status heif_probe(const uint8_t *buf, size_t len, const char *name);

/* 1 when buf starts like an ISO-BMFF image libheif may read ("ftyp" box
 * with a heic/heix/heim/heis/hevc/mif1/msf1/avif/avis brand). */
int heif_sniff(const uint8_t *b, size_t len);

#endif
