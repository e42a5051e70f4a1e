/*
 * decode.c — decoding image files into clipc_image: the dispatch by magic
 * bytes to the per-format decoders (image/decoders.h), PNG and JPEG here,
 * the EXIF orientation, the size limits and the folder-walk extensions.
 *
 * The goal is not just "some decoder": clipc_preprocess must reproduce what
 * OpenAI's pipeline computes after PIL.Image.open(), so every choice here
 * follows how Pillow 9.4 opens a file:
 *   - PNG (libspng): grey -> 1 channel (1/2/4-bit scaled to 0..255 as
 *     Pillow's "1"/"L;2"/"L;4" unpackers do), grey+alpha -> 2, RGB -> 3,
 *     RGBA -> 4.  Palette images are expanded to RGB (RGBA with tRNS) and
 *     marked `nearest`, because Pillow keeps them as "P" and Image.resize
 *     resamples "P" and "1" with NEAREST whatever filter was asked for.
 *     tRNS of grey/RGB images is ignored (Pillow keeps them "L"/"RGB").
 *     16-bit samples keep their high byte (Pillow's "RGB;16B", "RGBA;16B",
 *     "LA;16B" unpackers); 16-bit grey is clipped to 0..255 (Pillow's
 *     "I" -> "RGB").  No gamma.
 *   - JPEG (libjpeg-turbo, ISLOW IDCT and fancy upsampling: the defaults,
 *     which Pillow uses too): grey -> 1, YCbCr/RGB -> 3, CMYK/YCCK -> RGB
 *     with Pillow's Adobe-inverted "CMYK;I" reading and cmyk2rgb().
 *     Then, unless the caller chose CLIPC_EXIF_IGNORE, the EXIF orientation
 *     (IFD0 tag 0x0112, via libexif) is applied as
 *     PIL.ImageOps.exif_transpose does.  OpenAI's pipeline (Image.open +
 *     convert) does NOT apply it: IGNORE is the exact one.  A TIFF's
 *     Orientation tag is always applied: Pillow applies it on load.
 * Files are recognised by magic bytes.  Sizes are checked before any pixel
 * buffer is allocated, and every failure is a one-line message naming the
 * file (libjpeg's default error_exit() would call exit(), so a setjmp-based
 * error manager replaces it).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <jerror.h>
#include <libexif/exif-data.h>
#include <spng.h>

#include "image/decode.h"
#include "image/decoders.h"
#include "clipc.h"
#include "clipc_util.h"

#define MAX_SIDE 65535
#define MAX_PIXELS (1ull << 28)
#define MAX_ASPECT 1000 /* longer side / shorter side: the preprocess resize target grows with it */

clipc_status image_check_size(const char *name, unsigned long w, unsigned long h) {
    if (w == 0 || h == 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: image has zero size (%lux%lu)", name, w, h);
    if (w > MAX_SIDE || h > MAX_SIDE || (unsigned long long)w * h > MAX_PIXELS)
        return clipc_error(CLIPC_ERR_RANGE,
                           "%s: image too large (%lux%lu; limits: side <= %d, <= 2^28 pixels)",
                           name, w, h, MAX_SIDE);
    if (w > (unsigned long)MAX_ASPECT * h || h > (unsigned long)MAX_ASPECT * w)
        return clipc_error(CLIPC_ERR_RANGE,
                           "%s: %lu x %lu pixels: aspect ratio over 1:%d (limit: the longer side at most %d times "
                           "the shorter); crop the image",
                           name, w, h, MAX_ASPECT, MAX_ASPECT);
    return CLIPC_OK;
}

void clipc_image_free(clipc_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* ------------------------------------------------------------------- PNG */

static clipc_status png_fail(spng_ctx *ctx, uint8_t *buf, const char *name, int rc) {
    spng_ctx_free(ctx);
    free(buf);
    if (rc == SPNG_IO_EOF || rc == SPNG_EOF || rc == SPNG_EBUFSIZ)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated PNG file", name);
    return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt PNG file: %s", name, spng_strerror(rc));
}

static clipc_status decode_png(const void *buf, size_t len, const char *name, clipc_image *out) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory creating PNG decoder", name);
    uint8_t *raw = NULL;
    /* Bound what ancillary chunks may cost: 16 MiB per chunk, 64 MiB total. */
    spng_set_chunk_limits(ctx, 16u << 20, 64u << 20);
    int rc = spng_set_png_buffer(ctx, buf, len);
    if (rc) return png_fail(ctx, raw, name, rc);
    struct spng_ihdr ihdr;
    rc = spng_get_ihdr(ctx, &ihdr);
    if (rc) return png_fail(ctx, raw, name, rc);
    clipc_status s = image_check_size(name, ihdr.width, ihdr.height);
    if (s) {
        spng_ctx_free(ctx);
        return s;
    }
    int depth = ihdr.bit_depth, ct = ihdr.color_type;
    int fmt, ch, nearest = 0, wide = 0; /* wide: decoded as 16-bit, keep high bytes */
    switch (ct) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        /* 16-bit grey: Pillow opens it as 32-bit "I" and convert("RGB")
         * clips each value to 0..255 (not a shift): decode to 16 bits and
         * clip below. */
        if (depth == 16) fmt = SPNG_FMT_RGBA16, ch = 1, wide = 2;
        else fmt = SPNG_FMT_G8, ch = 1, nearest = depth == 1;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR:
        fmt = depth == 16 ? SPNG_FMT_RGBA16 : SPNG_FMT_RGB8, ch = 3, wide = depth == 16;
        break;
    case SPNG_COLOR_TYPE_INDEXED: {
        struct spng_trns trns;
        int has_trns = spng_get_trns(ctx, &trns) == 0;
        fmt = has_trns ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8, ch = has_trns ? 4 : 3, nearest = 1;
        break;
    }
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        /* libspng 0.7 has no GA8/GA16 output for this type: go through RGBA
         * (R = G = B = grey) and keep channels 0 and 3 below. */
        fmt = depth == 16 ? SPNG_FMT_RGBA16 : SPNG_FMT_RGBA8, ch = 2, wide = depth == 16;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
        fmt = depth == 16 ? SPNG_FMT_RGBA16 : SPNG_FMT_RGBA8, ch = 4, wide = depth == 16;
        break;
    default:
        spng_ctx_free(ctx);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: bad PNG colour type %d", name, ct);
    }
    size_t n;
    rc = spng_decoded_image_size(ctx, fmt, &n);
    if (rc) return png_fail(ctx, raw, name, rc);
    raw = malloc(n);
    if (!raw) {
        spng_ctx_free(ctx);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, n);
    }
    /* tRNS is applied only for palette images (fmt RGBA8 from INDEXED):
     * Pillow ignores it for grey and RGB when converting to RGB. */
    rc = spng_decode_image(ctx, raw, n, fmt, ct == SPNG_COLOR_TYPE_INDEXED ? SPNG_DECODE_TRNS : 0);
    if (rc) return png_fail(ctx, raw, name, rc);
    spng_ctx_free(ctx);

    size_t npix = (size_t)ihdr.width * ihdr.height;
    if (wide || ch == 2) {
        /* Repack RGBA8/RGBA16 output to `ch` 8-bit channels.  16-bit samples
         * are host-endian and Pillow keeps their most significant byte;
         * grey+alpha takes R and A; RGB drops the dummy alpha. */
        uint8_t *px = malloc(npix * ch);
        if (!px) {
            free(raw);
            return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
        }
        static const int pick1[1] = {0}, pick2[2] = {0, 3}, pick3[3] = {0, 1, 2}, pick4[4] = {0, 1, 2, 3};
        const int *pick = ch == 1 ? pick1 : ch == 2 ? pick2 : ch == 3 ? pick3 : pick4;
        for (size_t i = 0; i < npix; i++)
            for (int c = 0; c < ch; c++) {
                size_t j = i * 4 + pick[c];
                uint16_t v16 = wide ? ((const uint16_t *)(void *)raw)[j] : 0;
                px[i * ch + c] = wide == 2 ? (uint8_t)(v16 > 255 ? 255 : v16) : wide ? (uint8_t)(v16 >> 8) : raw[j];
            }
        free(raw);
        raw = px;
    }
    out->width = (int)ihdr.width;
    out->height = (int)ihdr.height;
    out->channels = ch;
    out->nearest = nearest;
    out->data = raw;
    return CLIPC_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)(void *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings are silent (the library never prints), except that running out
 * of data is an error: libjpeg would pad the image with grey, Pillow raises
 * "image file is truncated". */
static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
}

static void jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* EXIF orientation (1..8) from the APP1 "Exif" marker, 1 when absent. */
static int jpeg_orientation(struct jpeg_decompress_struct *cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || memcmp(m->data, "Exif\0\0", 6))
            continue;
        ExifData *ed = exif_data_new();
        if (!ed) return 1;
        /* Don't let libexif "repair" the data: that may invent tags. */
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_unset_option(ed, EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
        exif_data_load_data(ed, m->data, m->data_length);
        int orient = 1;
        ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->size >= 2) {
            int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
            if (v >= 1 && v <= 8) orient = v;
        }
        exif_data_unref(ed);
        return orient;
    }
    return 1;
}

static clipc_status decode_jpeg(const void *buf, size_t len, const char *name, clipc_image *out,
                                int *orientation, int min_short) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    /* Written after setjmp and read after longjmp: must be volatile. */
    uint8_t *volatile px = NULL;
    uint8_t *volatile row = NULL;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit;
    err.pub.emit_message = jpeg_emit_message;
    err.pub.output_message = jpeg_output_message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        free(row);
        if (err.pub.msg_code == JWRN_JPEG_EOF)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated JPEG file", name);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt JPEG file: %s", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)buf, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    clipc_status s = image_check_size(name, cinfo.image_width, cinfo.image_height);
    if (s) {
        jpeg_destroy_decompress(&cinfo);
        return s;
    }
    int cmyk = 0, ch;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE, ch = 1; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB, ch = 3; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK, ch = 3, cmyk = 1; break;
    default:
        jpeg_destroy_decompress(&cinfo);
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: JPEG with %d components (colour space %d) not supported",
                           name, cinfo.num_components, (int)cinfo.jpeg_color_space);
    }
    *orientation = jpeg_orientation(&cinfo);
    if (min_short > 0) {
        /* --fast-decode: let the IDCT scale by 1/8, 1/4 or 1/2, the
         * strongest reduction that keeps the short side >= min_short
         * (libjpeg rounds output sizes up). */
        unsigned long s = cinfo.image_width < cinfo.image_height ? cinfo.image_width
                                                                 : cinfo.image_height;
        for (unsigned d = 8; d >= 2; d /= 2)
            if ((s + d - 1) / d >= (unsigned long)min_short) {
                cinfo.scale_num = 1;
                cinfo.scale_denom = d;
                break;
            }
    }
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    px = malloc(w * h * ch);
    if (cmyk) row = malloc(w * 4);
    if (!px || (cmyk && !row)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        free(row);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    }
    while (cinfo.output_scanline < h) {
        size_t y = cinfo.output_scanline;
        JSAMPROW dst = cmyk ? row : px + y * w * ch;
        jpeg_read_scanlines(&cinfo, &dst, 1);
        if (cmyk) {
            /* Pillow reads 4-channel JPEGs as Adobe-inverted "CMYK;I" (so its
             * C = 255 - libjpeg's c) and cmyk2rgb() computes
             * R = clip(nk - muldiv255(C, nk)) with nk = 255 - K = libjpeg's k. */
            uint8_t *o = px + y * w * 3;
            for (size_t x = 0; x < w; x++) {
                int nk = row[4 * x + 3];
                for (int c = 0; c < 3; c++) {
                    int t = (255 - row[4 * x + c]) * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    o[3 * x + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    out->nearest = 0;
    out->data = px;
    return CLIPC_OK;
}

/* Applies EXIF orientation o as PIL.ImageOps.exif_transpose: 2 mirror,
 * 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise.  For each output pixel (x, y) it picks the
 * source pixel; 5..8 swap width and height. */
static clipc_status apply_orientation(clipc_image *img, int o, const char *name) {
    if (o <= 1 || o > 8) return CLIPC_OK;
    int W = img->width, H = img->height, ch = img->channels;
    int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
    uint8_t *dst = malloc((size_t)W * H * ch);
    if (!dst) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;
            case 4: sx = x, sy = H - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = H - 1 - x; break;
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;
            default: sx = W - 1 - y, sy = x; break; /* 8 */
            }
            memcpy(dst + ((size_t)y * ow + x) * ch, img->data + ((size_t)sy * W + sx) * ch, ch);
        }
    }
    free(img->data);
    img->data = dst;
    img->width = ow;
    img->height = oh;
    return CLIPC_OK;
}

/* ----------------------------------------------------------------- entry */

/* The process-wide EXIF choice used by clipc_image_load / _decode (the CLI's
 * --exif sets it once, before any worker thread starts). */
static clipc_exif_mode g_exif = CLIPC_EXIF_APPLY;

void clipc_image_set_exif(clipc_exif_mode m) { g_exif = m == CLIPC_EXIF_IGNORE ? CLIPC_EXIF_IGNORE : CLIPC_EXIF_APPLY; }
clipc_exif_mode clipc_image_get_exif(void) { return g_exif; }

clipc_status clipc_image_decode(const void *buf, size_t len, const char *name, clipc_image *out) {
    return image_decode_scaled(buf, len, name, 0, out);
}

clipc_status clipc_image_decode_ex(const void *buf, size_t len, const char *name, clipc_exif_mode exif,
                                   clipc_image *out) {
    return image_decode_full(buf, len, name, 0, exif, out);
}

clipc_status image_decode_scaled(const void *buf, size_t len, const char *name, int min_short,
                                       clipc_image *out) {
    return image_decode_full(buf, len, name, min_short, g_exif, out);
}

/* The format of a file from its first bytes (enough for every magic). */
typedef enum { FMT_NONE, FMT_PNG, FMT_JPEG, FMT_WEBP, FMT_TIFF, FMT_GIF, FMT_BMP, FMT_HEIF } img_format;

static img_format sniff(const uint8_t *b, size_t len) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && !memcmp(b, png_magic, 8)) return FMT_PNG;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return FMT_JPEG;
    if (len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return FMT_WEBP;
    if (len >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) ||
                     !memcmp(b, "MM\0+", 4)))
        return FMT_TIFF;
    if (len >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return FMT_GIF;
    if (len >= 2 && b[0] == 'B' && b[1] == 'M') return FMT_BMP;
    if (heif_sniff(b, len)) return FMT_HEIF;
    return FMT_NONE;
}

clipc_status image_decode_full(const void *buf, size_t len, const char *name, int min_short,
                               clipc_exif_mode exif, clipc_image *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!buf || len == 0) return clipc_error(CLIPC_ERR_FORMAT, "%s: empty file", name);
    const uint8_t *b = buf;
    int orient = 1;
    clipc_status s;
    switch (sniff(b, len)) {
    case FMT_PNG: return decode_png(buf, len, name, out);
    case FMT_JPEG: s = decode_jpeg(buf, len, name, out, &orient, min_short); break;
    case FMT_WEBP: return decode_webp(buf, len, name, out);
    case FMT_TIFF:
        /* Pillow itself applies a TIFF's Orientation tag when it loads the
         * file (TiffImageFile.load_end), so OpenAI's pipeline sees it
         * applied: it is part of the image here, whatever `exif` says. */
        s = decode_tiff(buf, len, name, out, &orient);
        if (!s && orient > 1 && (s = apply_orientation(out, orient, name))) clipc_image_free(out);
        return s;
    case FMT_GIF: return decode_gif(buf, len, name, out);
    case FMT_BMP: return decode_bmp(buf, len, name, out);
    case FMT_HEIF: return decode_heif(buf, len, name, out);
    default: {
        static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        if (len < 8 && (!memcmp(b, png_magic, len) || (b[0] == 0xFF && (len < 2 || b[1] == 0xD8))))
            return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated image file (%zu bytes)", name, len);
        return clipc_error(CLIPC_ERR_UNSUPPORTED,
                           "%s: not an image format clipc reads (unrecognised magic bytes; it reads JPEG, PNG, "
                           "WebP, TIFF, GIF, BMP, HEIC, AVIF)", name);
    }
    }
    if (s || exif == CLIPC_EXIF_IGNORE) return s;
    s = apply_orientation(out, orient, name);
    if (s) clipc_image_free(out);
    return s;
}

/* The extension after the last '.', so "a.tar.jpg" and ".png" count and
 * "jpg" does not. */
int clipc_image_path_supported(const char *path) {
    static const char *ext[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".gif",
                                ".bmp", ".dib", ".heic", ".heif", ".hif", ".avif"};
    const char *dot = strrchr(path, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

clipc_status clipc_image_load(const char *path, clipc_image *out) {
    return image_load_scaled(path, 0, out);
}

clipc_status clipc_image_load_ex(const char *path, clipc_exif_mode exif, clipc_image *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    clipc_status s = clipc_read_file(path, &buf, &len);
    if (s) return s;
    s = image_decode_full(buf, len, path, 0, exif, out);
    free(buf);
    return s;
}

clipc_status image_load_scaled(const char *path, int min_short, clipc_image *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    clipc_status s = clipc_read_file(path, &buf, &len);
    if (s) return s;
    s = image_decode_scaled(buf, len, path, min_short, out);
    free(buf);
    return s;
}
