/*
 * fuzz_captions.c — libFuzzer target for the caption-file readers
 * (src/data/read_*.c: Karpathy JSON, Flickr8k, Flickr30k, CSV, TSV) behind
 * clipc_dataset_load, content sniffing included.
 *
 * The first byte picks the format (auto-detect or one forced) and whether
 * a split is asked for; the rest is the caption file.  When the load
 * succeeds, every accessor is walked and its invariants checked: captions
 * partition the images in order (an image may have none: kept image-only),
 * every caption is a non-empty string of its image, paths are non-empty.
 *
 *   make fuzz-captions && build-fuzz/fuzz_captions SCRATCH tests/fuzz/corpus_captions
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "fuzz_util.h"

static void quiet(const char *msg, void *ud) {
    (void)ud;
    FUZZ_CHECK(msg && *msg);
}

int fuzz_captions(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const clipc_dataset_format fmts[] = {CLIPC_DS_AUTO,      CLIPC_DS_KARPATHY, CLIPC_DS_FLICKR8K,
                                                CLIPC_DS_FLICKR30K, CLIPC_DS_CSV,      CLIPC_DS_TSV};
    clipc_dataset_opts o = {0};
    o.format = fmts[data[0] % 6];
    o.split = (data[0] / 6) % 3 == 1 ? "train" : (data[0] / 6) % 3 == 2 ? "val,test" : NULL;
    o.warn = quiet;
    const char *path = fuzz_file("captions.txt", data + 1, size - 1);
    clipc_dataset *ds = NULL;
    clipc_status s = clipc_dataset_load(path, &o, &ds);
    if (s) {
        /* an error always says what went wrong */
        if (ds || !*clipc_last_error()) fprintf(stderr, "status %d (%s), message '%s'\n", s, clipc_status_name(s), clipc_last_error());
        FUZZ_CHECK(!ds && *clipc_last_error());
        return 0;
    }
    FUZZ_CHECK(ds);
    int n = clipc_dataset_n_images(ds), nc = clipc_dataset_n_captions(ds), next = 0;
    FUZZ_CHECK(n > 0 && nc >= 0); /* images without captions are kept, image-only */
    FUZZ_CHECK(clipc_dataset_image_root(ds) != NULL);
    for (int i = 0; i < n; i++) {
        const char *p = clipc_dataset_image_path(ds, i);
        FUZZ_CHECK(p && *p);
        int first = -1, k = clipc_dataset_image_captions(ds, i, &first);
        FUZZ_CHECK(k >= 0 && first == next);
        for (int c = first; c < first + k; c++) {
            FUZZ_CHECK(clipc_dataset_caption_image(ds, c) == i);
            const char *t = clipc_dataset_caption(ds, c);
            FUZZ_CHECK(t && *t);
        }
        next = first + k;
        char buf[64];
        int need = clipc_dataset_image_fullpath(ds, i, buf, sizeof buf);
        FUZZ_CHECK(need > 0);
    }
    FUZZ_CHECK(next == nc);
    clipc_dataset_free(ds);
    return 0;
}

FUZZ_ENTRY(captions)
