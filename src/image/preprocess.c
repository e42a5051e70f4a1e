/*
 * preprocess.c — OpenAI CLIP's image transform, `_transform(n)` in clip.py:
 *
 *   Resize(n, BICUBIC) -> CenterCrop(n) -> convert("RGB") -> ToTensor()
 *   -> Normalize(mean, std)
 *
 * reproduced bit for bit (with Pillow 9.4 and torchvision semantics):
 *   1. the shorter side becomes n and the longer int(n * long / short)
 *      (Python's int() truncates the double quotient); skipped when the size
 *      does not change; the resampling is resize.c's Pillow replica.  Limits
 *      (CLIPC_ERR_RANGE): aspect ratio up to 1:1000 (decode.c refuses such
 *      files too) and a resize target of at most 2^27 pixels;
 *   2. crop offsets round((w' - n) / 2) with Python's round-half-to-even;
 *   3. convert("RGB"): grey is replicated, alpha is dropped (no compositing
 *      on a background: Pillow's rgba2rgb / la2rgb just discard it);
 *   4. x = u8 / 255 then (x - mean) / std, each step rounded to float32 as
 *      PyTorch does, written CHW.
 *
 * clipc_preprocess_transform is the same with the short side resized to
 * t->resize (>= the crop) and the model's mean/std: timm's eval transform
 * (Resize(floor(size / crop_pct), BICUBIC) -> CenterCrop(size) -> ToTensor
 * -> Normalize), which the tutorial's model (seed 002) uses, has the same
 * steps; torchvision's resize and crop formulas are the ones above.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "image/resize.h"

/* Python's round(d / 2.0) for d >= 0: halves go to the even neighbour. */
static int round_half_even_div2(int d) {
    int m = d / 2;
    if (d % 2 == 0) return m;
    return (m % 2 == 0) ? m : m + 1;
}

clipc_status clipc_preprocess(const clipc_image *img, int size, float *out, uint8_t *rgb_u8) {
    clipc_config openai = {.image_resolution = size}; /* ViT: OpenAI's transform */
    clipc_transform t;
    clipc_config_transform(&openai, &t);
    return clipc_preprocess_transform(img, &t, out, rgb_u8);
}

clipc_status pil_convert_rgb(const clipc_image *in, clipc_image *out) {
    memset(out, 0, sizeof *out);
    size_t n = (size_t)in->width * in->height;
    out->data = mem_alloc(n * 3, "RGB image");
    if (!out->data) return CLIPC_ERR_NOMEM;
    out->width = in->width, out->height = in->height, out->channels = 3;
    int ch = in->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in->data + i * ch;
        uint8_t *o = out->data + i * 3;
        if (ch <= 2) o[0] = o[1] = o[2] = p[0];
        else o[0] = p[0], o[1] = p[1], o[2] = p[2];
    }
    return CLIPC_OK;
}

clipc_status clipc_preprocess_transform(const clipc_image *img, const clipc_transform *t, float *out,
                                        uint8_t *rgb_u8) {
    if (!img || !img->data || img->width <= 0 || img->height <= 0 || img->channels < 1 ||
        img->channels > 4)
        return clipc_error(CLIPC_ERR_INVALID, "preprocess: bad image");
    if (t->rgb_first && (img->channels != 3 || img->nearest)) {
        /* convert("RGB") before the resize: a palette image then resizes
         * bicubic, an RGBA one without premultiplying. */
        clipc_image rgb;
        clipc_status s = pil_convert_rgb(img, &rgb);
        if (!s) s = clipc_preprocess_transform(&rgb, t, out, rgb_u8);
        clipc_image_free(&rgb);
        return s;
    }
    int size = t->size, rsz = t->resize;
    if (size <= 0 || size > 65535)
        return clipc_error(CLIPC_ERR_INVALID, "preprocess: bad output size %d", size);
    if (rsz < size || rsz > 65535)
        return clipc_error(CLIPC_ERR_INVALID, "preprocess: resize to %d is below the crop %d or over 65535", rsz,
                           size);
    for (int c = 0; c < 3; c++)
        if (!(t->std[c] > 0.0f) || !isfinite(t->std[c]) || !isfinite(t->mean[c]))
            return clipc_error(CLIPC_ERR_INVALID, "preprocess: channel %d: mean %g, std %g (std must be > 0)", c,
                               (double)t->mean[c], (double)t->std[c]);
    int w = img->width, h = img->height, ch = img->channels;

    /* 1. Resize the shorter side to `rsz`.  The products fit in int64 and
     * convert to double exactly, so the division rounds as Python's does. */
    int short_side = w <= h ? w : h, long_side = w <= h ? h : w;
    double q = (double)((int64_t)rsz * long_side) / short_side;
    if (long_side > 1000.0 * short_side)
        return clipc_error(CLIPC_ERR_RANGE,
                           "preprocess: %d x %d pixels: aspect ratio over 1:1000 (limit: the longer side at most "
                           "1000 times the shorter); crop the image", w, h);
    if (q * rsz > (double)(1 << 27))
        return clipc_error(CLIPC_ERR_RANGE,
                           "preprocess: %dx%d image would resize to %.0fx%d, over 2^27 pixels (the limit)", w, h,
                           q, rsz);
    int nlong = (int)q, nw = w <= h ? rsz : nlong, nh = w <= h ? nlong : rsz;
    clipc_image resized = {0};
    const clipc_image *src = img;
    if (nw != w || nh != h) {
        clipc_status s = pil_resize(img, nw, nh, &resized);
        if (s) return s;
        src = &resized;
    }

    /* 2. Center crop. */
    int left = round_half_even_div2(nw - size), top = round_half_even_div2(nh - size);

    /* 3 + 4. RGB, normalise, HWC -> CHW. */
    size_t plane = (size_t)size * size;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = src->data + ((size_t)(top + y) * nw + left) * ch;
        for (int x = 0; x < size; x++) {
            const uint8_t *p = row + (size_t)x * ch;
            uint8_t rgb[3];
            if (ch <= 2)
                rgb[0] = rgb[1] = rgb[2] = p[0];
            else
                rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
            size_t i = (size_t)y * size + x;
            for (int c = 0; c < 3; c++) {
                float v = (float)rgb[c] / 255.0f;
                out[c * plane + i] = (v - t->mean[c]) / t->std[c];
                if (rgb_u8) rgb_u8[i * 3 + c] = rgb[c];
            }
        }
    }
    clipc_image_free(&resized);
    return CLIPC_OK;
}
