/*
 * make_ann_seeds.c — writes the seed corpus of the `ann` fuzz target
 * (tests/fuzz/corpus_ann/): FILE.ann files built by the library itself
 * (ann_build, FAISS inside, so the payloads are real) and damaged copies of
 * one, each refused for its own reason (tests/test_fuzz_replay.c checks
 * which).  tools/fuzz_seeds.py writes the other corpora; a FAISS payload
 * is not something to write by hand, hence this C helper.
 *
 *   make build/make_ann_seeds && build/make_ann_seeds tests/fuzz/corpus_ann
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/hash.h"
#include "formats/vecfile.h"
#include "index/ann_faiss.h"

/* n rows of dim unit vectors from a fixed LCG: the same seeds on every run. */
static float *rows(int64_t n, int dim) {
    float *x = malloc(sizeof(float) * (size_t)(n * dim));
    uint64_t r = 88172645463325252ull;
    for (int64_t i = 0; x && i < n * dim; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(r >> 40) / (double)(1 << 24) - 0.5);
    }
    if (x) clipc_l2_normalize(x, (int)n, dim);
    return x;
}

static int build(const char *dir, const char *name, int64_t n, int dim, const char *kind) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    float *x = rows(n, dim);
    vecfile v;
    memset(&v, 0, sizeof v);
    v.dim = dim, v.n = n, v.generation = 7, v.data = x;
    clipc_status s = x ? ann_build(p, &v, kind) : CLIPC_ERR_NOMEM;
    free(x);
    if (s) fprintf(stderr, "make_ann_seeds: %s\n", clipc_last_error());
    return s ? -1 : 0;
}

static int put(const char *dir, const char *name, const uint8_t *b, size_t n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return clipc_write_file_atomic(p, b, n) ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_ann_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (build(dir, "hnsw_64x4", 64, 4, "hnsw") || build(dir, "ivfpq_1000x8", 1000, 8, "ivf,pq")) return 1;
    char p[4096];
    snprintf(p, sizeof p, "%s/hnsw_64x4", dir);
    char *raw;
    size_t n;
    if (clipc_read_file(p, &raw, &n) || n < 200) return 1;
    uint8_t *b = malloc(n);
    if (!b) return 1;
    uint64_t u;
    uint32_t ver = 2;
#define FRESH() memcpy(b, raw, n)
    int bad = 0;
    FRESH();
    bad |= put(dir, "truncated", b, n / 2);
    FRESH();
    b[100] ^= 0x40; /* one payload bit: the hash no longer matches */
    bad |= put(dir, "bad_hash", b, n);
    FRESH();
    memcpy(&u, b + n - 16, 8), u++, memcpy(b + n - 16, &u, 8);
    bad |= put(dir, "bad_length", b, n);
    FRESH();
    memcpy(b + 8, &ver, 4);
    bad |= put(dir, "bad_version", b, n);
    FRESH();
    memcpy(b + 32, "hnsw2", 5);
    bad |= put(dir, "bad_kind", b, n);
    /* header and trailer around an empty payload: the checks pass (length
     * 0, the hash of nothing), FAISS's reader refuses it */
    FRESH();
    uint8_t e[80];
    memcpy(e, b, 64);
    u = 0, memcpy(e + 64, &u, 8);
    u = HASH_FNV_OFFSET, memcpy(e + 72, &u, 8);
    bad |= put(dir, "empty_payload", e, sizeof e);
    free(b);
    free(raw);
    return bad ? 1 : 0;
}
