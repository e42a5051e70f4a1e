/*
 * cache.c — the loader's preprocessed cache file (see cache.h).
 *
 * File layout, little-endian (native; the magic catches a foreign byte
 * order):
 *   0   "CLIPCLC1"  u32 version, image_size, context_length, n_images,
 *       n_captions, token kind  u64 fingerprint (dataset paths + captions),
 *       u64 file size, u32 resize (the short side before the crop; 0 when
 *       it equals image_size, OpenAI's, as caches written before it was
 *       recorded), u32 reserved, u64 hash of bytes 0..55
 *   64  n_images x image_size^2 x 3 uint8 RGB crops (the exact path)
 *   ... (64-aligned) n_captions x context_length int32 token ids
 *   ... n_images status bytes (0 = ok, else the clipc_status of the failure)
 *   end u64 hash of ids + status bytes, u64 "CLIPCEND"
 * Built on first use with the worker count as threads, written atomically,
 * mmap'ed read-only.  Everything but the pixels is checked on open (the
 * pixels are too big to hash on every start; a flipped pixel is only
 * noise).  The fingerprint covers image paths and captions, not the image
 * files' contents: rebuild (delete the file) after editing images.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cache.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/hash.h"
#include "data/bad_image.h"

#define CACHE_MSG_LEN 320 /* per-image failure message during the build */
#define CACHE_MAGIC "CLIPCLC1"
#define CACHE_END "CLIPCEND"
#define CACHE_VERSION 1u
#define CACHE_HDR 64

static size_t plane3(const cache_spec *sp) { return (size_t)3 * sp->size * sp->size; }

static void cache_warn(const cache_spec *sp, const char *fmt, ...) CLIPC_PRINTF(2, 3);
static void cache_warn(const cache_spec *sp, const char *fmt, ...) {
    if (!sp->warn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sp->warn(buf, sp->warn_ud);
}

static uint64_t dataset_fingerprint(const clipc_dataset *ds) {
    uint64_t h = HASH_FNV_OFFSET;
    int ni = clipc_dataset_n_images(ds), nc = clipc_dataset_n_captions(ds);
    h = hash_bytes(&ni, sizeof ni, h);
    h = hash_bytes(&nc, sizeof nc, h);
    for (int i = 0; i < ni; i++) {
        const char *p = clipc_dataset_image_path(ds, i);
        int first, cnt = clipc_dataset_image_captions(ds, i, &first);
        h = hash_bytes(p, strlen(p) + 1, h);
        h = hash_bytes(&cnt, sizeof cnt, h);
    }
    for (int c = 0; c < nc; c++) {
        const char *t = clipc_dataset_caption(ds, c);
        h = hash_bytes(t, strlen(t) + 1, h);
    }
    return h;
}

typedef struct {
    uint64_t px_off, ids_off, st_off, end_off, size;
} cache_layout;

static cache_layout layout_of(const cache_spec *sp) {
    cache_layout c;
    uint64_t ni = (uint64_t)clipc_dataset_n_images(sp->ds), nc = (uint64_t)clipc_dataset_n_captions(sp->ds);
    c.px_off = CACHE_HDR;
    c.ids_off = (c.px_off + ni * plane3(sp) + 63) / 64 * 64;
    c.st_off = c.ids_off + nc * (uint64_t)sp->ctx * 4;
    c.end_off = c.st_off + ni;
    c.size = c.end_off + 16;
    return c;
}

static void make_header(const cache_spec *sp, uint8_t h[CACHE_HDR]) {
    memset(h, 0, CACHE_HDR);
    memcpy(h, CACHE_MAGIC, 8);
    uint32_t u[6] = {CACHE_VERSION, (uint32_t)sp->size, (uint32_t)sp->ctx,
                     (uint32_t)clipc_dataset_n_images(sp->ds),
                     (uint32_t)clipc_dataset_n_captions(sp->ds),
                     (uint32_t)clipc_tokenizer_is_wordpiece(sp->tok)}; /* which token ids: 0 BPE, 1 WordPiece */
    memcpy(h + 8, u, sizeof u);
    uint64_t fp = dataset_fingerprint(sp->ds), size = layout_of(sp).size;
    memcpy(h + 32, &fp, 8);
    memcpy(h + 40, &size, 8);
    uint32_t rs = sp->resize > sp->size ? (uint32_t)sp->resize : 0u;
    memcpy(h + 48, &rs, 4);
    uint64_t hh = hash_bytes(h, 56, HASH_FNV_OFFSET);
    memcpy(h + 56, &hh, 8);
}

/* One chunk of the cache build: images base..base+cnt-1 decoded by
 * `nthreads` threads taking them one at a time.  (Plain pthreads rather
 * than OpenMP: the thread count is the loader's, not the global one, and
 * ThreadSanitizer can check it.) */
typedef struct {
    const cache_spec *sp;
    int base, cnt, next;
    pthread_mutex_t mu;
    uint8_t *rgb, *status;
    char *msgs;
} build_chunk;

static void *build_worker(void *arg) {
    build_chunk *c = arg;
    size_t p3 = plane3(c->sp);
    float *px = malloc(p3 * sizeof(float));
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int k = c->next++;
        pthread_mutex_unlock(&c->mu);
        if (k >= c->cnt) break;
        clipc_status e = px ? c->sp->decode(c->sp->decode_ud, c->base + k, px, c->rgb + k * p3)
                            : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        c->status[c->base + k] = (uint8_t)e;
        if (e) {
            snprintf(c->msgs + (size_t)k * CACHE_MSG_LEN, CACHE_MSG_LEN, "%s", clipc_last_error());
            memset(c->rgb + k * p3, 0, p3);
        }
    }
    free(px);
    return NULL;
}

static void build_run(build_chunk *c, int nthreads) {
    pthread_t th[64];
    int started = 0;
    if (nthreads > 64) nthreads = 64;
    while (started < nthreads - 1 && !pthread_create(&th[started], NULL, build_worker, c)) started++;
    build_worker(c); /* this thread works too (and alone if no thread started) */
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

/* Writes the cache: pixels in chunks decoded in parallel (the worker
 * count), then ids, status bytes and the trailer; atomically. */
clipc_status cache_build(const cache_spec *sp, const char *path) {
    int ni = clipc_dataset_n_images(sp->ds), nc = clipc_dataset_n_captions(sp->ds);
    cache_layout c = layout_of(sp);
    enum { CHUNK = 64 };
    size_t p3 = plane3(sp);
    uint8_t *rgb = mem_alloc(CHUNK * p3, "cache build");
    uint8_t *status = mem_calloc((size_t)ni + 1, 1, "cache build");
    char *msgs = mem_alloc((size_t)CHUNK * CACHE_MSG_LEN, "cache build");
    int32_t *ids = mem_alloc((size_t)sp->ctx * sizeof(int32_t) * 256, "cache build");
    clipc_atomic_file *f = NULL;
    clipc_status s = (!rgb || !status || !msgs || !ids) ? CLIPC_ERR_NOMEM : CLIPC_OK;
    if (!s) s = clipc_atomic_open(path, &f);
    uint8_t hdr[CACHE_HDR];
    make_header(sp, hdr);
    if (!s) s = clipc_atomic_write(f, hdr, sizeof hdr);
    uint64_t pos = CACHE_HDR;
    int warned[N_BAD] = {0}, bad = 0, next_report = 1;
    double t0 = clipc_now();
    for (int base = 0; base < ni && !s; base += CHUNK) {
        int cnt = ni - base < CHUNK ? ni - base : CHUNK, fatal = -1;
        build_chunk bc = {.sp = sp, .base = base, .cnt = cnt, .rgb = rgb, .status = status, .msgs = msgs};
        pthread_mutex_init(&bc.mu, NULL);
        build_run(&bc, sp->threads);
        pthread_mutex_destroy(&bc.mu);
        for (int k = 0; k < cnt; k++) {
            clipc_status e = (clipc_status)status[base + k];
            if (!e) continue;
            if (e == CLIPC_ERR_NOMEM || e == CLIPC_ERR_INVALID) {
                fatal = k;
                break;
            }
            bad++;
            int kind = bad_kind(e);
            if (!warned[kind]++)
                cache_warn(sp, "loader cache %s: %s: %s (stored as unreadable)", path, bad_kind_name(kind),
                      msgs + (size_t)k * CACHE_MSG_LEN);
        }
        if (fatal >= 0) {
            s = clipc_error((clipc_status)status[base + fatal], "%s: building the cache: %s", path,
                            msgs + (size_t)fatal * CACHE_MSG_LEN);
            break;
        }
        s = clipc_atomic_write(f, rgb, (size_t)cnt * p3);
        pos += (uint64_t)cnt * p3;
        int done = base + cnt;
        while (next_report <= 10 && (int64_t)done * 10 >= (int64_t)next_report * ni) {
            cache_warn(sp, "loader cache %s: %d%% (%d/%d images, %.1f s)", path, next_report * 10, done,
                  ni, clipc_now() - t0);
            next_report++;
        }
    }
    static const uint8_t zeros[64];
    if (!s) s = clipc_atomic_write(f, zeros, (size_t)(c.ids_off - pos));
    uint64_t dh = HASH_FNV_OFFSET;
    for (int base = 0; base < nc && !s; base += 256) {
        int cnt = nc - base < 256 ? nc - base : 256;
        for (int k = 0; k < cnt && !s; k++) {
            const char *t = clipc_dataset_caption(sp->ds, base + k);
            s = clipc_tokenize_context(sp->tok, t, strlen(t), sp->ctx, 1, ids + (size_t)k * sp->ctx);
            if (s) clipc_error_prefix("%s: building the cache: caption %d", path, base + k);
        }
        size_t nb = (size_t)cnt * sp->ctx * sizeof(int32_t);
        if (!s) dh = hash_bytes(ids, nb, dh);
        if (!s) s = clipc_atomic_write(f, ids, nb);
    }
    if (!s) {
        dh = hash_bytes(status, (size_t)ni, dh);
        s = clipc_atomic_write(f, status, (size_t)ni);
    }
    if (!s) s = clipc_atomic_write(f, &dh, 8);
    if (!s) s = clipc_atomic_write(f, CACHE_END, 8);
    if (!s) {
        s = clipc_atomic_commit(f);
        f = NULL;
    }
    if (f) clipc_atomic_abort(f);
    if (!s && bad)
        cache_warn(sp, "loader cache %s: %d of %d images unreadable", path, bad, ni);
    free(rgb);
    free(status);
    free(msgs);
    free(ids);
    return s;
}

/* Maps and validates an existing cache.  ENOENT -> CLIPC_ERR_IO with
 * *missing = 1 (the caller builds it). */
clipc_status cache_open(const cache_spec *sp, const char *path, loader_cache *out, int *missing) {
    *missing = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block: refused below */
    if (fd < 0) {
        *missing = errno == ENOENT;
        return clipc_error(CLIPC_ERR_IO, "%s: cannot open cache: %s", path, strerror(errno));
    }
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        return clipc_error(CLIPC_ERR_IO, "%s: cache is not a regular file", path);
    }
    size_t len = (size_t)stt.st_size;
    if (len < CACHE_HDR) {
        close(fd);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc loader cache (%zu bytes); delete it "
                           "to rebuild", path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return clipc_error(CLIPC_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    const uint8_t *m = map;
    uint8_t want[CACHE_HDR];
    make_header(sp, want);
    uint32_t u[6];
    memcpy(u, m + 8, sizeof u);
    uint64_t hh, fp, wfp;
    memcpy(&hh, m + 56, 8);
    memcpy(&fp, m + 32, 8);
    memcpy(&wfp, want + 32, 8);
    cache_layout c = layout_of(sp);
    clipc_status s = CLIPC_OK;
    if (memcmp(m, CACHE_MAGIC, 8))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc loader cache (bad magic)", path);
    else if (hh != hash_bytes(m, 56, HASH_FNV_OFFSET))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache header is corrupt (checksum mismatch); delete "
                        "it to rebuild", path);
    else if (u[0] != CACHE_VERSION)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache version %u, this clipc writes %u; delete it "
                        "to rebuild", path, u[0], CACHE_VERSION);
    else if (u[1] != (uint32_t)sp->size || u[2] != (uint32_t)sp->ctx)
        s = clipc_error(CLIPC_ERR_INVALID, "%s: cache was built for image size %u, context length "
                        "%u (this run: %d, %d); delete it or use another cache path", path, u[1],
                        u[2], sp->size, sp->ctx);
    else if (memcmp(m + 48, want + 48, 4)) {
        uint32_t rs;
        memcpy(&rs, m + 48, 4);
        s = clipc_error(CLIPC_ERR_INVALID, "%s: cache holds crops of images resized to %u, this run's model "
                        "resizes to %d (another image transform); delete it or use another cache path", path,
                        rs ? rs : u[1], sp->resize > sp->size ? sp->resize : sp->size);
    } else if (u[5] != (uint32_t)clipc_tokenizer_is_wordpiece(sp->tok))
        s = clipc_error(CLIPC_ERR_INVALID, "%s: cache holds %s token ids, this run's model takes %s ones; delete "
                        "it or use another cache path", path, u[5] ? "WordPiece" : "BPE",
                        u[5] ? "BPE" : "WordPiece");
    else if (fp != wfp || u[3] != (uint32_t)clipc_dataset_n_images(sp->ds) ||
             u[4] != (uint32_t)clipc_dataset_n_captions(sp->ds))
        s = clipc_error(CLIPC_ERR_INVALID, "%s: cache was built for another dataset (%u images, %u "
                        "captions, fingerprint mismatch); delete it or use another cache path",
                        path, u[3], u[4]);
    else if (len != c.size)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache is %zu bytes, expected %llu (truncated?); "
                        "delete it to rebuild", path, len, (unsigned long long)c.size);
    else if (memcmp(m + c.end_off + 8, CACHE_END, 8))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache end marker missing; delete it to rebuild", path);
    else {
        uint64_t dh, got = hash_bytes(m + c.ids_off, (size_t)(c.end_off - c.ids_off), HASH_FNV_OFFSET);
        memcpy(&dh, m + c.end_off, 8);
        if (dh != got)
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache token ids / status are corrupt (checksum "
                            "mismatch); delete it to rebuild", path);
    }
    if (s) {
        munmap(map, len);
        return s;
    }
    out->map = map;
    out->map_len = len;
    out->pixels = m + c.px_off;
    out->ids = (const int32_t *)(const void *)(m + c.ids_off);
    out->status = m + c.st_off;
    return CLIPC_OK;
}

void cache_close(loader_cache *c) {
    if (c->map) munmap(c->map, c->map_len);
    memset(c, 0, sizeof *c);
}
