/*
 * fuzz_decode.c — libFuzzer target for image decoding from memory
 * (clipc_image_decode: JPEG through libjpeg, PNG through libspng, and
 * whatever else src/image/decode.c recognises by its magic bytes) followed
 * by OpenAI's preprocessing (resize, crop, normalise) at a small size.
 *
 * The first byte picks the preprocessing size (8..39) and the name used in
 * messages; the rest is the file.  A decoded image must have a sane shape
 * and its pixels are all touched; preprocessing must give finite values.
 *
 *   make fuzz-decode && build-fuzz/fuzz_decode SCRATCH tests/fuzz/corpus_decode
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "fuzz_util.h"

int fuzz_decode(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int px = 8 + data[0] % 32;
    const char *name = data[0] & 0x80 ? "fuzz.png" : "fuzz.jpg";
    clipc_image img;
    memset(&img, 0, sizeof img);
    if (clipc_image_decode(data + 1, size - 1, name, &img) != CLIPC_OK) {
        FUZZ_CHECK(*clipc_last_error());
        return 0;
    }
    FUZZ_CHECK(img.width > 0 && img.height > 0 && img.width <= 65535 && img.height <= 65535);
    FUZZ_CHECK(img.channels >= 1 && img.channels <= 4 && img.data);
    volatile uint8_t sink = 0;
    size_t n = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
    for (size_t i = 0; i < n; i += 7) sink ^= img.data[i];
    sink ^= img.data[n - 1];
    (void)sink;
    /* Keep the fuzzer fast: preprocess only images of moderate size. */
    if ((size_t)img.width * img.height <= (1u << 20)) {
        float *out = malloc(sizeof(float) * 3 * (size_t)px * (size_t)px);
        uint8_t *rgb = malloc(3 * (size_t)px * (size_t)px);
        FUZZ_CHECK(out && rgb);
        if (clipc_preprocess(&img, px, out, rgb) == CLIPC_OK)
            for (int i = 0; i < 3 * px * px; i++) FUZZ_CHECK(isfinite(out[i]));
        else
            FUZZ_CHECK(*clipc_last_error());
        free(out), free(rgb);
    }
    clipc_image_free(&img);
    return 0;
}

FUZZ_ENTRY(decode)
