/*
 * fuzz_image.h — what every image-decoder fuzz target checks after a decode
 * (tests/fuzz/fuzz_image_<fmt>.c): a failure leaves an empty image and a
 * message naming the input; a success gives sizes within the limits and
 * exactly width*height*channels readable bytes (touched, so ASan sees any
 * short buffer), then frees cleanly.
 *
 * Build and run one (new inputs go to the first, scratch, directory; the
 * seed corpus tests/fuzz/corpus_image_<fmt> holds the format's golden files
 * from tests/data/imgfmt and their truncated halves, replayed by the default
 * tests):
 *   make fuzz-image_gif && mkdir -p /tmp/fz && \
 *       build-fuzz/fuzz_image_gif /tmp/fz tests/fuzz/corpus_image_gif -max_total_time=120
 */
#ifndef CLIPC_FUZZ_IMAGE_H
#define CLIPC_FUZZ_IMAGE_H

#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"

static inline void fuzz_image_check(clipc_status s, clipc_image *img) {
    if (s) {
        if (img->data || !strstr(clipc_last_error(), "fuzz")) abort();
        return;
    }
    if (img->width <= 0 || img->height <= 0 || img->width > 65535 || img->height > 65535 || img->channels < 1 ||
        img->channels > 4 || !img->data)
        abort();
    volatile uint8_t sink = 0;
    size_t n = (size_t)img->width * img->height * img->channels;
    for (size_t i = 0; i < n; i++) sink ^= img->data[i];
    (void)sink;
    clipc_image_free(img);
}

#endif
