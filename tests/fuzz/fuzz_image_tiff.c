/*
 * fuzz_image_tiff.c — libFuzzer target for decode_tiff (src/image/decode_tiff.c)
 * and the orientation applied after it: arbitrary bytes through
 * clipc_image_decode_ex when they start like a TIFF (else straight into
 * decode_tiff); see fuzz_image.h for the checks and how to run it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image/decoders.h"
#include "fuzz_image.h"
#include "fuzz_util.h"

int fuzz_image_tiff(const uint8_t *data, size_t size) {
    clipc_image img;
    memset(&img, 0, sizeof img);
    int orient = 1;
    if (size >= 4 && (!memcmp(data, "II*\0", 4) || !memcmp(data, "MM\0*", 4)))
        fuzz_image_check(clipc_image_decode_ex(data, size, "fuzz", CLIPC_EXIF_APPLY, &img), &img);
    else
        fuzz_image_check(decode_tiff(data, size, "fuzz", &img, &orient), &img);
    return 0;
}

FUZZ_ENTRY(image_tiff)
