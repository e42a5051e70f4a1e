/*
 * vecfile.c — the mmap'd embedding matrix beside an index database (see
 * vecfile.h for the layout and why it exists).
 */
#include "formats/vecfile.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "formats/appendable.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


#define VEC_MAGIC "CLIPCVEC"
#define VEC_HDR1 64 /* version 1's header */

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The row -> id map starts at the first multiple of 8 after the matrix, so
 * that the int64 ids are aligned in the mapping (with rows * dim odd they
 * were not: reading them was undefined behaviour, found by fuzz_vecfile). */
static uint64_t ids_offset(uint64_t hdr, uint64_t rows, uint64_t dim) { return (hdr + rows * dim * 4 + 7) & ~(uint64_t)7; }

static void make_header(uint8_t *h, int64_t n, int64_t cap, int dim, uint64_t generation) {
    memset(h, 0, APP_HEADER);
    memcpy(h, VEC_MAGIC, 8);
    put_u32(h + 8, 2);
    put_u32(h + 12, (uint32_t)dim);
    put_u64(h + 16, (uint64_t)cap);
    put_u64(h + 24, APP_HEADER);
    put_u64(h + 32, ids_offset(APP_HEADER, (uint64_t)cap, (uint64_t)dim));
    app_state st = {(uint64_t)n, generation, 0};
    app_slot_make(h + APP_SLOTS_OFFSET, &st, app_salt(VEC_MAGIC, (uint32_t)dim, (uint64_t)cap));
}

/* After n rows of data: the room for cap - n more and the padding up to
 * the aligned id map (holes). */
static clipc_status skip_to_ids(clipc_atomic_file *f, int64_t n, int64_t cap, int dim) {
    uint64_t data_end = APP_HEADER + (uint64_t)n * (uint64_t)dim * 4;
    uint64_t gap = ids_offset(APP_HEADER, (uint64_t)cap, (uint64_t)dim) - data_end;
    return gap ? atomic_skip(f, gap) : CLIPC_OK;
}

static clipc_status check_shape(const char *path, int64_t n, int64_t cap, int dim) {
    if (n < 0 || cap < n || dim <= 0 || dim > 65536 || (uint64_t)cap > ((uint64_t)1 << 40) / (uint64_t)dim)
        return clipc_error(CLIPC_ERR_INVALID, "%s: bad matrix shape %lld x %d (room for %lld)", path, (long long)n,
                           dim, (long long)cap);
    return CLIPC_OK;
}

clipc_status vecfile_write_room(const char *path, const float *data, const int64_t *ids, int64_t n, int64_t cap,
                                int dim, uint64_t generation) {
    clipc_status s = check_shape(path, n, cap, dim);
    if (s) return s;
    uint8_t h[APP_HEADER];
    make_header(h, n, cap, dim, generation);
    clipc_atomic_file *f;
    s = clipc_atomic_open(path, &f);
    if (s) return s;
    s = clipc_atomic_write(f, h, sizeof h);
    if (!s && n) s = clipc_atomic_write(f, data, (size_t)n * (size_t)dim * sizeof(float));
    if (!s) s = skip_to_ids(f, n, cap, dim);
    if (!s && n) s = clipc_atomic_write(f, ids, (size_t)n * sizeof(int64_t));
    if (!s && cap > n) s = atomic_skip(f, (uint64_t)(cap - n) * 8);
    if (s) {
        clipc_atomic_abort(f);
        return s;
    }
    return clipc_atomic_commit(f);
}

clipc_status vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim,
                           uint64_t generation) {
    return vecfile_write_room(path, data, ids, n, n, dim, generation);
}

clipc_status vecfile_append(const char *path, const float *rows, const int64_t *ids, int64_t m, int dim, int64_t n,
                            uint64_t expect_gen, uint64_t new_gen, int *appended) {
    *appended = 0;
    if (m < 0 || dim <= 0) return clipc_error(CLIPC_ERR_INVALID, "%s: bad append of %lld rows", path, (long long)m);
    app_file f;
    clipc_status s = app_open(path, &f);
    if (s || f.fd < 0) return s;
    const uint8_t *h = f.header;
    uint64_t cap = get_u64(h + 16), ids_off = get_u64(h + 32);
    uint64_t salt = app_salt(VEC_MAGIC, (uint32_t)dim, cap);
    app_state cur;
    /* Only the file the caller knows, with room: anything else is rewritten. */
    if (memcmp(h, VEC_MAGIC, 8) || get_u32(h + 8) != 2 || get_u32(h + 12) != (uint32_t)dim ||
        get_u64(h + 24) != APP_HEADER || ids_off != ids_offset(APP_HEADER, cap, (uint64_t)dim) ||
        app_slot_pick(h + APP_SLOTS_OFFSET, salt, cap, &cur) || cur.n != (uint64_t)n ||
        cur.generation != expect_gen || (uint64_t)m > cap - cur.n) {
        app_close(&f);
        return CLIPC_OK;
    }
    struct stat st;
    if (fstat(f.fd, &st) || (uint64_t)st.st_size != ids_off + cap * 8) { /* truncated: rewritten too */
        app_close(&f);
        return CLIPC_OK;
    }
    if (m)
        s = file_pwrite(f.fd, rows, (size_t)m * (size_t)dim * sizeof(float),
                        APP_HEADER + cur.n * (uint64_t)dim * 4, path);
    if (!s && m) s = file_pwrite(f.fd, ids, (size_t)m * sizeof(int64_t), ids_off + cur.n * 8, path);
    app_state next = {cur.n + (uint64_t)m, new_gen, cur.seq + 1};
    if (!s) s = app_commit(&f, salt, &next);
    app_close(&f);
    if (!s) *appended = 1;
    return s;
}

struct vecfile_writer {
    clipc_atomic_file *f;
    char *path;
    int64_t n, done;
    int dim;
};

clipc_status vecfile_writer_open(const char *path, int64_t n, int dim, uint64_t generation, vecfile_writer **out) {
    *out = NULL;
    clipc_status s = check_shape(path, n, n, dim);
    if (s) return s;
    vecfile_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    w->n = n;
    w->dim = dim;
    uint8_t h[APP_HEADER];
    make_header(h, n, n, dim, generation);
    s = clipc_atomic_open(path, &w->f);
    if (!s) s = clipc_atomic_write(w->f, h, sizeof h);
    if (s) {
        vecfile_writer_abort(w);
        return s;
    }
    *out = w;
    return CLIPC_OK;
}

clipc_status vecfile_writer_append(vecfile_writer *w, const float *rows, int64_t m) {
    if (m < 0 || m > w->n - w->done)
        return clipc_error(CLIPC_ERR_INVALID, "%s: %lld more rows than the %lld announced", w->path,
                           (long long)(w->done + m - w->n), (long long)w->n);
    clipc_status s = m ? clipc_atomic_write(w->f, rows, sizeof(float) * (size_t)m * (size_t)w->dim) : CLIPC_OK;
    if (!s) w->done += m;
    return s;
}

clipc_status vecfile_writer_finish(vecfile_writer *w) {
    clipc_status s = w->done == w->n ? CLIPC_OK
                                     : clipc_error(CLIPC_ERR_INVALID, "%s: %lld rows written of the %lld announced",
                                                   w->path, (long long)w->done, (long long)w->n);
    if (!s) s = skip_to_ids(w->f, w->n, w->n, w->dim);
    int64_t ids[1024];
    for (int64_t i = 0; !s && i < w->n; i += 1024) {
        int64_t m = w->n - i < 1024 ? w->n - i : 1024;
        for (int64_t j = 0; j < m; j++) ids[j] = i + j + 1;
        s = clipc_atomic_write(w->f, ids, sizeof(int64_t) * (size_t)m);
    }
    if (s) {
        vecfile_writer_abort(w);
        return s;
    }
    s = clipc_atomic_commit(w->f);
    free(w->path);
    free(w);
    return s;
}

void vecfile_writer_abort(vecfile_writer *w) {
    if (!w) return;
    if (w->f) clipc_atomic_abort(w->f);
    free(w->path);
    free(w);
}

clipc_status vecfile_open(const char *path, vecfile *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block: refused below */
    if (fd < 0) return clipc_error(CLIPC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        return clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
    }
    if (fstat(fd, &st) || st.st_size < VEC_HDR1) {
        close(fd);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: too short for a vector file", path);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return clipc_error(CLIPC_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    const uint8_t *h = map;
    uint32_t dim = get_u32(h + 12), ver = get_u32(h + 8);
    uint64_t n = 0, cap = 0, gen = 0, seq = 0, off = get_u64(h + 24), ids = get_u64(h + 32);
    int ok = !memcmp(h, VEC_MAGIC, 8) && dim > 0 && dim <= 65536;
    /* Sizes are checked with divisions so a hostile header cannot overflow. */
    if (ok && ver == 1) {
        n = cap = get_u64(h + 16), gen = get_u64(h + 24), off = get_u64(h + 32), ids = get_u64(h + 40);
        ok = off == VEC_HDR1 && n <= (len - VEC_HDR1) / ((uint64_t)dim * 4 + 8) && ids == ids_offset(VEC_HDR1, n, dim) &&
             ids + n * 8 == len;
    } else if (ok && ver == 2 && len >= APP_HEADER) {
        app_state st;
        cap = get_u64(h + 16);
        ok = off == APP_HEADER && cap <= (len - APP_HEADER) / ((uint64_t)dim * 4 + 8) &&
             ids == ids_offset(APP_HEADER, cap, dim) && ids + cap * 8 == len &&
             !app_slot_pick(h + APP_SLOTS_OFFSET, app_salt(VEC_MAGIC, dim, cap), cap, &st);
        if (ok) n = st.n, gen = st.generation, seq = st.seq;
    } else {
        ok = 0;
    }
    if (!ok) {
        munmap(map, len);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc vector file or truncated", path);
    }
    out->dim = (int)dim;
    out->n = (int64_t)n;
    out->capacity = (int64_t)cap;
    out->version = (int)ver;
    out->generation = gen;
    out->seq = seq;
    out->data = (const float *)(h + off);
    out->ids = (const int64_t *)(h + ids);
    out->map = map;
    out->map_len = len;
    return CLIPC_OK;
}

void vecfile_close(vecfile *v) {
    if (v->map) munmap(v->map, v->map_len);
    memset(v, 0, sizeof *v);
}

/* Heap order: the worst kept result at the root.  "Worse" = lower score, or
 * equal score and higher row, so the final order is deterministic. */
static int worse(float sa, int64_t ra, float sb, int64_t rb) { return sa < sb || (sa == sb && ra > rb); }

static void sift_down(float *s, int64_t *r, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && worse(s[l], r[l], s[m], r[m])) m = l;
        if (l + 1 < n && worse(s[l + 1], r[l + 1], s[m], r[m])) m = l + 1;
        if (m == i) return;
        float ts = s[i]; s[i] = s[m]; s[m] = ts;
        int64_t tr = r[i]; r[i] = r[m]; r[m] = tr;
        i = m;
    }
}

clipc_status vecfile_topk(const vecfile *v, const float *q, int k, float *scores_all, int64_t *rows,
                          float *scores, int *got) {
    *got = 0;
    if (k <= 0 || v->n == 0) return CLIPC_OK;
    /* sgemv takes an int row count; split larger matrices. */
    const int64_t step = 1 << 30;
    for (int64_t r0 = 0; r0 < v->n; r0 += step) {
        int rows_here = (int)(v->n - r0 < step ? v->n - r0 : step);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows_here, v->dim, 1.0f, v->data + (size_t)r0 * v->dim, v->dim, q,
                    1, 0.0f, scores_all + r0, 1);
    }
    int h = 0;
    for (int64_t i = 0; i < v->n; i++) {
        float sc = scores_all[i];
        if (sc != sc) continue; /* NaN rows never rank */
        if (h < k) {
            /* sift up */
            int j = h++;
            scores[j] = sc;
            rows[j] = i;
            while (j > 0) {
                int p = (j - 1) / 2;
                if (!worse(scores[j], rows[j], scores[p], rows[p])) break;
                float ts = scores[j]; scores[j] = scores[p]; scores[p] = ts;
                int64_t tr = rows[j]; rows[j] = rows[p]; rows[p] = tr;
                j = p;
            }
        } else if (worse(scores[0], rows[0], sc, i)) {
            scores[0] = sc;
            rows[0] = i;
            sift_down(scores, rows, h, 0);
        }
    }
    /* Pop the heap from the back: the worst goes last. */
    for (int n = h; n > 1; n--) {
        float ts = scores[0]; scores[0] = scores[n - 1]; scores[n - 1] = ts;
        int64_t tr = rows[0]; rows[0] = rows[n - 1]; rows[n - 1] = tr;
        sift_down(scores, rows, n - 1, 0);
    }
    *got = h;
    return CLIPC_OK;
}
