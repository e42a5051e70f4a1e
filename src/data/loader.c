/*
 * loader.c — the training input pipeline (see loader.h for the contract).
 *
 * Threads.  The consumer (the training loop, calling loader_next) owns
 * the sampler: it draws batches ahead into a ring of prefetch + 1 slots
 * (prefetch being prepared, one held by the caller until its next call).
 * Worker threads take single (batch, position) items, oldest batch first,
 * and write each item's pixels and ids to its fixed place in the slot, so
 * several workers cooperate on one batch and the output does not depend on
 * which worker did what.  Randomness (augmentation) comes from a stream
 * derived from (seed, epoch, batch index, position in the sampled batch).
 * A slot is handed out only when all its items are done; the consumer then
 * drops the pairs whose image could not be read (compacting in place, in
 * order) and issues the warnings, so warnings too come in sampler order.
 *
 * Locking.  One mutex guards the slot states and counters.  A slot's
 * arrays are written by the consumer only while the slot is FREE (no worker
 * looks at it) and by a worker only for the item it took; the mutex
 * hand-offs order those writes.
 *
 * Resume.  Each slot remembers the sampler state from before its batch was
 * drawn; the loader state is that of the next batch to be returned, so
 * batches prepared ahead but never returned are simply drawn again.
 *
 * Bad images (missing, corrupt, unsupported, too large) drop their pair;
 * the first of each kind is reported through opts.warn, and at the end of
 * every epoch that had some, a total.  A batch left empty is skipped (the
 * next one is returned); a whole epoch without one readable image is an
 * error, so a data set of broken files cannot loop forever.
 *
 * Cache (opts.cache_path).  File layout, little-endian (native; the magic
 * catches a foreign byte order):
 *   0   "CLIPCLC1"  u32 version, image_size, context_length, n_images,
 *       n_captions, reserved  u64 fingerprint (dataset paths + captions),
 *       u64 file size, u64 reserved, u64 hash of bytes 0..55
 *   64  n_images x image_size^2 x 3 uint8 RGB crops (the exact path)
 *   ... (64-aligned) n_captions x context_length int32 token ids
 *   ... n_images status bytes (0 = ok, else the clipc_status of the failure)
 *   end u64 hash of ids + status bytes, u64 "CLIPCEND"
 * Built on first use with the worker count as threads, written atomically,
 * mmap'ed read-only.  Everything but the pixels is checked on open (the
 * pixels are too big to hash on every start; a flipped pixel is only
 * noise).  The fingerprint covers image paths and captions, not the image
 * files' contents: rebuild (delete the file) after editing images.  The
 * cache holds center crops, which augmentation cannot use, so
 * cache_path + augment is refused.
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

#include "data/loader.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/rng.h"
#include "data/dataset.h"
#include "image/augment.h"
#include "image/decode.h"

#define MSG_LEN 320
#define AUG_SALT 0x4155474d454e5431ULL /* decorrelates augmentation from the sampler's streams */
#define CACHE_MAGIC "CLIPCLC1"
#define CACHE_END "CLIPCEND"
#define CACHE_VERSION 1u
#define CACHE_HDR 64

enum { SLOT_FREE, SLOT_WORK, SLOT_READY };

/* Kinds of bad image, warned about once each. */
enum { BAD_MISSING, BAD_CORRUPT, BAD_UNSUPPORTED, BAD_TOO_LARGE, BAD_OTHER, N_BAD };
static const char *bad_kind_name[N_BAD] = {"missing or unreadable image", "corrupt image",
                                           "unsupported image", "image too large",
                                           "image failed"};

typedef struct {
    int state;
    int n;                       /* pairs drawn */
    int next_item, done, busy;   /* work accounting (under mu) */
    int64_t epoch, index;
    int batches_in_epoch;
    uint64_t sstate[CLIPC_SAMPLER_STATE_WORDS]; /* sampler state before this batch */
    int *images, *captions;
    float *pixels;
    int32_t *ids;
    /* Per item: 0 = good, > 0 the clipc_status of a bad image (pair
     * dropped), < 0 minus the status of a failure that is not the data's
     * fault (out of memory, tokenizer): loader_next fails with it. */
    int *status;
    char *msg;                   /* per item, MSG_LEN each (only for failures) */
} slot;

struct data_loader {
    const clipc_dataset *ds;
    clipc_tokenizer *tok;
    int bs, size, ctx, augment, shift, fast_decode, prefetch, nslots, nthreads;
    uint64_t seed;
    void (*warn)(const char *msg, void *ud);
    void *warn_ud;
    clipc_sampler *sampler;
    slot *slots;
    int64_t head, tail;          /* seq of the next batch to return / to draw */
    int held;                    /* slot held by the caller, -1 none */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv, idle_cv;
    int stop;
    pthread_t *threads;
    int started;                 /* threads successfully created */
    /* bad images (consumer thread only) */
    int bad_total, bad_epoch;
    int warned[N_BAD];
    /* cache */
    void *map;
    size_t map_len;
    const uint8_t *c_pixels, *c_status;
    const int32_t *c_ids;
};

static size_t plane3(const data_loader *l) { return (size_t)3 * l->size * l->size; }

static int bad_kind(clipc_status s) {
    switch (s) {
    case CLIPC_ERR_IO: return BAD_MISSING;
    case CLIPC_ERR_FORMAT: return BAD_CORRUPT;
    case CLIPC_ERR_UNSUPPORTED: return BAD_UNSUPPORTED;
    case CLIPC_ERR_RANGE: return BAD_TOO_LARGE;
    default: return BAD_OTHER;
    }
}

static void loader_warn(const data_loader *l, const char *fmt, ...) CLIPC_PRINTF(2, 3);
static void loader_warn(const data_loader *l, const char *fmt, ...) {
    if (!l->warn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    l->warn(buf, l->warn_ud);
}

/* ------------------------------------------------------------ one item */

/* Decodes and transforms one image into `px` (3*size*size floats) and,
 * when rgb is not NULL, its uint8 crop.  Used by workers and the cache
 * builder.  seed is used only when augmenting. */
static clipc_status make_pixels(const data_loader *l, int img, int augment, uint64_t seed,
                                float *px, uint8_t *rgb) {
    char path[4096];
    int need = clipc_dataset_image_fullpath(l->ds, img, path, sizeof path);
    if (need < 0 || (size_t)need >= sizeof path)
        return clipc_error(CLIPC_ERR_IO, "%s: path too long", clipc_dataset_image_path(l->ds, img));
    clipc_image im;
    int min_short = l->fast_decode ? (augment ? 2 * l->size : l->size) : 0;
    clipc_status s = image_load_scaled(path, min_short, &im);
    if (s) return s;
    s = augment || l->shift ? augment_image_ex(&im, l->size, augment, l->shift, seed, px, rgb)
                           : clipc_preprocess(&im, l->size, px, rgb);
    clipc_image_free(&im);
    return s;
}

static void do_item(data_loader *l, slot *sl, int k) {
    int img = sl->images[k], cap = sl->captions[k];
    float *px = sl->pixels + (size_t)k * plane3(l);
    int32_t *ids = sl->ids + (size_t)k * l->ctx;
    char *msg = sl->msg + (size_t)k * MSG_LEN;
    clipc_status s;
    if (l->map) {
        memcpy(ids, l->c_ids + (size_t)cap * l->ctx, (size_t)l->ctx * sizeof *ids);
        s = (clipc_status)l->c_status[img];
        if (s == CLIPC_OK)
            normalize_u8(l->c_pixels + (size_t)img * plane3(l), l->size, px);
        else
            snprintf(msg, MSG_LEN, "%s: could not be read when the cache was built (%s)",
                     clipc_dataset_image_path(l->ds, img), clipc_status_name(s));
        sl->status[k] = (int)s;
        return;
    }
    const char *text = clipc_dataset_caption(l->ds, cap);
    s = clipc_tokenize_context(l->tok, text, strlen(text), l->ctx, 1, ids);
    if (s) {
        snprintf(msg, MSG_LEN, "caption %d: %s", cap, clipc_last_error());
        sl->status[k] = -(int)s;
        return;
    }
    uint64_t seed = 0;
    if (l->augment || l->shift) {
        seed = rng_derive(l->seed ^ AUG_SALT, (uint64_t)sl->epoch);
        seed = rng_derive(seed, (uint64_t)sl->index);
        seed = rng_derive(seed, (uint64_t)k);
    }
    s = make_pixels(l, img, l->augment, seed, px, NULL);
    if (s) snprintf(msg, MSG_LEN, "%s", clipc_last_error());
    sl->status[k] = (s == CLIPC_ERR_NOMEM || s == CLIPC_ERR_INVALID) ? -(int)s : (int)s;
}

static void *worker_main(void *arg) {
    data_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->stop) break;
        slot *sl = NULL;
        int k = -1;
        for (int64_t q = l->head; q < l->tail && !sl; q++) {
            slot *c = &l->slots[q % l->nslots];
            if (c->state == SLOT_WORK && c->next_item < c->n) sl = c, k = c->next_item++;
        }
        if (!sl) {
            pthread_cond_wait(&l->work_cv, &l->mu);
            continue;
        }
        sl->busy++;
        pthread_mutex_unlock(&l->mu);
        do_item(l, sl, k);
        pthread_mutex_lock(&l->mu);
        sl->busy--;
        if (++sl->done == sl->n && sl->state == SLOT_WORK) {
            sl->state = SLOT_READY;
            pthread_cond_broadcast(&l->ready_cv);
        }
        if (sl->busy == 0) pthread_cond_broadcast(&l->idle_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ----------------------------------------------------------- the ring */

/* Draws batches into free slots until `prefetch` are in flight (consumer
 * thread).  The slot is FREE, so no worker reads it while it is filled. */
static clipc_status fill(data_loader *l) {
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int room = l->tail - l->head < l->prefetch &&
                   l->tail - l->head + (l->held >= 0) < l->nslots;
        int64_t q = l->tail;
        pthread_mutex_unlock(&l->mu);
        if (!room) return CLIPC_OK;
        slot *sl = &l->slots[q % l->nslots];
        clipc_sampler_get_state(l->sampler, sl->sstate);
        sl->batches_in_epoch = clipc_sampler_batches_in_epoch(l->sampler);
        /* Word 3 of the sampler state is the batch index within its epoch
         * (sampler.c: magic, seed, epoch, pos, ...). */
        sl->index = (int64_t)sl->sstate[3];
        clipc_status s = clipc_sampler_next(l->sampler, sl->images, sl->captions, &sl->n, &sl->epoch);
        if (s) return s;
        sl->next_item = sl->done = sl->busy = 0;
        pthread_mutex_lock(&l->mu);
        sl->state = sl->n > 0 ? SLOT_WORK : SLOT_READY;
        l->tail++;
        pthread_cond_broadcast(&l->work_cv);
        pthread_mutex_unlock(&l->mu);
    }
}

/* Stops work on every batch drawn but not returned and forgets them
 * (waits for items in progress).  The sampler is then ahead of the loader:
 * the caller rewinds it. */
static void drain(data_loader *l) {
    pthread_mutex_lock(&l->mu);
    for (int64_t q = l->head; q < l->tail; q++) {
        slot *sl = &l->slots[q % l->nslots];
        sl->next_item = sl->n;
        while (sl->busy > 0) pthread_cond_wait(&l->idle_cv, &l->mu);
        sl->state = SLOT_FREE;
    }
    l->tail = l->head;
    pthread_mutex_unlock(&l->mu);
}

/* Drops failed pairs from a finished batch, in order; counts and warns. */
static clipc_status finish_batch(data_loader *l, slot *sl) {
    int m = 0;
    size_t p3 = plane3(l);
    for (int k = 0; k < sl->n; k++) {
        if (sl->status[k] == 0) {
            if (m != k) {
                memmove(sl->pixels + m * p3, sl->pixels + k * p3, p3 * sizeof(float));
                memmove(sl->ids + (size_t)m * l->ctx, sl->ids + (size_t)k * l->ctx,
                        (size_t)l->ctx * sizeof(int32_t));
                sl->images[m] = sl->images[k];
                sl->captions[m] = sl->captions[k];
            }
            m++;
            continue;
        }
        const char *msg = sl->msg + (size_t)k * MSG_LEN;
        if (sl->status[k] < 0) return clipc_error((clipc_status)-sl->status[k], "loader: %s", msg);
        int kind = bad_kind((clipc_status)sl->status[k]);
        l->bad_total++;
        l->bad_epoch++;
        if (!l->warned[kind]) {
            l->warned[kind] = 1;
            loader_warn(l, "loader: %s: %s (pair skipped; later ones are counted, not reported)",
                  bad_kind_name[kind], msg);
        }
    }
    sl->n = m;
    if (sl->index + 1 == sl->batches_in_epoch) {
        if (l->bad_epoch)
            loader_warn(l, "loader: epoch %lld: %d unreadable image(s) skipped (%d in all)",
                  (long long)sl->epoch, l->bad_epoch, l->bad_total);
        l->bad_epoch = 0;
    }
    return CLIPC_OK;
}

clipc_status loader_next(data_loader *l, loader_batch *b) {
    memset(b, 0, sizeof *b);
    int empty_run = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (l->held >= 0) l->slots[l->held].state = SLOT_FREE;
        l->held = -1;
        pthread_mutex_unlock(&l->mu);
        clipc_status s = fill(l);
        if (s) return s;
        pthread_mutex_lock(&l->mu);
        slot *sl = &l->slots[l->head % l->nslots];
        while (sl->state != SLOT_READY) pthread_cond_wait(&l->ready_cv, &l->mu);
        l->held = (int)(l->head % l->nslots);
        l->head++;
        pthread_mutex_unlock(&l->mu);
        s = fill(l); /* keep `prefetch` batches in flight while the caller works */
        if (s) return s;
        s = finish_batch(l, sl);
        if (s) return s;
        if (sl->n == 0) {
            /* Every image of this batch was bad: go on with the next one. */
            if (++empty_run > sl->batches_in_epoch + 2)
                return clipc_error(CLIPC_ERR_FORMAT,
                                   "loader: no readable image in a whole epoch (%d skipped)",
                                   l->bad_total);
            continue;
        }
        b->n = sl->n;
        b->pixels = sl->pixels;
        b->ids = sl->ids;
        b->images = sl->images;
        b->captions = sl->captions;
        b->epoch = sl->epoch;
        b->index = sl->index;
        return CLIPC_OK;
    }
}

int loader_batches_per_epoch(const data_loader *l) {
    data_loader *m = (data_loader *)l; /* the mutex; the loader is not changed */
    pthread_mutex_lock(&m->mu);
    int n = l->tail > l->head ? l->slots[l->head % l->nslots].batches_in_epoch
                              : clipc_sampler_batches_in_epoch(l->sampler);
    pthread_mutex_unlock(&m->mu);
    return n;
}

void loader_get_state(const data_loader *l, uint64_t st[LOADER_STATE_WORDS]) {
    data_loader *m = (data_loader *)l;
    pthread_mutex_lock(&m->mu);
    if (l->tail > l->head)
        memcpy(st, l->slots[l->head % l->nslots].sstate, sizeof(uint64_t) * CLIPC_SAMPLER_STATE_WORDS);
    else
        clipc_sampler_get_state(l->sampler, st);
    pthread_mutex_unlock(&m->mu);
}

clipc_status loader_set_state(data_loader *l, const uint64_t st[LOADER_STATE_WORDS]) {
    uint64_t cur[LOADER_STATE_WORDS];
    loader_get_state(l, cur);
    if (st[0] == cur[0] && st[1] != l->seed)
        return clipc_error(CLIPC_ERR_INVALID, "loader state: saved with seed %llu, loader has %llu",
                           (unsigned long long)st[1], (unsigned long long)l->seed);
    drain(l);
    clipc_status s = clipc_sampler_set_state(l->sampler, st);
    if (s) {
        clipc_status s2 = clipc_sampler_set_state(l->sampler, cur); /* back where it was */
        (void)s2;
        fill(l);
        return s;
    }
    l->bad_epoch = 0;
    return fill(l);
}

int loader_bad_images(const data_loader *l) { return l->bad_total; }

/* ----------------------------------------------------------- the cache */

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

static cache_layout layout_of(const data_loader *l) {
    cache_layout c;
    uint64_t ni = (uint64_t)clipc_dataset_n_images(l->ds), nc = (uint64_t)clipc_dataset_n_captions(l->ds);
    c.px_off = CACHE_HDR;
    c.ids_off = (c.px_off + ni * plane3(l) + 63) / 64 * 64;
    c.st_off = c.ids_off + nc * (uint64_t)l->ctx * 4;
    c.end_off = c.st_off + ni;
    c.size = c.end_off + 16;
    return c;
}

static void make_header(const data_loader *l, uint8_t h[CACHE_HDR]) {
    memset(h, 0, CACHE_HDR);
    memcpy(h, CACHE_MAGIC, 8);
    uint32_t u[6] = {CACHE_VERSION, (uint32_t)l->size, (uint32_t)l->ctx,
                     (uint32_t)clipc_dataset_n_images(l->ds),
                     (uint32_t)clipc_dataset_n_captions(l->ds), 0};
    memcpy(h + 8, u, sizeof u);
    uint64_t fp = dataset_fingerprint(l->ds), size = layout_of(l).size;
    memcpy(h + 32, &fp, 8);
    memcpy(h + 40, &size, 8);
    uint64_t hh = hash_bytes(h, 56, HASH_FNV_OFFSET);
    memcpy(h + 56, &hh, 8);
}

/* One chunk of the cache build: images base..base+cnt-1 decoded by
 * `nthreads` threads taking them one at a time.  (Plain pthreads rather
 * than OpenMP: the thread count is the loader's, not the global one, and
 * ThreadSanitizer can check it.) */
typedef struct {
    const data_loader *l;
    int base, cnt, next;
    pthread_mutex_t mu;
    uint8_t *rgb, *status;
    char *msgs;
} build_chunk;

static void *build_worker(void *arg) {
    build_chunk *c = arg;
    size_t p3 = plane3(c->l);
    float *px = malloc(p3 * sizeof(float));
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int k = c->next++;
        pthread_mutex_unlock(&c->mu);
        if (k >= c->cnt) break;
        clipc_status e = px ? make_pixels(c->l, c->base + k, 0, 0, px, c->rgb + k * p3)
                            : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        c->status[c->base + k] = (uint8_t)e;
        if (e) {
            snprintf(c->msgs + (size_t)k * MSG_LEN, MSG_LEN, "%s", clipc_last_error());
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
static clipc_status cache_build(data_loader *l, const char *path) {
    int ni = clipc_dataset_n_images(l->ds), nc = clipc_dataset_n_captions(l->ds);
    cache_layout c = layout_of(l);
    enum { CHUNK = 64 };
    size_t p3 = plane3(l);
    uint8_t *rgb = mem_alloc(CHUNK * p3, "cache build");
    uint8_t *status = mem_calloc((size_t)ni + 1, 1, "cache build");
    char *msgs = mem_alloc((size_t)CHUNK * MSG_LEN, "cache build");
    int32_t *ids = mem_alloc((size_t)l->ctx * sizeof(int32_t) * 256, "cache build");
    clipc_atomic_file *f = NULL;
    clipc_status s = (!rgb || !status || !msgs || !ids) ? CLIPC_ERR_NOMEM : CLIPC_OK;
    if (!s) s = clipc_atomic_open(path, &f);
    uint8_t hdr[CACHE_HDR];
    make_header(l, hdr);
    if (!s) s = clipc_atomic_write(f, hdr, sizeof hdr);
    uint64_t pos = CACHE_HDR;
    int warned[N_BAD] = {0}, bad = 0, next_report = 1;
    double t0 = clipc_now();
    for (int base = 0; base < ni && !s; base += CHUNK) {
        int cnt = ni - base < CHUNK ? ni - base : CHUNK, fatal = -1;
        build_chunk bc = {.l = l, .base = base, .cnt = cnt, .rgb = rgb, .status = status, .msgs = msgs};
        pthread_mutex_init(&bc.mu, NULL);
        build_run(&bc, l->nthreads);
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
                loader_warn(l, "loader cache %s: %s: %s (stored as unreadable)", path, bad_kind_name[kind],
                      msgs + (size_t)k * MSG_LEN);
        }
        if (fatal >= 0) {
            s = clipc_error((clipc_status)status[base + fatal], "%s: building the cache: %s", path,
                            msgs + (size_t)fatal * MSG_LEN);
            break;
        }
        s = clipc_atomic_write(f, rgb, (size_t)cnt * p3);
        pos += (uint64_t)cnt * p3;
        int done = base + cnt;
        while (next_report <= 10 && (int64_t)done * 10 >= (int64_t)next_report * ni) {
            loader_warn(l, "loader cache %s: %d%% (%d/%d images, %.1f s)", path, next_report * 10, done,
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
            const char *t = clipc_dataset_caption(l->ds, base + k);
            s = clipc_tokenize_context(l->tok, t, strlen(t), l->ctx, 1, ids + (size_t)k * l->ctx);
            if (s) clipc_error_prefix("%s: building the cache: caption %d", path, base + k);
        }
        size_t nb = (size_t)cnt * l->ctx * sizeof(int32_t);
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
        loader_warn(l, "loader cache %s: %d of %d images unreadable", path, bad, ni);
    free(rgb);
    free(status);
    free(msgs);
    free(ids);
    return s;
}

/* Maps and validates an existing cache.  ENOENT -> CLIPC_ERR_IO with
 * *missing = 1 (the caller builds it). */
static clipc_status cache_open(data_loader *l, const char *path, int *missing) {
    *missing = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
    make_header(l, want);
    uint32_t u[6];
    memcpy(u, m + 8, sizeof u);
    uint64_t hh, fp, wfp;
    memcpy(&hh, m + 56, 8);
    memcpy(&fp, m + 32, 8);
    memcpy(&wfp, want + 32, 8);
    cache_layout c = layout_of(l);
    clipc_status s = CLIPC_OK;
    if (memcmp(m, CACHE_MAGIC, 8))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc loader cache (bad magic)", path);
    else if (hh != hash_bytes(m, 56, HASH_FNV_OFFSET))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache header is corrupt (checksum mismatch); delete "
                        "it to rebuild", path);
    else if (u[0] != CACHE_VERSION)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: cache version %u, this clipc writes %u; delete it "
                        "to rebuild", path, u[0], CACHE_VERSION);
    else if (u[1] != (uint32_t)l->size || u[2] != (uint32_t)l->ctx)
        s = clipc_error(CLIPC_ERR_INVALID, "%s: cache was built for image size %u, context length "
                        "%u (this run: %d, %d); delete it or use another cache path", path, u[1],
                        u[2], l->size, l->ctx);
    else if (fp != wfp || u[3] != (uint32_t)clipc_dataset_n_images(l->ds) ||
             u[4] != (uint32_t)clipc_dataset_n_captions(l->ds))
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
    l->map = map;
    l->map_len = len;
    l->c_pixels = m + c.px_off;
    l->c_ids = (const int32_t *)(const void *)(m + c.ids_off);
    l->c_status = m + c.st_off;
    return CLIPC_OK;
}

/* ------------------------------------------------------ create / free */

clipc_status loader_create(const loader_opts *o, data_loader **out) {
    *out = NULL;
    if (!o || !o->ds || !o->tok)
        return clipc_error(CLIPC_ERR_INVALID, "loader: dataset and tokenizer are required");
    if (o->batch_size <= 0 || o->image_size <= 0 || o->image_size > 4096 || o->context_length < 2 ||
        o->workers < 0 || o->workers > 256 || o->prefetch < 0 || o->prefetch > 64)
        return clipc_error(CLIPC_ERR_INVALID,
                           "loader: bad options (batch size %d, image size %d, context length %d, "
                           "workers %d, prefetch %d)", o->batch_size, o->image_size,
                           o->context_length, o->workers, o->prefetch);
    if (o->cache_path && (o->augment || o->shift))
        return clipc_error(CLIPC_ERR_INVALID, "loader: %s: the cache holds center crops, which "
                           "augmentation cannot use; drop the cache or the augmentation",
                           o->cache_path);
    if (o->cache_path && o->fast_decode)
        return clipc_error(CLIPC_ERR_INVALID, "loader: %s: the cache holds exact crops; "
                           "fast_decode would not be used with it", o->cache_path);
    data_loader *l = mem_calloc(1, sizeof *l, "loader");
    if (!l) return CLIPC_ERR_NOMEM;
    l->ds = o->ds;
    l->tok = o->tok;
    l->bs = o->batch_size;
    l->size = o->image_size;
    l->ctx = o->context_length;
    l->augment = o->augment;
    l->shift = o->shift > 0 ? o->shift : 0;
    l->fast_decode = o->fast_decode;
    l->seed = o->seed;
    l->nthreads = o->workers ? o->workers : 1;
    l->prefetch = o->prefetch ? o->prefetch : 2;
    l->nslots = l->prefetch + 1;
    l->warn = o->warn;
    l->warn_ud = o->warn_ud;
    l->held = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    pthread_cond_init(&l->idle_cv, NULL);
    clipc_status s = clipc_sampler_create(o->ds, o->batch_size, o->seed, o->drop_last, &l->sampler);
    if (s) goto fail;
    if (o->cache_path) {
        int missing;
        s = cache_open(l, o->cache_path, &missing);
        if (s && missing) {
            s = cache_build(l, o->cache_path);
            if (!s) s = cache_open(l, o->cache_path, &missing);
        }
        if (s) goto fail;
    }
    l->slots = mem_calloc((size_t)l->nslots, sizeof *l->slots, "loader");
    if (!l->slots) {
        s = CLIPC_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < l->nslots; i++) {
        slot *sl = &l->slots[i];
        size_t bs = (size_t)l->bs;
        sl->images = malloc(bs * sizeof(int));
        sl->captions = malloc(bs * sizeof(int));
        sl->pixels = malloc(bs * plane3(l) * sizeof(float));
        sl->ids = malloc(bs * l->ctx * sizeof(int32_t));
        sl->status = malloc(bs * sizeof(int));
        sl->msg = malloc(bs * MSG_LEN);
        if (!sl->images || !sl->captions || !sl->pixels || !sl->ids || !sl->status || !sl->msg) {
            s = clipc_error(CLIPC_ERR_NOMEM, "loader: out of memory for %d batches of %d images",
                            l->nslots, l->bs);
            goto fail;
        }
    }
    l->threads = mem_calloc((size_t)l->nthreads, sizeof *l->threads, "loader");
    if (!l->threads) {
        s = CLIPC_ERR_NOMEM;
        goto fail;
    }
    for (; l->started < l->nthreads; l->started++)
        if (pthread_create(&l->threads[l->started], NULL, worker_main, l)) {
            s = clipc_error(CLIPC_ERR_NOMEM, "loader: cannot start worker thread %d", l->started);
            goto fail;
        }
    s = fill(l);
    if (s) goto fail;
    *out = l;
    return CLIPC_OK;
fail:
    loader_free(l);
    return s;
}

void loader_free(data_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    /* Workers finish the item in hand (one image) and exit. */
    for (int i = 0; i < l->started; i++) pthread_join(l->threads[i], NULL);
    free(l->threads);
    if (l->slots)
        for (int i = 0; i < l->nslots; i++) {
            slot *sl = &l->slots[i];
            free(sl->images);
            free(sl->captions);
            free(sl->pixels);
            free(sl->ids);
            free(sl->status);
            free(sl->msg);
        }
    free(l->slots);
    if (l->map) munmap(l->map, l->map_len);
    clipc_sampler_free(l->sampler);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    pthread_cond_destroy(&l->idle_cv);
    free(l);
}
