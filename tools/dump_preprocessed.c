/*
 * dump_preprocessed.c — the clipc side of tools/compare_pillow_testimages.py.
 *
 *   build/dump_preprocessed OUTDIR FILE...
 *
 * For the i-th FILE prints "i OK width height nearest" and writes
 * OUTDIR/i.rgb (the decoded image as RGB, what convert("RGB") gives) and
 * OUTDIR/i.crop (the 224x224 RGB crop of OpenAI's preprocessing); or prints
 * "i ERR status message" when decoding fails, "i PERR w h nearest message"
 * when preprocessing does.  EXIF orientation is ignored, as in OpenAI's
 * pipeline.  Build: make build/dump_preprocessed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clipc.h"
#include "clipc_util.h"

static int dump(const char *dir, int i, const char *ext, const uint8_t *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.%s", dir, i, ext);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f)) ok = 0;
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: dump_preprocessed OUTDIR FILE...\n");
        return 2;
    }
    clipc_image_set_exif(CLIPC_EXIF_IGNORE);
    static float px[3 * 224 * 224];
    static uint8_t crop[224 * 224 * 3];
    for (int i = 0; i + 2 < argc; i++) {
        clipc_image im;
        clipc_status s = clipc_image_load(argv[i + 2], &im);
        if (s) {
            printf("%d ERR %d %s\n", i, (int)s, clipc_last_error());
            continue;
        }
        size_t n = (size_t)im.width * im.height;
        uint8_t *rgb = malloc(n * 3);
        if (!rgb) return 1;
        for (size_t k = 0; k < n; k++)
            for (int c = 0; c < 3; c++) rgb[3 * k + c] = im.data[k * im.channels + (im.channels <= 2 ? 0 : c)];
        int bad = dump(argv[1], i, "rgb", rgb, n * 3);
        free(rgb);
        s = clipc_preprocess(&im, 224, px, crop);
        if (s) printf("%d PERR %d %d %d %s\n", i, im.width, im.height, im.nearest, clipc_last_error());
        else if (!bad && !dump(argv[1], i, "crop", crop, sizeof crop))
            printf("%d OK %d %d %d\n", i, im.width, im.height, im.nearest);
        clipc_image_free(&im);
        if (bad) return 1;
    }
    return 0;
}
