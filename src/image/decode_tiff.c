/*
 * decode_tiff.c — TIFF (first page) via libtiff.
 *
 * Pillow 9.4 decodes TIFFs through libtiff too (compressed ones) or its own
 * unpackers (raw ones); both give the samples as stored.  We use libtiff's
 * RGBA interface (TIFFRGBAImage), which handles every compression,
 * photometric, bit depth and layout libtiff knows, with these adjustments so
 * the result is what Image.open(f).convert("RGB") gives:
 *   - 8-bit grey/RGB (+ alpha) and 16-bit grey/RGB, chunky or planar, are
 *     read as stored samples (TIFFRGBAImage premultiplies unassociated alpha and scales
 *     16 bits; Pillow does neither: it clips "I;16" to 255 and keeps the
 *     high byte of 16-bit RGB);
 *   - rows come out in the order they are stored (libtiff's requested
 *     orientation is set to the file's own, so it flips nothing); decode.c
 *     then applies the Orientation tag as Pillow does on load, including
 *     the transpositions (5..8) libtiff's RGBA interface cannot do;
 *   - palette images are read as indices and mapped with Pillow's rule
 *     (16-bit colormap entries >> 8; libtiff would scale by 255/65535,
 *     which differs for some entries), and marked `nearest` ("P");
 *   - channels follow Pillow's mode: grey -> 1 ("L", "1" marked `nearest`),
 *     grey + alpha -> 2, RGB -> 3, with an alpha extra sample -> 4.
 * Differences from Pillow that remain are listed in docs/using.md.  libtiff's
 * messages go to a per-handle handler, never to stderr; the last error is
 * quoted in ours.  libtiff's single allocation is capped at 1 GiB.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image/decoders.h"
#include "clipc_util.h"

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    char err[256];
} tiff_src;

static tmsize_t t_read(thandle_t h, void *dst, tmsize_t n) {
    tiff_src *s = h;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (s->pos >= s->len) return 0;
    if (k > s->len - s->pos) k = s->len - s->pos;
    memcpy(dst, s->p + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}
static tmsize_t t_write(thandle_t h, void *src, tmsize_t n) {
    (void)h, (void)src, (void)n;
    return -1;
}
static toff_t t_seek(thandle_t h, toff_t off, int whence) {
    tiff_src *s = h;
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->len : 0;
    s->pos = (size_t)(base + off); /* reads past the end return 0 bytes */
    return (toff_t)s->pos;
}
static int t_close(thandle_t h) {
    (void)h;
    return 0;
}
static toff_t t_size(thandle_t h) { return ((tiff_src *)h)->len; }
static int t_map(thandle_t h, void **base, toff_t *size) {
    (void)h, (void)base, (void)size;
    return 0;
}
static void t_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int t_error(TIFF *t, void *ud, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)module;
    tiff_src *s = ud;
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    return 1;
}
static int t_warning(TIFF *t, void *ud, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)ud, (void)module, (void)fmt, (void)ap;
    return 1;
}

static clipc_status tiff_fail(TIFF *t, void *a, const tiff_src *s, const char *name, const char *what) {
    if (t) TIFFClose(t);
    free(a);
    return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt TIFF file: %s", name,
                       s->err[0] ? s->err : what);
}

/* Palette image with 1..8-bit indices, one sample: Pillow's "P". */
static clipc_status tiff_palette(TIFF *t, tiff_src *s, const char *name, uint32_t w, uint32_t h, int bps,
                                 uint8_t *px) {
    uint16_t *r, *g, *b;
    if (!TIFFGetField(t, TIFFTAG_COLORMAP, &r, &g, &b)) return tiff_fail(NULL, NULL, s, name, "no colormap");
    tmsize_t sl = TIFFScanlineSize(t);
    if (TIFFIsTiled(t) || sl <= 0 || (uint64_t)sl * 8 < (uint64_t)w * bps)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: tiled or odd-layout palette TIFF not supported", name);
    uint8_t *row = malloc((size_t)sl);
    if (!row) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    int ncol = 1 << bps;
    for (uint32_t y = 0; y < h; y++) {
        if (TIFFReadScanline(t, row, y, 0) < 0) return tiff_fail(NULL, row, s, name, "cannot read a row");
        for (uint32_t x = 0; x < w; x++) {
            size_t bit = (size_t)x * bps;
            int i = (row[bit / 8] >> (8 - bps - bit % 8)) & (ncol - 1);
            uint8_t *o = px + ((size_t)y * w + x) * 3;
            o[0] = (uint8_t)(r[i] >> 8), o[1] = (uint8_t)(g[i] >> 8), o[2] = (uint8_t)(b[i] >> 8);
        }
    }
    free(row);
    return CLIPC_OK;
}

/* Reads plane `plane` of the samples as stored (strips or tiles) into
 * `raw` (w * h * pix_bytes bytes, host byte order for 16 bits): the whole
 * pixel when the layout is chunky (plane 0), one sample of it when the
 * planes are separate. */
static int tiff_read_plane(TIFF *t, uint32_t w, uint32_t h, size_t pix_bytes, uint16_t plane, uint8_t *raw) {
    size_t rowb = (size_t)w * pix_bytes;
    if (!TIFFIsTiled(t)) {
        uint32_t rps = h;
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
        if (rps == 0 || rps > h) rps = h;
        for (uint32_t y = 0; y < h; y += rps) {
            uint32_t rows = h - y < rps ? h - y : rps;
            tmsize_t want = (tmsize_t)(rows * rowb);
            if (TIFFReadEncodedStrip(t, TIFFComputeStrip(t, y, plane), raw + y * rowb, want) < want) return 0;
        }
        return 1;
    }
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    tmsize_t tsz = TIFFTileSize(t);
    if (!tw || !th || tsz < (tmsize_t)((size_t)tw * th * pix_bytes)) return 0;
    uint8_t *tb = malloc((size_t)tsz);
    if (!tb) return 0;
    for (uint32_t y0 = 0; y0 < h; y0 += th)
        for (uint32_t x0 = 0; x0 < w; x0 += tw) {
            if (TIFFReadTile(t, tb, x0, y0, 0, plane) < 0) {
                free(tb);
                return 0;
            }
            uint32_t cw = w - x0 < tw ? w - x0 : tw, chh = h - y0 < th ? h - y0 : th;
            for (uint32_t y = 0; y < chh; y++)
                memcpy(raw + (size_t)(y0 + y) * rowb + x0 * pix_bytes, tb + (size_t)y * tw * pix_bytes,
                       cw * pix_bytes);
        }
    free(tb);
    return 1;
}

/* All samples, chunky (w * h * spp * bytes), whatever the planar layout. */
static int tiff_read_raw(TIFF *t, uint32_t w, uint32_t h, int spp, int bytes, int planar, uint8_t *raw) {
    if (planar == PLANARCONFIG_CONTIG || spp == 1) return tiff_read_plane(t, w, h, (size_t)spp * bytes, 0, raw);
    size_t npix = (size_t)w * h;
    uint8_t *one = malloc(npix * bytes);
    if (!one) return 0;
    for (int c = 0; c < spp; c++) {
        if (!tiff_read_plane(t, w, h, (size_t)bytes, (uint16_t)c, one)) {
            free(one);
            return 0;
        }
        for (size_t i = 0; i < npix; i++) memcpy(raw + (i * spp + c) * bytes, one + i * bytes, (size_t)bytes);
    }
    free(one);
    return 1;
}

clipc_status decode_tiff(const void *buf, size_t len, const char *name, clipc_image *out, int *orientation) {
    tiff_src s = {buf, len, 0, {0}};
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    TIFFOpenOptionsSetErrorHandlerExtR(o, t_error, &s);
    TIFFOpenOptionsSetWarningHandlerExtR(o, t_warning, &s);
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)1 << 30);
    /* "m": no mmap (we give no map procs anyway); "h": headers only until
     * asked (libtiff reads the first directory in any case). */
    TIFF *t = TIFFClientOpenExt(name, "rm", &s, t_read, t_write, t_seek, t_close, t_size, t_map, t_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!t) return tiff_fail(NULL, NULL, &s, name, "cannot read its header");
    uint32_t w = 0, h = 0;
    uint16_t photo = 0, spp = 1, bps = 1, orient = 1, nextra = 0, *extra = NULL;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &orient);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    clipc_status st = image_check_size(name, w, h);
    if (st) {
        TIFFClose(t);
        return st;
    }
    if (orientation) *orientation = orient >= 1 && orient <= 8 ? orient : 1;
    int alpha = nextra > 0 && extra && (extra[0] == EXTRASAMPLE_ASSOCALPHA || extra[0] == EXTRASAMPLE_UNASSALPHA);
    int grey = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE;
    int pal = photo == PHOTOMETRIC_PALETTE && spp == 1 && (bps == 1 || bps == 2 || bps == 4 || bps == 8);
    int ch = pal ? 3 : grey ? 1 + alpha : 3 + alpha;
    size_t npix = (size_t)w * h;
    uint8_t *px = malloc(npix * ch);
    if (!px) {
        TIFFClose(t);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    }
    uint16_t planar = PLANARCONFIG_CONTIG;
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    /* Samples as stored, like Pillow's unpackers: 8-bit grey/RGB with or
     * without alpha (libtiff's RGBA interface would premultiply unassociated
     * alpha), 16-bit grey (Pillow's "I;16", which convert("RGB") clips to
     * 255; libtiff would scale) and 16-bit RGB(A) (high byte, "RGB;16"). */
    int raw_ok = !pal && (photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_RGB) && spp == ch &&
                 nextra == (uint16_t)alpha && (planar == PLANARCONFIG_CONTIG || planar == PLANARCONFIG_SEPARATE) &&
                 (bps == 8 || (bps == 16 && !(grey && alpha)));
    if (raw_ok) {
        size_t pb = (size_t)spp * bps / 8;
        uint8_t *raw = malloc(npix * pb);
        if (!raw) {
            free(px);
            TIFFClose(t);
            return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
        }
        if (!tiff_read_raw(t, w, h, spp, bps / 8, planar, raw)) {
            free(px);
            return tiff_fail(t, raw, &s, name, "cannot read its pixels");
        }
        TIFFClose(t);
        if (bps == 8) {
            memcpy(px, raw, npix * ch);
        } else {
            const uint16_t *r16 = (const uint16_t *)(void *)raw;
            for (size_t i = 0; i < npix * ch; i++)
                px[i] = grey ? (uint8_t)(r16[i] > 255 ? 255 : r16[i]) : (uint8_t)(r16[i] >> 8);
        }
        free(raw);
    } else if (pal) {
        st = tiff_palette(t, &s, name, w, h, bps, px);
        TIFFClose(t);
        if (st) {
            free(px);
            return st;
        }
    } else {
        char emsg[1024] = "";
        TIFFRGBAImage img;
        if (!TIFFRGBAImageOK(t, emsg) || !TIFFRGBAImageBegin(&img, t, 0, emsg)) {
            TIFFClose(t);
            free(px);
            return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported TIFF: %s", name, emsg);
        }
        img.req_orientation = orient >= 1 && orient <= 8 ? orient : ORIENTATION_TOPLEFT;
        uint32_t *raster = malloc(npix * 4);
        int ok = raster && TIFFRGBAImageGet(&img, raster, w, h);
        TIFFRGBAImageEnd(&img);
        if (!ok) {
            free(px);
            if (!raster) {
                TIFFClose(t);
                return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
            }
            return tiff_fail(t, raster, &s, name, "cannot decode its pixels");
        }
        TIFFClose(t);
        for (size_t i = 0; i < npix; i++) {
            uint32_t v = raster[i];
            uint8_t c[4] = {(uint8_t)TIFFGetR(v), (uint8_t)TIFFGetG(v), (uint8_t)TIFFGetB(v), (uint8_t)TIFFGetA(v)};
            uint8_t *d = px + i * ch;
            if (ch == 1) d[0] = c[0];
            else if (ch == 2) d[0] = c[0], d[1] = c[3];
            else memcpy(d, c, ch);
        }
        free(raster);
    }
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    out->nearest = pal || (grey && bps == 1 && !alpha);
    out->data = px;
    return CLIPC_OK;
}
