/*
 * augment.c — the training augmentation: torchvision's
 *
 *   RandomResizedCrop(n, scale=(0.5, 1.0), ratio=(3/4, 4/3), BICUBIC)
 *   -> RandomHorizontalFlip(0.5) -> convert("RGB") -> Normalize
 *
 * on the decoded image, with Pillow's resampler (resize.c), so that the
 * crop that covers the whole image and is not flipped gives the same pixels
 * as PIL's img.crop(box).resize((n, n), BICUBIC).
 *
 * Scale (0.5, 1.0) rather than torchvision's default (0.08, 1.0): CLIP's
 * captions describe the whole scene ("two dogs play on a beach"), and an 8%
 * crop often cuts away what the caption talks about; open_clip's training
 * augmentation uses (0.9, 1.0) for the same reason.  0.5 keeps some
 * regularisation for the small data sets clipc trains on.
 *
 * The generator is seeded per image by the loader from (seed, epoch, batch,
 * position), never from thread timing.  The sampled values go through log,
 * exp and sqrt (as torchvision's do), so a different libm could in rare
 * cases round a crop edge differently; on one machine results are exact.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/augment.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/rng.h"
#include "image/resize.h"

void normalize_u8(const uint8_t *rgb, int size, float *out) {
    clipc_config openai = {.image_resolution = size};
    clipc_transform t;
    clipc_config_transform(&openai, &t);
    normalize_u8_tf(rgb, &t, out);
}

void normalize_u8_tf(const uint8_t *rgb, const clipc_transform *t, float *out) {
    /* A table of the 3 x 256 possible results, each computed exactly as
     * preprocess.c computes it, so the bits are the same; the per-pixel work
     * is then a lookup (the cache path is this loop and a copy). */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int u = 0; u < 256; u++) {
            float v = (float)u / 255.0f;
            lut[c][u] = (v - t->mean[c]) / t->std[c];
        }
    int size = t->size;
    size_t plane = (size_t)size * size;
    float *r = out, *g = out + plane, *b = out + 2 * plane;
    for (size_t i = 0; i < plane; i++) {
        r[i] = lut[0][rgb[i * 3]];
        g[i] = lut[1][rgb[i * 3 + 1]];
        b[i] = lut[2][rgb[i * 3 + 2]];
    }
}

void aug_sample(int width, int height, double smin, double smax, rng_state *r,
                      aug_params *p) {
    const double rmin = 3.0 / 4.0, rmax = 4.0 / 3.0;
    double area = (double)width * height, lo = log(rmin), hi = log(rmax);
    p->flip = 0;
    int found = 0;
    for (int t = 0; t < 10 && !found; t++) {
        double target = area * (smin + (smax - smin) * rng_double(r));
        double aspect = exp(lo + (hi - lo) * rng_double(r));
        /* Python's round(): half to even, which nearbyint does in the
         * default rounding mode. */
        double wd = nearbyint(sqrt(target * aspect)), hd = nearbyint(sqrt(target / aspect));
        if (wd > 0 && wd <= width && hd > 0 && hd <= height) {
            p->w = (int)wd, p->h = (int)hd;
            p->y = (int)rng_below(r, (uint64_t)(height - p->h + 1));
            p->x = (int)rng_below(r, (uint64_t)(width - p->w + 1));
            found = 1;
        }
    }
    if (!found) { /* torchvision's fallback: the central crop within the ratio range */
        double in_ratio = (double)width / height;
        if (in_ratio < rmin)
            p->w = width, p->h = (int)nearbyint(width / rmin);
        else if (in_ratio > rmax)
            p->h = height, p->w = (int)nearbyint(height * rmax);
        else
            p->w = width, p->h = height;
        if (p->w < 1) p->w = 1;
        if (p->h < 1) p->h = 1;
        p->y = (height - p->h) / 2;
        p->x = (width - p->w) / 2;
    }
    p->flip = (int)(rng_u64(r) >> 63);
}

clipc_status augment_image(const clipc_image *img, int size, uint64_t seed, float *out,
                           uint8_t *rgb_u8) {
    return augment_image_ex(img, size, 1, 0, seed, out, rgb_u8);
}

/* Translates the size x size RGB bytes by (dx, dy) with white fill: the
 * PyTorch peer's --shift (pad with white, crop at a random offset).  White,
 * not black or edge replication, because icons and product photos sit on
 * white, so the fill looks like more background. */
static void shift_rgb(uint8_t *rgb, int size, int dx, int dy) {
    size_t n = (size_t)size * size * 3;
    uint8_t *tmp = malloc(n);
    if (!tmp) return; /* no shift rather than a failure: augmentation is optional */
    memset(tmp, 255, n);
    for (int y = 0; y < size; y++) {
        int sy = y - dy;
        if (sy < 0 || sy >= size) continue;
        for (int x = 0; x < size; x++) {
            int sx = x - dx;
            if (sx < 0 || sx >= size) continue;
            memcpy(tmp + ((size_t)y * size + x) * 3, rgb + ((size_t)sy * size + sx) * 3, 3);
        }
    }
    memcpy(rgb, tmp, n);
    free(tmp);
}

clipc_status augment_image_ex(const clipc_image *img, int size, int mode, int shift, uint64_t seed,
                              float *out, uint8_t *rgb_u8) {
    clipc_config openai = {.image_resolution = size};
    clipc_transform t;
    clipc_config_transform(&openai, &t);
    return augment_image_tf(img, &t, mode, shift, seed, out, rgb_u8);
}

clipc_status augment_image_tf(const clipc_image *img, const clipc_transform *t, int mode, int shift,
                              uint64_t seed, float *out, uint8_t *rgb_u8) {
    int size = t->size;
    if (!mode) {
        /* Center crop (the plain preprocessing), then the shift below. */
        uint8_t *rgb = rgb_u8 ? rgb_u8 : mem_alloc((size_t)size * size * 3, "augment");
        if (!rgb) return CLIPC_ERR_NOMEM;
        clipc_status s = clipc_preprocess_transform(img, t, out, rgb);
        if (!s && shift > 0) {
            rng_state r;
            rng_seed(&r, seed ^ 0x5348494654ULL);
            int dx = (int)rng_below(&r, (uint64_t)(2 * shift + 1)) - shift;
            int dy = (int)rng_below(&r, (uint64_t)(2 * shift + 1)) - shift;
            shift_rgb(rgb, size, dx, dy);
            normalize_u8_tf(rgb, t, out);
        }
        if (!rgb_u8) free(rgb);
        return s;
    }
    if (!img || !img->data || img->width <= 0 || img->height <= 0 || img->channels < 1 ||
        img->channels > 4)
        return clipc_error(CLIPC_ERR_INVALID, "augment: bad image");
    if (t->rgb_first && (img->channels != 3 || img->nearest)) { /* as clipc_preprocess_transform */
        clipc_image rgb;
        clipc_status s = pil_convert_rgb(img, &rgb);
        if (!s) s = augment_image_tf(&rgb, t, mode, shift, seed, out, rgb_u8);
        clipc_image_free(&rgb);
        return s;
    }
    if (size <= 0 || size > 16384)
        return clipc_error(CLIPC_ERR_INVALID, "augment: bad output size %d", size);
    rng_state r;
    rng_seed(&r, seed);
    aug_params p;
    aug_sample(img->width, img->height, 0.5, 1.0, &r, &p);
    if (mode == 2) p.flip = 0; /* crop without the mirror (emoji, text: not mirror-invariant) */

    int ch = img->channels;
    clipc_image crop = {.width = p.w, .height = p.h, .channels = ch, .nearest = img->nearest};
    crop.data = mem_alloc((size_t)p.w * p.h * ch, "augment crop");
    if (!crop.data) return CLIPC_ERR_NOMEM;
    for (int y = 0; y < p.h; y++)
        memcpy(crop.data + (size_t)y * p.w * ch,
               img->data + ((size_t)(p.y + y) * img->width + p.x) * ch, (size_t)p.w * ch);
    clipc_image rs = {0};
    clipc_status s = pil_resize(&crop, size, size, &rs);
    clipc_image_free(&crop);
    if (s) return s;

    uint8_t *rgb = rgb_u8 ? rgb_u8 : mem_alloc((size_t)size * size * 3, "augment");
    if (!rgb) {
        clipc_image_free(&rs);
        return CLIPC_ERR_NOMEM;
    }
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int sx = p.flip ? size - 1 - x : x;
            const uint8_t *q = rs.data + ((size_t)y * size + sx) * ch;
            uint8_t *o = rgb + ((size_t)y * size + x) * 3;
            if (ch <= 2)
                o[0] = o[1] = o[2] = q[0];
            else
                o[0] = q[0], o[1] = q[1], o[2] = q[2];
        }
    clipc_image_free(&rs);
    if (shift > 0) {
        int dx = (int)rng_below(&r, (uint64_t)(2 * shift + 1)) - shift;
        int dy = (int)rng_below(&r, (uint64_t)(2 * shift + 1)) - shift;
        shift_rgb(rgb, size, dx, dy);
    }
    normalize_u8_tf(rgb, t, out);
    if (!rgb_u8) free(rgb);
    return CLIPC_OK;
}
