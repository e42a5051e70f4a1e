/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 *
 * st_parse is the one place clipc reads a binary format from an untrusted
 * file; this feeds it arbitrary bytes and, when it accepts them, touches every
 * byte of every tensor and checks the invariants callers rely on (data inside
 * the buffer or the aligned copy, aligned to the element size, nbytes =
 * numel * size, sorted names that st_get finds), so ASan/UBSan catch any
 * offset the validation let through.
 *
 * Build and run (new inputs go to the first, scratch, directory):
 *   make fuzz-safetensors && mkdir -p /tmp/stf && build-fuzz/fuzz_safetensors /tmp/stf \
 *       tests/fuzz/corpus_safetensors -dict=tests/fuzz/safetensors.dict -max_total_time=300
 * (not part of the default build: it needs clang's libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "fuzz_util.h"
#include "formats/safetensors.h"

int fuzz_safetensors(const uint8_t *data, size_t size) {
    st_file f;
    if (st_parse(data, size, "fuzz", &f) != CLIPC_OK) {
        st_close(&f);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        size_t es = st_dtype_size(t->dtype);
        if (es == 0 || t->nbytes != t->numel * es || t->ndim < 0 || t->ndim > ST_MAX_DIMS) abort();
        if (t->nbytes && (uintptr_t)t->data % es != 0) abort();
        if (t->nbytes && t->data != NULL) {
            const uint8_t *p = t->data;
            int in_buf = p >= data && p + t->nbytes <= data + size;
            if (!in_buf && !f.aligned) abort();
            for (size_t k = 0; k < t->nbytes; k++) sink ^= p[k];
        }
        if (i > 0 && strcmp(f.tensors[i - 1].name, t->name) >= 0) abort();
        if (st_get(&f, t->name) != t) abort();
    }
    for (int i = 0; i < f.n_meta; i++)
        if (st_meta(&f, f.meta_keys[i]) == NULL) abort();
    (void)sink;
    st_close(&f);
    return 0;
}

FUZZ_ENTRY(safetensors)
