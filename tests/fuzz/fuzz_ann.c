/*
 * fuzz_ann.c — libFuzzer target for what clipc itself reads of a FILE.ann
 * (src/index/ann_faiss.c): the header, the payload's length and its hash,
 * checked before FAISS's reader sees a byte, and ann_peek_kind (what
 * `clipc search` reads to pick the search path).  FAISS's own reader
 * (faiss::read_index) is not fuzzed here: it only ever reads a payload
 * whose length and hash match the ones clipc wrote.
 *
 * The bytes are the file.  Invariants: a refusal has a message naming the
 * file; a file that passes has a header within the limits (dim 1..65536, a
 * known kind), is exactly header + payload + trailer long, and
 * ann_peek_kind reads the same kind from it.
 *
 *   make fuzz-ann && build-fuzz/fuzz_ann SCRATCH tests/fuzz/corpus_ann
 */
#include <stdint.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "index/ann_faiss.h"
#include "fuzz_util.h"

int fuzz_ann(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("index.ann", data, size);
    char kind[17], peek[16];
    int dim = -1;
    int64_t rows = -1;
    int peeked = ann_peek_kind(path, peek);
    if (peeked) FUZZ_CHECK(ann_kind_valid(peek) && size >= 64 && !memcmp(data + 32, peek, 16));
    if (ann_check_file(path, &dim, &rows, kind) != CLIPC_OK) {
        FUZZ_CHECK(strstr(clipc_last_error(), "index.ann"));
        return 0;
    }
    FUZZ_CHECK(dim >= 1 && dim <= 65536 && rows >= 0 && ann_kind_valid(kind));
    FUZZ_CHECK(size >= 80 && !memcmp(data, "CLIPCANN", 8));
    uint64_t len;
    memcpy(&len, data + size - 16, 8);
    FUZZ_CHECK(len == size - 80);
    /* what search.c peeks agrees with what the full check read */
    FUZZ_CHECK(peeked && !strcmp(peek, kind));
    return 0;
}

FUZZ_ENTRY(ann)
