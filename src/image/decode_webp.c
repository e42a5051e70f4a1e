/*
 * decode_webp.c — WebP (lossy, lossless, alpha, animated) via libwebp.
 *
 * Pillow 9.4 built with WebP animation support (Debian's is) opens every WebP
 * file, still or animated, through libwebp's WebPAnimDecoder in MODE_RGBA
 * and keeps mode "RGBA" when the file says it has alpha, else "RGB".  We do
 * the same calls, so a still image gives exactly WebPDecodeRGBA's pixels
 * (fancy upsampling, not premultiplied) and an animation gives its first
 * frame as composed on the canvas.  The canvas size is checked from the
 * header (WebPGetFeatures) before the decoder allocates it.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image/decoders.h"
#include "clipc_util.h"

clipc_status decode_webp(const void *buf, size_t len, const char *name, clipc_image *out) {
    /* The RIFF header's size says whether the file was cut short (libwebp
     * would only say that it cannot parse the chunks). */
    const uint8_t *b = buf;
    if (len >= 8 && (uint64_t)(b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24) + 8 > len)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated WebP file (%zu of %llu bytes)", name, len,
                           (unsigned long long)(b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24) + 8);
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(buf, len, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated WebP file", name);
    if (vs != VP8_STATUS_OK)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt WebP file (libwebp status %d)", name, (int)vs);
    clipc_status s = image_check_size(name, (unsigned long)f.width, (unsigned long)f.height);
    if (s) return s;

    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: libwebp ABI mismatch", name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData data = {buf, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opt);
    if (!dec) return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt WebP file (cannot parse its chunks)", name);
    WebPAnimInfo info;
    uint8_t *rgba = NULL;
    int ts = 0;
    if (!WebPAnimDecoderGetInfo(dec, &info) || info.canvas_width != (uint32_t)f.width ||
        info.canvas_height != (uint32_t)f.height || !WebPAnimDecoderGetNext(dec, &rgba, &ts) || !rgba) {
        WebPAnimDecoderDelete(dec);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt or truncated WebP file (cannot decode its first frame)",
                           name);
    }
    int ch = f.has_alpha ? 4 : 3;
    size_t npix = (size_t)f.width * f.height;
    uint8_t *px = malloc(npix * ch);
    if (!px) {
        WebPAnimDecoderDelete(dec);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    }
    if (ch == 4) {
        memcpy(px, rgba, npix * 4);
    } else {
        for (size_t i = 0; i < npix; i++) memcpy(px + 3 * i, rgba + 4 * i, 3);
    }
    WebPAnimDecoderDelete(dec);
    out->width = f.width;
    out->height = f.height;
    out->channels = ch;
    out->nearest = 0;
    out->data = px;
    return CLIPC_OK;
}
