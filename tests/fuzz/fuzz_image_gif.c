/*
 * fuzz_image_gif.c — libFuzzer target for decode_gif (src/image/decode_gif.c):
 * arbitrary bytes straight into the decoder; see fuzz_image.h for the checks
 * and how to run it (make fuzz-image_<fmt>; the default tests replay tests/fuzz/corpus_image_<fmt>).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image/decoders.h"
#include "fuzz_image.h"
#include "fuzz_util.h"

int fuzz_image_gif(const uint8_t *data, size_t size) {
    clipc_image img;
    memset(&img, 0, sizeof img);
    fuzz_image_check(decode_gif(data, size, "fuzz", &img), &img);
    return 0;
}

FUZZ_ENTRY(image_gif)
