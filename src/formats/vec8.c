/*
 * vec8.c — the int8 copy of an index's vectors (see vec8.h for the layout
 * and why it exists).
 */
#include "formats/vec8.h"
#include "clipc.h"
#include "clipc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define V8_MAGIC "CLIPCV8\0"
#define V8_HDR 64

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int vec8_stride(int dim) { return (dim + 63) / 64 * 64; }

float vec8_quantize_row(const float *x, int dim, int stride, int8_t *out) {
    float mx = 0.f;
    for (int j = 0; j < dim; j++) {
        if (!isfinite(x[j])) {
            memset(out, 0, (size_t)stride);
            return NAN;
        }
        float a = fabsf(x[j]);
        mx = a > mx ? a : mx;
    }
    memset(out, 0, (size_t)stride);
    if (mx == 0.f) return 0.f;
    float inv = 127.0f / mx;
    for (int j = 0; j < dim; j++) {
        long r = lrintf(x[j] * inv);
        out[j] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    return mx / 127.0f;
}

clipc_status vec8_write(const char *path, const float *data, int64_t n, int dim, uint64_t generation) {
    if (n < 0 || dim <= 0 || dim > 65536)
        return clipc_error(CLIPC_ERR_INVALID, "%s: bad matrix shape %lld x %d", path, (long long)n, dim);
    int stride = vec8_stride(dim);
    uint8_t h[V8_HDR] = {0};
    memcpy(h, V8_MAGIC, 8);
    put_u32(h + 8, 1);
    put_u32(h + 12, (uint32_t)dim);
    put_u64(h + 16, (uint64_t)n);
    put_u64(h + 24, generation);
    put_u32(h + 32, (uint32_t)stride);
    put_u64(h + 40, V8_HDR + (uint64_t)n * (uint64_t)stride);
    /* Blocks of 4096 rows: 2 MB of int8 at 512-d, whatever n is. */
    const int64_t B = 4096;
    int8_t *q = malloc((size_t)B * (size_t)stride);
    float *sc = malloc(sizeof(float) * (size_t)(n < 1 ? 1 : n));
    if (!q || !sc) {
        free(q);
        free(sc);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
    }
    clipc_atomic_file *f = NULL;
    clipc_status s = clipc_atomic_open(path, &f);
    if (!s) s = clipc_atomic_write(f, h, sizeof h);
    for (int64_t r0 = 0; !s && r0 < n; r0 += B) {
        int64_t m = n - r0 < B ? n - r0 : B;
        for (int64_t i = 0; i < m; i++)
            sc[r0 + i] = vec8_quantize_row(data + (size_t)(r0 + i) * (size_t)dim, dim, stride, q + (size_t)i * stride);
        s = clipc_atomic_write(f, q, (size_t)m * (size_t)stride);
    }
    if (!s && n) s = clipc_atomic_write(f, sc, sizeof(float) * (size_t)n);
    free(q);
    free(sc);
    if (s) {
        if (f) clipc_atomic_abort(f);
        return s;
    }
    return clipc_atomic_commit(f);
}

clipc_status vec8_open(const char *path, vec8file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block: refused below */
    if (fd < 0) return clipc_error(CLIPC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < V8_HDR) {
        close(fd);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a regular file of an int8 vector copy", path);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return clipc_error(CLIPC_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    const uint8_t *h = map;
    uint32_t dim = get_u32(h + 12), stride = get_u32(h + 32);
    uint64_t n = get_u64(h + 16), sc = get_u64(h + 40);
    /* Sizes are checked with divisions so a hostile header cannot overflow. */
    if (memcmp(h, V8_MAGIC, 8) || get_u32(h + 8) != 1 || dim == 0 || dim > 65536 ||
        stride != (uint32_t)vec8_stride((int)dim) || n > (len - V8_HDR) / ((uint64_t)stride + 4) ||
        sc != V8_HDR + n * stride || sc + n * 4 != len) {
        munmap(map, len);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc int8 vector copy or truncated", path);
    }
    out->dim = (int)dim;
    out->stride = (int)stride;
    out->n = (int64_t)n;
    out->generation = get_u64(h + 24);
    out->data = (const int8_t *)(h + V8_HDR);
    out->scales = (const float *)(h + sc);
    out->map = map;
    out->map_len = len;
    return CLIPC_OK;
}

void vec8_close(vec8file *v) {
    if (v->map) munmap(v->map, v->map_len);
    memset(v, 0, sizeof *v);
}
