/*
 * fuzz_vecfile.c — libFuzzer target for the vector file beside an image
 * index (src/formats/vecfile.c): header, sizes and offsets checked before
 * the file is mapped and searched.
 *
 * The bytes are the file.  An accepted file is searched (vecfile_topk with
 * a query of ones, k from 1 to n) and every row and id is touched, so
 * ASan catches an offset or size the checks let through.
 *
 *   make fuzz-vecfile && build-fuzz/fuzz_vecfile SCRATCH tests/fuzz/corpus_vecfile
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "formats/vecfile.h"
#include "fuzz_util.h"

int fuzz_vecfile(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("index.vec", data, size);
    vecfile v;
    memset(&v, 0, sizeof v);
    if (vecfile_open(path, &v) != CLIPC_OK) {
        FUZZ_CHECK(*clipc_last_error());
        return 0;
    }
    FUZZ_CHECK(v.dim > 0 && v.n >= 0);
    volatile float sink = 0;
    volatile int64_t isink = 0;
    for (int64_t i = 0; i < v.n; i++) {
        for (int d = 0; d < v.dim; d++) sink += v.data[i * v.dim + d];
        isink ^= v.ids[i];
    }
    if (v.n > 0 && v.dim <= 4096 && v.n <= 4096) {
        float *q = malloc(sizeof(float) * (size_t)v.dim), *scores = malloc(sizeof(float) * (size_t)v.n);
        int64_t *rows = malloc(sizeof(int64_t) * (size_t)v.n);
        FUZZ_CHECK(q && scores && rows);
        for (int d = 0; d < v.dim; d++) q[d] = 1.0f;
        int k = (int)(v.n < 5 ? v.n : 5);
        float top[5];
        int got = -1;
        clipc_status s = vecfile_topk(&v, q, k, scores, rows, top, &got);
        if (!s) {
            FUZZ_CHECK(got >= 0 && got <= k);
            for (int i = 0; i < got; i++) FUZZ_CHECK(rows[i] >= 0 && rows[i] < v.n);
        }
        free(q), free(scores), free(rows);
    }
    (void)sink, (void)isink;
    vecfile_close(&v);
    return 0;
}

FUZZ_ENTRY(vecfile)
