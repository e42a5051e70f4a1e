/*
 * decode_bmp.c — Windows/OS2 bitmaps, by hand.
 *
 * Why by hand: Debian has no BMP library that follows Pillow's reading rules
 * (stb_image, for one, guesses alpha in 32-bit BI_RGB files and accepts
 * layouts Pillow refuses), and the format is a header plus raw rows.  The
 * rules are those of Pillow 9.4's BmpImagePlugin, so pixels equal
 * Image.open(f).convert("RGB"):
 *   - headers of 12 (OS/2 core: 16-bit sides, 3-byte palette entries), 40,
 *     64, 108 and 124 bytes; other sizes are refused;
 *   - a negative height (its top byte 0xFF) means rows top-down, else
 *     bottom-up; rows are padded to 4 bytes;
 *   - BI_RGB: 1, 4, 8 bits through a palette (clrUsed entries, 2^bits when
 *     0; a palette that is the grey ramp makes "1"/"L", anything else "P",
 *     both but "L" resampled NEAREST; indices past the palette read as
 *     grey (i, i, i) as in Pillow's fresh palette), 16 bits as 5-5-5, 24 as
 *     BGR, 32 as BGRX (the fourth byte is ignored: Pillow opens it "RGB");
 *   - BI_BITFIELDS: only Pillow's layouts — 32 bits with masks
 *     BGRX/XBGR/ABGR/RGBA/BGRA (all zero = BGRA), 24 bits BGR, 16 bits 5-6-5
 *     and 5-5-5 — each channel scaled as Pillow's unpackers do (v*255/31,
 *     v*255/63, truncating); masks follow a 40-byte header, else are in it;
 *   - a bfOffBits pointing just past the header of a palette image skips
 *     the palette, as Pillow does;
 *   - RLE4/RLE8 and other compressions are refused (CLIPC_ERR_UNSUPPORTED),
 *     as are 2-bit images.
 */
#include <stdlib.h>
#include <string.h>

#include "image/decoders.h"
#include "clipc_util.h"

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

typedef struct {
    uint32_t w, h, bits, compression, colors, hsize;
    int topdown, pad;          /* pad: palette entry size, 3 or 4 */
    uint32_t mask[4];          /* r, g, b, a for BI_BITFIELDS */
    size_t pal_at, pixels_at;  /* offsets in the file */
} bmp_info;

enum { BI_RGB = 0, BI_BITFIELDS = 3 };

static clipc_status bmp_header(const uint8_t *b, size_t len, const char *name, bmp_info *bi) {
    memset(bi, 0, sizeof *bi);
    if (len < 18) return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated BMP file", name);
    bi->hsize = le32(b + 14);
    if (bi->hsize != 12 && bi->hsize != 40 && bi->hsize != 64 && bi->hsize != 108 && bi->hsize != 124)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported BMP header type (%u bytes)", name, bi->hsize);
    if (len < 14 + (size_t)bi->hsize) return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated BMP file", name);
    const uint8_t *h = b + 18; /* header data after its size field */
    size_t pos = 14 + bi->hsize;
    if (bi->hsize == 12) {
        bi->w = le16(h), bi->h = le16(h + 2), bi->bits = le16(h + 6);
        bi->pad = 3;
    } else {
        bi->topdown = h[7] == 0xFF;
        bi->w = le32(h), bi->h = bi->topdown ? (uint32_t)(0u - le32(h + 4)) : le32(h + 4);
        bi->bits = le16(h + 10), bi->compression = le32(h + 12), bi->colors = le32(h + 28);
        bi->pad = 4;
        if (bi->compression == BI_BITFIELDS) {
            if (bi->hsize >= 56) {
                for (int i = 0; i < 4; i++) bi->mask[i] = le32(h + 36 + 4 * i);
            } else {
                if (len < pos + 12) return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated BMP file", name);
                for (int i = 0; i < 3; i++) bi->mask[i] = le32(b + pos + 4 * i);
                pos += 12;
            }
        }
    }
    if (!bi->colors) bi->colors = bi->bits < 32 ? 1u << bi->bits : 0;
    bi->pal_at = pos;
    bi->pixels_at = le32(b + 10);
    if (bi->pixels_at == 14 + bi->hsize && bi->bits <= 8) bi->pixels_at += 4 * (size_t)bi->colors;
    return image_check_size(name, bi->w, bi->h);
}

/* Byte positions of R, G, B (and A, -1: none) in a 32-bit pixel for
 * Pillow's supported masks; 0 when the masks are not among them. */
static int bmp_masks32(const uint32_t m[4], int pos[4]) {
    static const uint32_t ok[6][4] = {
        {0xFF0000, 0xFF00, 0xFF, 0}, {0xFF000000, 0xFF0000, 0xFF00, 0}, {0xFF000000, 0xFF0000, 0xFF00, 0xFF},
        {0xFF, 0xFF00, 0xFF0000, 0xFF000000}, {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, {0, 0, 0, 0}};
    for (int k = 0; k < 6; k++) {
        if (memcmp(m, ok[k], sizeof ok[k])) continue;
        if (k == 5) { /* all zero: BGRA */
            pos[0] = 2, pos[1] = 1, pos[2] = 0, pos[3] = 3;
            return 1;
        }
        for (int c = 0; c < 4; c++) {
            uint32_t v = m[c];
            int p = -1;
            for (int i = 0; v && i < 4; i++)
                if (v == 0xFFu << (8 * i)) p = i;
            pos[c] = p;
        }
        return 1;
    }
    return 0;
}

/* Converts one stored row to the output channels.  kind: 0 palette, 1
 * BGR;15, 2 BGR;16, 3 BGR, 4 32-bit with byte positions pos[]. */
static void bmp_row(const uint8_t *in, uint8_t *o, const bmp_info *bi, int kind, const uint8_t (*pal)[3],
                    const int pos[4], int ch) {
    for (uint32_t x = 0; x < bi->w; x++, o += ch) {
        if (kind == 0) {
            size_t bit = (size_t)x * bi->bits;
            int i = (in[bit / 8] >> (8 - bi->bits - bit % 8)) & ((1 << bi->bits) - 1);
            memcpy(o, pal[i], 3);
        } else if (kind == 1 || kind == 2) {
            unsigned v = le16(in + 2 * x);
            if (kind == 1)
                o[0] = (uint8_t)(((v >> 10) & 31) * 255 / 31), o[1] = (uint8_t)(((v >> 5) & 31) * 255 / 31);
            else
                o[0] = (uint8_t)(((v >> 11) & 31) * 255 / 31), o[1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
            o[2] = (uint8_t)((v & 31) * 255 / 31);
        } else if (kind == 3) {
            const uint8_t *p = in + 3 * x;
            o[0] = p[2], o[1] = p[1], o[2] = p[0];
        } else {
            const uint8_t *p = in + 4 * x;
            for (int c = 0; c < ch; c++) o[c] = p[pos[c]];
        }
    }
}

clipc_status decode_bmp(const void *buf, size_t len, const char *name, clipc_image *out) {
    const uint8_t *b = buf;
    bmp_info bi;
    clipc_status s = bmp_header(b, len, name, &bi);
    if (s) return s;
    int kind, ch = 3, pos[4] = {2, 1, 0, -1}, nearest = 0;
    uint8_t pal[256][3];
    if (bi.compression == BI_RGB) {
        switch (bi.bits) {
        case 1: case 4: case 8: kind = 0; break;
        case 16: kind = 1; break;
        case 24: kind = 3; break;
        case 32: kind = 4; break;
        default:
            return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported BMP pixel depth (%u bits)", name, bi.bits);
        }
    } else if (bi.compression == BI_BITFIELDS) {
        const uint32_t *m = bi.mask;
        if (bi.bits == 32 && bmp_masks32(m, pos)) kind = 4, ch = pos[3] >= 0 ? 4 : 3;
        else if (bi.bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF) kind = 3;
        else if (bi.bits == 16 && m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) kind = 2;
        else if (bi.bits == 16 && m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F) kind = 1;
        else return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported BMP bitfields layout", name);
    } else {
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: unsupported BMP compression (%u%s)", name, bi.compression,
                           bi.compression == 1 || bi.compression == 2 ? ": RLE" : "");
    }
    if (kind == 0) {
        if (bi.colors == 0 || bi.colors > 65536)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: unsupported BMP palette size (%u)", name, bi.colors);
        size_t n = bi.colors < 256 ? bi.colors : 256;
        if (bi.pal_at + (size_t)bi.pad * bi.colors > len)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated BMP file (palette)", name);
        int grey = 1;
        for (size_t i = 0; i < 256; i++) {
            if (i < n) {
                const uint8_t *e = b + bi.pal_at + i * bi.pad;
                pal[i][0] = e[2], pal[i][1] = e[1], pal[i][2] = e[0];
            } else {
                pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
            }
        }
        for (size_t i = 0; i < bi.colors && i < 256; i++) {
            unsigned want = bi.colors == 2 ? (i ? 255 : 0) : (unsigned)i;
            if (pal[i][0] != want || pal[i][1] != want || pal[i][2] != want) grey = 0;
        }
        if (bi.colors > 256) grey = 0;
        nearest = !grey || bi.colors == 2;
    }
    size_t stride = (((size_t)bi.w * bi.bits + 31) >> 3) & ~(size_t)3;
    if (bi.pixels_at > len || (len - bi.pixels_at) / stride < bi.h)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated BMP file (%zu bytes of pixels, %zu needed)", name,
                           bi.pixels_at > len ? 0 : len - bi.pixels_at, stride * bi.h);
    uint8_t *px = malloc((size_t)bi.w * bi.h * ch);
    if (!px) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    for (uint32_t y = 0; y < bi.h; y++) {
        uint32_t row = bi.topdown ? y : bi.h - 1 - y;
        bmp_row(b + bi.pixels_at + (size_t)row * stride, px + (size_t)y * bi.w * ch, &bi, kind,
                (const uint8_t(*)[3])pal, pos, ch);
    }
    out->width = (int)bi.w;
    out->height = (int)bi.h;
    out->channels = ch;
    out->nearest = nearest;
    out->data = px;
    return CLIPC_OK;
}
