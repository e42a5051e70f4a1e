/*
 * fuzz_pickle.c — libFuzzer target for the PyTorch checkpoint reader: the
 * restricted pickle machine (pickle.c), the tensor checks against storages
 * and the gathering of strided views (torch_zip.c), and the zip reader
 * (zip_reader.c).
 *
 * An input starting with "PK" is parsed as a whole archive; any other input
 * is a data.pkl, wrapped here in an archive that also holds storages
 * "0" (16 f32), "1" (16 f16, deflated) and "2" (empty), so pickles that
 * reference them reach the tensor checks.  Every accepted tensor is read
 * to the last byte and checked (size = numel * element size, alignment,
 * data inside the archive or the owned copy), so ASan/UBSan catch any
 * extent the validation let through.
 *
 * Build and run (new inputs go to the first, scratch, directory):
 *   make fuzz-pickle && mkdir -p /tmp/pkf && build-fuzz/fuzz_pickle /tmp/pkf tests/fuzz/corpus_pickle \
 *       -dict=tests/fuzz/pickle.dict -max_total_time=300
 * (not part of the default build: it needs clang's libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clipc.h"
#include "formats/pickle.h"
#include "formats/safetensors.h"
#include "formats/torch_zip.h"
#include "fuzz_util.h"

typedef struct {
    uint8_t *p;
    size_t n;
} obuf;

static void put(obuf *b, const void *s, size_t n) {
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void le(obuf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b->p[b->n++] = (uint8_t)(v >> (8 * i));
}

/* A zip of the entries: stored, or raw-deflated when `def`. */
static size_t make_zip(uint8_t *out, const char **names, const uint8_t **data, const size_t *len, const int *def,
                       int n) {
    obuf z = {out, 0};
    uint8_t cd[4096];
    obuf c = {cd, 0};
    for (int i = 0; i < n; i++) {
        uLongf cn = len[i] + 64;
        uint8_t *comp = malloc(cn);
        if (def[i]) {
            z_stream s = {0};
            deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            s.next_in = (Bytef *)data[i], s.avail_in = (uInt)len[i], s.next_out = comp, s.avail_out = (uInt)cn;
            deflate(&s, Z_FINISH);
            cn = s.total_out;
            deflateEnd(&s);
        } else {
            if (len[i]) memcpy(comp, data[i], len[i]);
            cn = len[i];
        }
        uint32_t crc = (uint32_t)crc32(0, data[i], (uInt)len[i]);
        size_t off = z.n, nl = strlen(names[i]);
        le(&z, 0x04034b50, 4), le(&z, 20, 2), le(&z, 0, 2), le(&z, def[i] ? 8 : 0, 2), le(&z, 0, 4);
        le(&z, crc, 4), le(&z, cn, 4), le(&z, len[i], 4), le(&z, nl, 2), le(&z, 0, 2);
        put(&z, names[i], nl);
        put(&z, comp, cn);
        le(&c, 0x02014b50, 4), le(&c, 20, 2), le(&c, 20, 2), le(&c, 0, 2), le(&c, def[i] ? 8 : 0, 2), le(&c, 0, 4);
        le(&c, crc, 4), le(&c, cn, 4), le(&c, len[i], 4), le(&c, nl, 2), le(&c, 0, 6), le(&c, 0, 4), le(&c, 0, 4);
        le(&c, off, 4);
        put(&c, names[i], nl);
        free(comp);
    }
    size_t cdoff = z.n;
    put(&z, cd, c.n);
    le(&z, 0x06054b50, 4), le(&z, 0, 4), le(&z, (uint64_t)n, 2), le(&z, (uint64_t)n, 2), le(&z, c.n, 4);
    le(&z, cdoff, 4), le(&z, 0, 2);
    return z.n;
}

static void check(const st_file *f, const uint8_t *buf, size_t len) {
    volatile uint8_t sink = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        size_t es = st_dtype_size(t->dtype);
        if (es == 0 || t->nbytes != t->numel * es || t->ndim < 0 || t->ndim > ST_MAX_DIMS) abort();
        if (t->nbytes && (uintptr_t)t->data % es != 0) abort();
        const uint8_t *p = t->data;
        if (t->nbytes && !(p >= buf && p + t->nbytes <= buf + len) && !f->aligned) abort();
        for (size_t k = 0; k < t->nbytes; k++) sink ^= p[k];
        if (i && strcmp(f->tensors[i - 1].name, t->name) >= 0) abort();
    }
    (void)sink;
}

int fuzz_pickle(const uint8_t *data, size_t size) {
    st_file f;
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        if (torch_zip_parse(data, size, "fuzz", &f) == CLIPC_OK) check(&f, data, size);
        st_close(&f);
        return 0;
    }
    pk_arena a;
    pk_value *root;
    if (pk_load(data, size, "fuzz", &a, &root) == CLIPC_OK) pk_free(&a);
    float f32[16];
    uint16_t f16[16];
    for (int i = 0; i < 16; i++) f32[i] = (float)i, f16[i] = (uint16_t)(0x3c00 + i);
    const char *names[] = {"a/data.pkl", "a/data/0", "a/data/1", "a/data/2"};
    const uint8_t *d[] = {data, (const uint8_t *)f32, (const uint8_t *)f16, (const uint8_t *)""};
    size_t len[] = {size, sizeof f32, sizeof f16, 0};
    int def[] = {0, 0, 1, 0};
    uint8_t *zip = malloc(size + 1024);
    size_t zn = make_zip(zip, names, d, len, def, 4);
    if (torch_zip_parse(zip, zn, "fuzz", &f) == CLIPC_OK) check(&f, zip, zn);
    st_close(&f);
    free(zip);
    return 0;
}

FUZZ_ENTRY(pickle)
