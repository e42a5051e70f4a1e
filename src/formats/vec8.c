/*
 * vec8.c — the int8 copy of an index's vectors (see vec8.h for the layout
 * and why it exists).
 */
#include "formats/vec8.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "formats/appendable.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define V8_MAGIC "CLIPCV8\0"
#define V8_HDR1 64 /* version 1's header */

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

static void make_header(uint8_t *h, int64_t n, int64_t cap, int dim, uint64_t generation) {
    int stride = vec8_stride(dim);
    memset(h, 0, APP_HEADER);
    memcpy(h, V8_MAGIC, 8);
    put_u32(h + 8, 2);
    put_u32(h + 12, (uint32_t)dim);
    put_u64(h + 16, (uint64_t)cap);
    put_u32(h + 24, (uint32_t)stride);
    put_u64(h + 32, APP_HEADER + (uint64_t)cap * (uint64_t)stride);
    app_state st = {(uint64_t)n, generation, 0};
    app_slot_make(h + APP_SLOTS_OFFSET, &st, app_salt(V8_MAGIC, (uint32_t)dim, (uint64_t)cap));
}

/* Quantises m rows of data into q (m x stride) and sc (m). */
static void quantize_rows(const float *data, int64_t m, int dim, int stride, int8_t *q, float *sc) {
    for (int64_t i = 0; i < m; i++)
        sc[i] = vec8_quantize_row(data + (size_t)i * (size_t)dim, dim, stride, q + (size_t)i * stride);
}

clipc_status vec8_write_room(const char *path, const float *data, int64_t n, int64_t cap, int dim,
                             uint64_t generation) {
    if (n < 0 || cap < n || dim <= 0 || dim > 65536 || (uint64_t)cap > ((uint64_t)1 << 40) / (uint64_t)dim)
        return clipc_error(CLIPC_ERR_INVALID, "%s: bad matrix shape %lld x %d (room for %lld)", path, (long long)n,
                           dim, (long long)cap);
    int stride = vec8_stride(dim);
    uint8_t h[APP_HEADER];
    make_header(h, n, cap, dim, generation);
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
        quantize_rows(data + (size_t)r0 * (size_t)dim, m, dim, stride, q, sc + r0);
        s = clipc_atomic_write(f, q, (size_t)m * (size_t)stride);
    }
    if (!s && cap > n) s = atomic_skip(f, (uint64_t)(cap - n) * (uint64_t)stride);
    if (!s && n) s = clipc_atomic_write(f, sc, sizeof(float) * (size_t)n);
    if (!s && cap > n) s = atomic_skip(f, (uint64_t)(cap - n) * 4);
    free(q);
    free(sc);
    if (s) {
        if (f) clipc_atomic_abort(f);
        return s;
    }
    return clipc_atomic_commit(f);
}

clipc_status vec8_write(const char *path, const float *data, int64_t n, int dim, uint64_t generation) {
    return vec8_write_room(path, data, n, n, dim, generation);
}

clipc_status vec8_append(const char *path, const float *rows, int64_t m, int dim, int64_t n, uint64_t expect_gen,
                         uint64_t new_gen, int *appended) {
    *appended = 0;
    if (m < 0 || dim <= 0 || dim > 65536)
        return clipc_error(CLIPC_ERR_INVALID, "%s: bad append of %lld rows", path, (long long)m);
    app_file f;
    clipc_status s = app_open(path, &f);
    if (s || f.fd < 0) return s;
    const uint8_t *h = f.header;
    uint64_t cap = get_u64(h + 16), stride = get_u32(h + 24), sc_off = get_u64(h + 32);
    uint64_t salt = app_salt(V8_MAGIC, (uint32_t)dim, cap);
    app_state cur;
    struct stat st;
    if (memcmp(h, V8_MAGIC, 8) || get_u32(h + 8) != 2 || get_u32(h + 12) != (uint32_t)dim ||
        stride != (uint64_t)vec8_stride(dim) || cap > ((uint64_t)1 << 40) / stride ||
        sc_off != APP_HEADER + cap * stride || app_slot_pick(h + APP_SLOTS_OFFSET, salt, cap, &cur) ||
        cur.n != (uint64_t)n || cur.generation != expect_gen || (uint64_t)m > cap - cur.n || fstat(f.fd, &st) ||
        (uint64_t)st.st_size != sc_off + cap * 4) {
        app_close(&f);
        return CLIPC_OK;
    }
    int8_t *q = malloc((size_t)(m ? m : 1) * stride);
    float *sc = malloc(sizeof(float) * (size_t)(m ? m : 1));
    if (!q || !sc) s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
    if (!s) quantize_rows(rows, m, dim, (int)stride, q, sc);
    if (!s && m) s = file_pwrite(f.fd, q, (size_t)m * stride, APP_HEADER + cur.n * stride, path);
    if (!s && m) s = file_pwrite(f.fd, sc, sizeof(float) * (size_t)m, sc_off + cur.n * 4, path);
    app_state next = {cur.n + (uint64_t)m, new_gen, cur.seq + 1};
    if (!s) s = app_commit(&f, salt, &next);
    app_close(&f);
    free(q);
    free(sc);
    if (!s) *appended = 1;
    return s;
}

clipc_status vec8_open(const char *path, vec8file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block: refused below */
    if (fd < 0) return clipc_error(CLIPC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < V8_HDR1) {
        close(fd);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a regular file of an int8 vector copy", path);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return clipc_error(CLIPC_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    const uint8_t *h = map;
    uint32_t dim = get_u32(h + 12), ver = get_u32(h + 8), stride = 0;
    uint64_t n = 0, cap = 0, gen = 0, data = 0, sc = 0;
    int ok = !memcmp(h, V8_MAGIC, 8) && dim > 0 && dim <= 65536;
    /* Sizes are checked with divisions so a hostile header cannot overflow. */
    if (ok && ver == 1) {
        stride = get_u32(h + 32), n = cap = get_u64(h + 16), gen = get_u64(h + 24), sc = get_u64(h + 40);
        data = V8_HDR1;
        ok = stride == (uint32_t)vec8_stride((int)dim) && n <= (len - V8_HDR1) / ((uint64_t)stride + 4) &&
             sc == V8_HDR1 + n * stride && sc + n * 4 == len;
    } else if (ok && ver == 2 && len >= APP_HEADER) {
        app_state st;
        stride = get_u32(h + 24), cap = get_u64(h + 16), sc = get_u64(h + 32);
        data = APP_HEADER;
        ok = stride == (uint32_t)vec8_stride((int)dim) && cap <= (len - APP_HEADER) / ((uint64_t)stride + 4) &&
             sc == APP_HEADER + cap * stride && sc + cap * 4 == len &&
             !app_slot_pick(h + APP_SLOTS_OFFSET, app_salt(V8_MAGIC, dim, cap), cap, &st);
        if (ok) n = st.n, gen = st.generation;
    } else {
        ok = 0;
    }
    if (!ok) {
        munmap(map, len);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc int8 vector copy or truncated", path);
    }
    out->dim = (int)dim;
    out->stride = (int)stride;
    out->n = (int64_t)n;
    out->capacity = (int64_t)cap;
    out->version = (int)ver;
    out->generation = gen;
    out->data = (const int8_t *)(h + data);
    out->scales = (const float *)(h + sc);
    out->map = map;
    out->map_len = len;
    return CLIPC_OK;
}

void vec8_close(vec8file *v) {
    if (v->map) munmap(v->map, v->map_len);
    memset(v, 0, sizeof *v);
}
