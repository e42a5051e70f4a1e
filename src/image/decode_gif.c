/*
 * decode_gif.c — GIF, first frame, via giflib.
 *
 * What Pillow 9.4's GifImagePlugin gives for frame 0, which is what
 * Image.open(f).convert("RGB") shows:
 *   - the canvas is the logical screen, grown to hold the first frame if the
 *     frame sticks out of it;
 *   - pixels outside the frame hold the frame's transparent index when it
 *     has one (Graphics Control Extension), else index 0;
 *   - indices map through the frame's local colour table, else the global
 *     one; indices past the table's end (and files with no table, which
 *     Pillow opens as "L") read as grey ramp entries (i, i, i), as Pillow's
 *     palette starts out;
 *   - transparency is ignored by convert("RGB"), so the result is RGB;
 *   - a palette that is exactly the grey ramp makes Pillow open mode "L",
 *     any other "P" (resized with NEAREST: `nearest`).
 * Only the records up to the first image are read, so a long animation
 * costs nothing more.  Interlaced frames are de-interlaced here (giflib
 * returns rows in file order).
 */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "image/decoders.h"
#include "clipc_util.h"

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} gif_src;

static int gif_read(GifFileType *g, GifByteType *dst, int n) {
    gif_src *s = g->UserData;
    size_t k = s->len - s->pos < (size_t)n ? s->len - s->pos : (size_t)n;
    memcpy(dst, s->p + s->pos, k);
    s->pos += k;
    return (int)k;
}

static clipc_status gif_fail(GifFileType *g, uint8_t *a, uint8_t *b, const char *name, int err) {
    int e2;
    if (g) DGifCloseFile(g, &e2);
    free(a);
    free(b);
    if (err == D_GIF_ERR_READ_FAILED || err == D_GIF_ERR_EOF_TOO_SOON)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: truncated GIF file", name);
    const char *m = GifErrorString(err);
    return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt GIF file: %s", name, m ? m : "no image in the file");
}

/* Reads records up to the first image descriptor; *trns receives the
 * transparent index of the graphics control block before it (-1: none). */
static int gif_first_image(GifFileType *g, int *trns) {
    *trns = -1;
    for (;;) {
        GifRecordType t;
        if (DGifGetRecordType(g, &t) == GIF_ERROR) return g->Error;
        if (t == IMAGE_DESC_RECORD_TYPE) return DGifGetImageDesc(g) == GIF_ERROR ? g->Error : 0;
        if (t == TERMINATE_RECORD_TYPE) return -1;
        if (t != EXTENSION_RECORD_TYPE) return D_GIF_ERR_WRONG_RECORD;
        int code;
        GifByteType *ext;
        if (DGifGetExtension(g, &code, &ext) == GIF_ERROR) return g->Error;
        while (ext) {
            if (code == GRAPHICS_EXT_FUNC_CODE && ext[0] >= 4) {
                GraphicsControlBlock gcb;
                if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) *trns = gcb.TransparentColor;
            }
            if (DGifGetExtensionNext(g, &ext) == GIF_ERROR) return g->Error;
        }
    }
}

clipc_status decode_gif(const void *buf, size_t len, const char *name, clipc_image *out) {
    gif_src src = {buf, len, 0};
    int err = 0;
    GifFileType *g = DGifOpen(&src, gif_read, &err);
    if (!g) return gif_fail(NULL, NULL, NULL, name, err);
    int trns;
    err = gif_first_image(g, &trns);
    if (err) return gif_fail(g, NULL, NULL, name, err);
    const GifImageDesc *d = &g->Image;
    unsigned long W = (unsigned long)g->SWidth, H = (unsigned long)g->SHeight;
    unsigned long fx1 = (unsigned long)d->Left + d->Width, fy1 = (unsigned long)d->Top + d->Height;
    if (fx1 > W) W = fx1;
    if (fy1 > H) H = fy1;
    clipc_status s = image_check_size(name, W, H);
    if (s) {
        DGifCloseFile(g, &err);
        return s;
    }
    if (d->Width <= 0 || d->Height <= 0) return gif_fail(g, NULL, NULL, name, D_GIF_ERR_NO_IMAG_DSCR);
    /* An LZW code is at least 3 bits (a minimum code size of 2, plus one)
     * and stands for at most 4096 pixels (the table's size), so the bytes
     * left can code at most left * 8 / 3 * 4096 pixels: a frame larger than
     * that is truncated whatever follows.  Refused before its canvas is
     * allocated: the image_gif fuzz target stopped on a 462-byte file whose
     * frame of 65535 x 2815 pixels took 186 MB (seconds under ASan) before
     * failing as truncated. */
    size_t left = src.len - src.pos;
    unsigned long long frame = (unsigned long long)d->Width * (unsigned long long)d->Height;
    if (frame > (unsigned long long)left * 8 / 3 * 4096 + 4096)
        return gif_fail(g, NULL, NULL, name, D_GIF_ERR_EOF_TOO_SOON);
    /* The canvas around the frame is fill that the file does not pay for:
     * the header alone can ask for 2^28 pixels (the campaign's next slow
     * input: a 17 x 54027 frame on a 4407-wide screen, 622 bytes for a
     * 238 Mpx canvas).  Beyond 2^24 pixels the canvas may be at most 64
     * times the frame. */
    if ((unsigned long long)W * H > (1ull << 24) && (unsigned long long)W * H > 64 * frame) {
        s = clipc_error(CLIPC_ERR_RANGE,
                        "%s: GIF canvas of %lu x %lu pixels around a first frame of %d x %d (limit: over 2^24 pixels, "
                        "at most 64 times the frame)",
                        name, W, H, d->Width, d->Height);
        DGifCloseFile(g, &err); /* d points into g: the message is made first */
        return s;
    }
    uint8_t *idx = malloc((size_t)W * H), *px = malloc((size_t)W * H * 3);
    if (!idx || !px) {
        DGifCloseFile(g, &err);
        free(idx);
        free(px);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    }
    memset(idx, trns >= 0 ? trns : 0, (size_t)W * H);
    /* Row order of an interlaced frame: passes start at 0, 4, 2, 1 with
     * steps 8, 8, 4, 2. */
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes; p++) {
        for (int y = d->Interlace ? start[p] : 0; y < d->Height; y += d->Interlace ? step[p] : 1) {
            uint8_t *row = idx + ((size_t)d->Top + y) * W + d->Left;
            if (DGifGetLine(g, row, d->Width) == GIF_ERROR) return gif_fail(g, idx, px, name, g->Error);
        }
    }
    const ColorMapObject *cm = d->ColorMap ? d->ColorMap : g->SColorMap;
    uint8_t pal[256][3];
    int grey_ramp = 1;
    for (int i = 0; i < 256; i++) {
        if (cm && i < cm->ColorCount) {
            pal[i][0] = cm->Colors[i].Red, pal[i][1] = cm->Colors[i].Green, pal[i][2] = cm->Colors[i].Blue;
            if (pal[i][0] != i || pal[i][1] != i || pal[i][2] != i) grey_ramp = 0;
        } else {
            pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
        }
    }
    for (size_t i = 0; i < (size_t)W * H; i++) memcpy(px + 3 * i, pal[idx[i]], 3);
    free(idx);
    DGifCloseFile(g, &err);
    out->width = (int)W;
    out->height = (int)H;
    out->channels = 3;
    out->nearest = !grey_ramp;
    out->data = px;
    return CLIPC_OK;
}
