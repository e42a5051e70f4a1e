/*
 * fuzz_vec8.c — libFuzzer target for the int8 copy beside an image index
 * (FILE.vec8, src/formats/vec8.c): header, stride, sizes and the offset of
 * the scales checked before the mapping is scanned.
 *
 * The bytes are the file.  An accepted file has every row byte and scale
 * touched, then is scanned as the search does (scan_topk over a matching
 * f32 matrix of ones, a query of ones, one thread), so ASan catches an
 * offset or size the checks let through, and every returned row must be
 * a row of the file.
 *
 *   make fuzz-vec8 && build-fuzz/fuzz_vec8 SCRATCH tests/fuzz/corpus_vec8
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "index/scan.h"
#include "fuzz_util.h"

int fuzz_vec8(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("index.db.vec8", data, size);
    vec8file c;
    if (vec8_open(path, &c) != CLIPC_OK) {
        FUZZ_CHECK(*clipc_last_error());
        return 0;
    }
    FUZZ_CHECK(c.dim > 0 && c.n >= 0 && c.stride == vec8_stride(c.dim) && c.stride >= c.dim);
    volatile int sink = 0;
    volatile float fsink = 0;
    for (int64_t i = 0; i < c.n; i++) {
        for (int d = 0; d < c.stride; d++) sink += c.data[i * c.stride + d];
        fsink += c.scales[i];
    }
    if (c.n > 0 && c.dim <= 1024 && c.n <= 1024) {
        size_t nf = (size_t)c.n * (size_t)c.dim;
        float *m = malloc(sizeof(float) * nf), *q = malloc(sizeof(float) * (size_t)c.dim);
        int64_t *ids = calloc((size_t)c.n, sizeof(int64_t)), rows[5];
        FUZZ_CHECK(m && q && ids);
        for (size_t i = 0; i < nf; i++) m[i] = 1.0f;
        for (int d = 0; d < c.dim; d++) q[d] = 1.0f;
        vecfile v = {.dim = c.dim, .n = c.n, .capacity = c.n, .generation = c.generation, .data = m, .ids = ids};
        int k = (int)(c.n < 5 ? c.n : 5), got = -1;
        float scores[5];
        if (scan_topk(&v, &c, q, k, 0, 1, rows, scores, &got) == CLIPC_OK) {
            FUZZ_CHECK(got >= 0 && got <= k);
            for (int i = 0; i < got; i++) FUZZ_CHECK(rows[i] >= 0 && rows[i] < c.n);
        }
        free(m), free(q), free(ids);
    }
    (void)sink, (void)fsink;
    vec8_close(&c);
    return 0;
}

FUZZ_ENTRY(vec8)
