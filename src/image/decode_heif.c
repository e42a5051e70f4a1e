/*
 * decode_heif.c — HEIC (HEVC) and AVIF (AV1) via libheif.
 *
 * Debian's Pillow 9.4 cannot open these files (no pillow-heif), so there is
 * no Pillow reference: the pixels are libheif's own decoding of the primary
 * image to 8-bit interleaved RGB (RGBA when the image has an alpha plane),
 * with libheif's default YCbCr->RGB conversion and with the container's
 * rotation/mirror properties (irot, imir) applied, as every HEIF viewer
 * shows the image (they are part of the image, not EXIF metadata).
 * Sizes are checked on the handle before anything is decoded; libheif's own
 * size limit is set to the same maximum side.  The handle's size is what
 * the file declares; heif_probe.c then checks that the coded streams (and
 * a grid's tiles) stay within it, so the decode's cost is bounded too.
 */
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#include "image/decoders.h"
#include "clipc_util.h"

int heif_sniff(const uint8_t *b, size_t len) {
    if (len < 12 || memcmp(b + 4, "ftyp", 4)) return 0;
    static const char *brands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                   "mif1", "msf1", "avif", "avis"};
    for (size_t i = 0; i < sizeof brands / sizeof *brands; i++)
        if (!memcmp(b + 8, brands[i], 4)) return 1;
    return 0;
}

/* The file's major brand says AV1 (AVIF). */
static int is_av1(const uint8_t *b, size_t len) {
    return len >= 12 && (!memcmp(b + 8, "avif", 4) || !memcmp(b + 8, "avis", 4));
}

static clipc_status heif_fail(struct heif_context *ctx, struct heif_image_handle *h, const char *name,
                              struct heif_error e) {
    /* e.message may live in the context: format it before freeing that. */
    clipc_status s;
    if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype)
        s = clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported HEIF/AVIF file: %s", name, e.message);
    else
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt HEIF/AVIF file: %s", name, e.message);
    if (h) heif_image_handle_release(h);
    heif_context_free(ctx);
    return s;
}

clipc_status decode_heif(const void *buf, size_t len, const char *name, clipc_image *out) {
    struct heif_context *ctx = heif_context_alloc();
    if (!ctx) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory creating HEIF decoder", name);
    heif_context_set_maximum_image_size_limit(ctx, 65535);
    struct heif_error e = heif_context_read_from_memory_without_copy(ctx, buf, len, NULL);
    if (e.code) return heif_fail(ctx, NULL, name, e);
    struct heif_image_handle *h = NULL;
    e = heif_context_get_primary_image_handle(ctx, &h);
    if (e.code) return heif_fail(ctx, NULL, name, e);
    clipc_status s = image_check_size(name, (unsigned long)heif_image_handle_get_width(h),
                                      (unsigned long)heif_image_handle_get_height(h));
    /* what the coded streams say (heif_probe.c): libheif's decoders
     * allocate and decode the size the stream codes, not the one checked */
    if (!s) s = heif_probe(buf, len, name);
    if (s) {
        heif_image_handle_release(h);
        heif_context_free(ctx);
        return s;
    }
    int ch = heif_image_handle_has_alpha_channel(h) ? 4 : 3;
    struct heif_image *img = NULL;
    enum heif_chroma chroma = ch == 4 ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB;
    /* AV1 through libaom when it is there: libheif's dav1d plugin leaves
     * dav1d's default logger on, which prints parse errors of damaged files
     * to stderr (the library never prints).  AV1 decoding is bit-exact by
     * the standard, so the pixels are the same. */
    struct heif_decoding_options *dopt = heif_decoding_options_alloc();
    if (dopt && is_av1(buf, len)) dopt->decoder_id = "aom";
    e = heif_decode_image(h, &img, heif_colorspace_RGB, chroma, dopt);
    if (e.code && dopt && dopt->decoder_id && e.code == heif_error_Unsupported_feature) {
        dopt->decoder_id = NULL; /* no libaom: the default decoder */
        e = heif_decode_image(h, &img, heif_colorspace_RGB, chroma, dopt);
    }
    heif_decoding_options_free(dopt);
    if (e.code) return heif_fail(ctx, h, name, e);
    int w = heif_image_get_width(img, heif_channel_interleaved);
    int hh = heif_image_get_height(img, heif_channel_interleaved);
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    s = plane ? image_check_size(name, (unsigned long)(w > 0 ? w : 0), (unsigned long)(hh > 0 ? hh : 0))
              : clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt HEIF/AVIF file: no decoded pixels", name);
    uint8_t *px = s ? NULL : malloc((size_t)w * hh * ch);
    if (!s && !px) s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    if (!s)
        for (int y = 0; y < hh; y++) memcpy(px + (size_t)y * w * ch, plane + (size_t)y * stride, (size_t)w * ch);
    heif_image_release(img);
    heif_image_handle_release(h);
    heif_context_free(ctx);
    if (s) return s;
    out->width = w;
    out->height = hh;
    out->channels = ch;
    out->nearest = 0;
    out->data = px;
    return CLIPC_OK;
}
