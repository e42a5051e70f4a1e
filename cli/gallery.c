/*
 * gallery.c — pictures of search results: a self-contained HTML page (every
 * thumbnail inlined as a data: URI, so the page can be mailed or opened
 * offline) and a 3x3 PNG grid like the tutorial's find_matches plot.
 * Thumbnails are clipc_preprocess's uint8 center crops (Pillow-exact
 * bicubic), encoded with libspng; base64 is OpenSSL's EVP_EncodeBlock.
 */
#include <openssl/evp.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "cli.h"

/* The center crop of an image file, size x size RGB; NULL (warning printed) on failure. */
static uint8_t *thumb(const char *path, int size) {
    clipc_image im;
    if (clipc_image_load(path, &im)) {
        fprintf(stderr, "clipc: warning: %s\n", clipc_last_error());
        return NULL;
    }
    float *px = malloc(sizeof(float) * 3 * (size_t)size * size);
    uint8_t *rgb = malloc((size_t)3 * size * size);
    clipc_status s = px && rgb ? clipc_preprocess(&im, size, px, rgb) : CLIPC_ERR_NOMEM;
    clipc_image_free(&im);
    free(px);
    if (s) {
        fprintf(stderr, "clipc: warning: %s: %s\n", path, clipc_last_error());
        free(rgb);
        return NULL;
    }
    return rgb;
}

/* RGB8 -> PNG bytes in memory (malloc'ed). */
static uint8_t *png_encode(const uint8_t *rgb, int w, int h, size_t *len) {
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return NULL;
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
    spng_set_ihdr(ctx, &ihdr);
    int err = spng_encode_image(ctx, rgb, (size_t)w * h * 3, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    uint8_t *out = err ? NULL : spng_get_png_buffer(ctx, len, &err);
    spng_ctx_free(ctx);
    return err ? NULL : out;
}

static void html_text(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '&') fputs("&amp;", f);
        else if (*p == '<') fputs("&lt;", f);
        else if (*p == '>') fputs("&gt;", f);
        else if (*p == '"') fputs("&quot;", f);
        else if (*p >= 0x80 && !((*p & 0xC0) == 0x80 || (*p & 0xE0) == 0xC0 || (*p & 0xF0) == 0xE0 || (*p & 0xF8) == 0xF0))
            fprintf(f, "%%%02X", *p); /* not a UTF-8 byte at all: show it escaped */
        else fputc(*p, f);
    }
}

int gallery_write_html(const char *out, const char *title, char *const *paths, const float *scores, int n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>clipc search: ", f);
    html_text(f, title);
    fputs("</title>\n<style>body{font-family:sans-serif;background:#fff;margin:16px}"
          ".g{display:flex;flex-wrap:wrap;gap:12px}.c{width:200px}"
          ".c img{width:200px;height:200px;display:block;border:1px solid #ccc}"
          ".c p{font-size:12px;word-break:break-all;margin:4px 0}</style></head><body>\n<h1>", f);
    html_text(f, title);
    fputs("</h1>\n<div class=\"g\">\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "<div class=\"c\"><p>#%d &middot; %.4f</p>", i + 1, (double)scores[i]);
        uint8_t *rgb = thumb(paths[i], 200);
        size_t plen = 0;
        uint8_t *png = rgb ? png_encode(rgb, 200, 200, &plen) : NULL;
        if (png) {
            char *b64 = malloc(4 * ((plen + 2) / 3) + 1);
            if (b64) {
                EVP_EncodeBlock((unsigned char *)b64, png, (int)plen);
                fprintf(f, "<img alt=\"result %d\" src=\"data:image/png;base64,%s\">", i + 1, b64);
            }
            free(b64);
        } else {
            fputs("<div style=\"width:200px;height:200px;background:#eee\">unreadable</div>", f);
        }
        free(png);
        free(rgb);
        fputs("<p>", f);
        html_text(f, paths[i]);
        fputs("</p></div>\n", f);
    }
    fputs("</div>\n</body></html>\n", f);
    fclose(f);
    clipc_status s = clipc_write_file_atomic(out, buf, len);
    free(buf);
    return s ? cli_report(s) : 0;
}

int gallery_write_grid(const char *out, char *const *paths, int n, int cell) {
    int W = 3 * cell;
    uint8_t *img = calloc((size_t)W * W * 3, 1); /* black where there is no result */
    if (!img) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    for (int i = 0; i < n && i < 9; i++) {
        uint8_t *rgb = thumb(paths[i], cell);
        if (!rgb) continue;
        int r0 = (i / 3) * cell, c0 = (i % 3) * cell;
        for (int y = 0; y < cell; y++)
            memcpy(img + ((size_t)(r0 + y) * W + c0) * 3, rgb + (size_t)y * cell * 3, (size_t)cell * 3);
        free(rgb);
    }
    size_t len = 0;
    uint8_t *png = png_encode(img, W, W, &len);
    free(img);
    if (!png) return cli_report(clipc_error(CLIPC_ERR_IO, "%s: PNG encoding failed", out));
    clipc_status s = clipc_write_file_atomic(out, png, len);
    free(png);
    return s ? cli_report(s) : 0;
}
