/*
 * encode_jpeg.c — JPEG encoding to memory with libjpeg-turbo (see
 * encode_jpeg.h).  libjpeg reports errors through error_exit, which would
 * call exit(); as in decode.c it longjmps back here instead, so a failure
 * becomes a clipc_status and the library never exits.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */

#include "base/error.h"
#include "image/encode_jpeg.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} enc_err;

static void enc_error_exit(j_common_ptr cinfo) {
    enc_err *e = (enc_err *)(void *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void enc_output_message(j_common_ptr cinfo) { (void)cinfo; }

clipc_status jpeg_encode(const clipc_image *img, int quality, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (img->channels != 1 && img->channels != 3)
        return clipc_error(CLIPC_ERR_INVALID, "jpeg_encode: %d channels (1 or 3 are encoded)", img->channels);
    if (img->width < 1 || img->height < 1 || img->width > 65500 || img->height > 65500)
        return clipc_error(CLIPC_ERR_RANGE, "jpeg_encode: %dx%d is outside JPEG's 1..65500", img->width, img->height);
    struct jpeg_compress_struct c;
    enc_err err;
    /* The output buffer lives on the heap: automatic variables changed
     * between setjmp and longjmp are indeterminate after it; `mem` is not
     * changed. */
    struct {
        unsigned char *buf;
        unsigned long len;
    } *mem = calloc(1, sizeof *mem);
    if (!mem) return clipc_error(CLIPC_ERR_NOMEM, "jpeg_encode: out of memory");
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = enc_error_exit;
    err.pub.output_message = enc_output_message;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&c);
        free(mem->buf);
        free(mem);
        return clipc_error(CLIPC_ERR_NOMEM, "jpeg_encode: %s", err.msg);
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem->buf, &mem->len);
    c.image_width = (JDIMENSION)img->width;
    c.image_height = (JDIMENSION)img->height;
    c.input_components = img->channels;
    c.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(img->data + c.next_scanline * stride);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = mem->buf;
    *len = mem->len;
    free(mem);
    return CLIPC_OK;
}
