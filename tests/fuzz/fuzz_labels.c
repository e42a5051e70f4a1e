/*
 * fuzz_labels.c — libFuzzer target for the labels file of `clipc eval
 * --labels-csv` (src/eval/labels.c, clipc_labels_read_csv): RFC 4180
 * quoting, optional header, BOM, the label as the last field.
 *
 * The bytes are the CSV; the first byte also picks whether an image root
 * is given.  Accepted files are checked: every label indexes a class, the
 * classes are distinct and every path and class is a non-empty string.
 *
 *   make fuzz-labels && build-fuzz/fuzz_labels SCRATCH tests/fuzz/corpus_labels
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipc_labels.h"
#include "fuzz_util.h"

int fuzz_labels(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *root = data[0] & 1 ? "images" : NULL;
    const char *path = fuzz_file("labels.csv", data + 1, size - 1);
    clipc_labels L;
    memset(&L, 0, sizeof L);
    clipc_status s = clipc_labels_read_csv(path, root, &L);
    if (s) {
        FUZZ_CHECK(*clipc_last_error());
        clipc_labels_free(&L);
        return 0;
    }
    FUZZ_CHECK(L.n >= 0 && L.n_classes >= 0);
    for (int i = 0; i < L.n; i++) {
        FUZZ_CHECK(L.paths[i] && *L.paths[i]);
        FUZZ_CHECK(L.labels[i] >= 0 && L.labels[i] < L.n_classes);
    }
    for (int i = 0; i < L.n_classes; i++) {
        FUZZ_CHECK(L.classes[i]);
        for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(L.classes[i], L.classes[j]) != 0);
    }
    FUZZ_CHECK(L.n > 0);
    clipc_labels_free(&L);
    FUZZ_CHECK(L.n == 0 && L.paths == NULL);
    return 0;
}

FUZZ_ENTRY(labels)
