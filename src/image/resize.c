/*
 * resize.c — Pillow's image resampling, replicated bit for bit.
 *
 * OpenAI's CLIP preprocessing resizes with PIL.Image.resize(..., BICUBIC).
 * A "correct" bicubic from any other library differs by one or more grey
 * levels on many pixels, so this file re-implements the exact arithmetic of
 * Pillow 9.4's libImaging/Resample.c (and the NEAREST path in Geometry.c):
 *   - separable: the horizontal pass first (only over the rows the vertical
 *     pass will read), then the vertical pass; a pass is skipped when that
 *     dimension keeps its size;
 *   - per output sample a window [xmin, xmin+xmax) of the input, computed in
 *     double exactly as precompute_coeffs() does, with the cubic kernel
 *     (a = -0.5) stretched by the downscale factor (antialiasing);
 *   - weights normalised to sum 1, then rounded to 22-bit fixed point
 *     (PRECISION_BITS = 32 - 8 - 2) half away from zero;
 *   - each pass accumulates in int starting at 1 << (PRECISION_BITS - 1)
 *     (rounding) and clamps to 0..255 into a uint8 intermediate.
 * Images with alpha are resized premultiplied, as Image.resize converts
 * "RGBA"/"LA" to "RGBa"/"La" and back.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}
#define BICUBIC_SUPPORT 2.0

/* precompute_coeffs() + normalize_coeffs_8bpc(): for each output index the
 * first input index and count (bounds[2*i], bounds[2*i+1]) and ksize fixed-
 * point weights.  in0/in1 are Pillow's float box (0, inSize). */
static int precompute_coeffs(int in_size, float in0, float in1, int out_size, int **boundsp,
                             int32_t **kkp) {
    double scale, filterscale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = BICUBIC_SUPPORT * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = malloc((size_t)out_size * ksize * sizeof(double));
    int *bounds = malloc((size_t)out_size * 2 * sizeof(int));
    int32_t *kk32 = malloc((size_t)out_size * ksize * sizeof(int32_t));
    if (!kk || !bounds || !kk32) {
        free(kk), free(bounds), free(kk32);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); /* truncation, as Pillow */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        kk32[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS))
                            : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
    free(kk);
    *boundsp = bounds;
    *kkp = kk32;
    return ksize;
}

static inline uint8_t clip8(int in) {
    if (in >= (1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* Rows [row0, row0 + oh) of `in` (width w) resampled to width ow. */
static void resample_h(const uint8_t *in, int w, int ch, int row0, uint8_t *out, int ow, int oh,
                       int ksize, const int *bounds, const int32_t *kk) {
    for (int yy = 0; yy < oh; yy++) {
        const uint8_t *src = in + (size_t)(yy + row0) * w * ch;
        uint8_t *dst = out + (size_t)yy * ow * ch;
        for (int xx = 0; xx < ow; xx++) {
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = &kk[(size_t)xx * ksize];
            for (int c = 0; c < ch; c++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++) ss += src[(size_t)(x + xmin) * ch + c] * k[x];
                dst[(size_t)xx * ch + c] = clip8(ss);
            }
        }
    }
}

static void resample_v(const uint8_t *in, int w, int ch, uint8_t *out, int oh, int ksize,
                       const int *bounds, const int32_t *kk) {
    size_t stride = (size_t)w * ch;
    for (int yy = 0; yy < oh; yy++) {
        int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        const int32_t *k = &kk[(size_t)yy * ksize];
        uint8_t *dst = out + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) ss += in[(size_t)(y + ymin) * stride + i] * k[y];
            dst[i] = clip8(ss);
        }
    }
}

clipc_status resize_bicubic(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow,
                                  int oh) {
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0 || ch <= 0)
        return clipc_error(CLIPC_ERR_INVALID, "resize: bad size %dx%d -> %dx%d", w, h, ow, oh);
    int need_h = ow != w, need_v = oh != h;
    if (!need_h && !need_v) {
        memcpy(out, in, (size_t)w * h * ch);
        return CLIPC_OK;
    }
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    clipc_status s = CLIPC_OK;
    int ksh = precompute_coeffs(w, 0.0f, (float)w, ow, &bh, &kh);
    int ksv = precompute_coeffs(h, 0.0f, (float)h, oh, &bv, &kv);
    if (!ksh || !ksv) {
        s = clipc_error(CLIPC_ERR_NOMEM, "resize: out of memory for coefficients");
        goto done;
    }
    /* Rows of the input the vertical pass will read. */
    int ybox_first = bv[0];
    int ybox_last = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    if (need_h && need_v) {
        for (int i = 0; i < oh; i++) bv[i * 2] -= ybox_first;
        int th = ybox_last - ybox_first;
        tmp = malloc((size_t)ow * th * ch);
        if (!tmp) {
            s = clipc_error(CLIPC_ERR_NOMEM, "resize: out of memory for %dx%d intermediate", ow, th);
            goto done;
        }
        resample_h(in, w, ch, ybox_first, tmp, ow, th, ksh, bh, kh);
        resample_v(tmp, ow, ch, out, oh, ksv, bv, kv);
    } else if (need_h) {
        resample_h(in, w, ch, 0, out, ow, h, ksh, bh, kh);
    } else {
        resample_v(in, w, ch, out, oh, ksv, bv, kv);
    }
done:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return s;
}

/* Geometry.c's ImagingScaleAffine with a = (w/ow, 0, 0, 0, h/oh, 0): the
 * source coordinate starts at half a step and is accumulated (not
 * multiplied), so the same double rounding happens as in Pillow. */
clipc_status resize_nearest(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow,
                                  int oh) {
    double a0 = (double)w / ow, a4 = (double)h / oh;
    int *xin = mem_alloc((size_t)ow * sizeof(int), "nearest-resize table");
    if (!xin) return CLIPC_ERR_NOMEM;
    double xo = a0 * 0.5, yo = a4 * 0.5;
    for (int x = 0; x < ow; x++) {
        int xi = (int)xo; /* xo >= 0: Pillow's COORD() is plain truncation here */
        xin[x] = xi >= w ? w - 1 : xi;
        xo += a0;
    }
    for (int y = 0; y < oh; y++) {
        int yi = (int)yo;
        if (yi >= h) yi = h - 1;
        const uint8_t *src = in + (size_t)yi * w * ch;
        uint8_t *dst = out + (size_t)y * ow * ch;
        for (int x = 0; x < ow; x++) memcpy(dst + (size_t)x * ch, src + (size_t)xin[x] * ch, ch);
        yo += a4;
    }
    free(xin);
    return CLIPC_OK;
}

/* Pillow's MULDIV255: a*b/255 rounded, without a division. */
static inline unsigned muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

clipc_status pil_resize(const clipc_image *in, int ow, int oh, clipc_image *out) {
    memset(out, 0, sizeof *out);
    int ch = in->channels;
    if (ch < 1 || ch > 4 || !in->data)
        return clipc_error(CLIPC_ERR_INVALID, "resize: bad image (%d channels)", ch);
    size_t n;
    if (mul_overflow((size_t)ow * oh, (size_t)ch, &n))
        return clipc_error(CLIPC_ERR_RANGE, "resize: output %dx%d too large", ow, oh);
    out->data = mem_alloc(n, "resized image");
    if (!out->data) return CLIPC_ERR_NOMEM;
    out->width = ow, out->height = oh, out->channels = ch, out->nearest = in->nearest;
    size_t npix = (size_t)in->width * in->height;
    if (ow == in->width && oh == in->height) {
        memcpy(out->data, in->data, n);
        return CLIPC_OK;
    }
    if (in->nearest) {
        clipc_status s = resize_nearest(in->data, in->width, in->height, ch, out->data, ow, oh);
        if (s) clipc_image_free(out);
        return s;
    }
    int alpha = ch == 2 || ch == 4;
    const uint8_t *src = in->data;
    uint8_t *pre = NULL;
    if (alpha) {
        /* rgbA2rgba / lA2la: premultiply by alpha. */
        pre = mem_alloc(npix * ch, "premultiplied image");
        if (!pre) {
            clipc_image_free(out);
            return CLIPC_ERR_NOMEM;
        }
        for (size_t i = 0; i < npix; i++) {
            const uint8_t *p = in->data + i * ch;
            uint8_t *q = pre + i * ch;
            unsigned a = p[ch - 1];
            for (int c = 0; c < ch - 1; c++) q[c] = (uint8_t)muldiv255(p[c], a);
            q[ch - 1] = (uint8_t)a;
        }
        src = pre;
    }
    clipc_status s = resize_bicubic(src, in->width, in->height, ch, out->data, ow, oh);
    free(pre);
    if (s) {
        clipc_image_free(out);
        return s;
    }
    if (alpha) {
        /* rgba2rgbA / la2lA: undo it (alpha 0 and 255 are left alone). */
        for (size_t i = 0; i < (size_t)ow * oh; i++) {
            uint8_t *q = out->data + i * ch;
            unsigned a = q[ch - 1];
            if (a == 0 || a == 255) continue;
            for (int c = 0; c < ch - 1; c++) {
                unsigned v = 255u * q[c] / a;
                q[c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
    return CLIPC_OK;
}
