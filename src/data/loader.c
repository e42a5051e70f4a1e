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
 * Cache (opts.cache_path): the file format is cache.c's; the loader opens
 * it (building it first when it does not exist, with the worker count as
 * threads and make_pixels as the decode) and then copies crops and ids out
 * of it instead of decoding and tokenizing.  The cache holds center crops,
 * which augmentation cannot use, so cache_path + augment is refused.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/rng.h"
#include "data/bad_image.h"
#include "data/cache.h"
#include "image/augment.h"
#include "image/decode.h"

#define MSG_LEN 320
#define AUG_SALT 0x4155474d454e5431ULL /* decorrelates augmentation from the sampler's streams */

enum { SLOT_FREE, SLOT_WORK, SLOT_READY };

typedef struct {
    int state;
    int n;                       /* pairs drawn */
    int next_item, done, busy;   /* work accounting (under mu) */
    int64_t epoch, index;
    int first;                   /* position of item 0 in the sampled batch (sharding) */
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
    clipc_transform tf;          /* the model's image transform (size == size) */
    int shard, shards;           /* this process's slice of each batch (loader.h) */
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
    loader_cache cache;          /* map == NULL: no cache */
};

static size_t plane3(const data_loader *l) { return (size_t)3 * l->size * l->size; }

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
    int min_short = l->fast_decode ? (augment ? 2 * l->size : l->tf.resize) : 0;
    clipc_status s = image_load_scaled(path, min_short, &im);
    if (s) return s;
    s = augment || l->shift ? augment_image_tf(&im, &l->tf, augment, l->shift, seed, px, rgb)
                           : clipc_preprocess_transform(&im, &l->tf, px, rgb);
    clipc_image_free(&im);
    return s;
}

static void do_item(data_loader *l, slot *sl, int k) {
    int img = sl->images[k], cap = sl->captions[k];
    float *px = sl->pixels + (size_t)k * plane3(l);
    int32_t *ids = sl->ids + (size_t)k * l->ctx;
    char *msg = sl->msg + (size_t)k * MSG_LEN;
    clipc_status s;
    if (l->cache.map) {
        memcpy(ids, l->cache.ids + (size_t)cap * l->ctx, (size_t)l->ctx * sizeof *ids);
        s = (clipc_status)l->cache.status[img];
        if (s == CLIPC_OK)
            normalize_u8_tf(l->cache.pixels + (size_t)img * plane3(l), &l->tf, px);
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
        seed = rng_derive(seed, (uint64_t)(k + sl->first));
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
        sl->first = 0;
        if (l->shards > 1) { /* keep this process's slice */
            int lo = (int)((int64_t)sl->n * l->shard / l->shards);
            int hi = (int)((int64_t)sl->n * (l->shard + 1) / l->shards);
            memmove(sl->images, sl->images + lo, (size_t)(hi - lo) * sizeof(int));
            memmove(sl->captions, sl->captions + lo, (size_t)(hi - lo) * sizeof(int));
            sl->first = lo;
            sl->n = hi - lo;
        }
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
                  bad_kind_name(kind), msg);
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
        if (sl->n == 0 && l->shards <= 1) {
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

/* The cache's decode: the exact path (no augmentation, no shift). */
static clipc_status cache_decode(void *ud, int img, float *px, uint8_t *rgb) {
    return make_pixels(ud, img, 0, 0, px, rgb);
}

static cache_spec cache_spec_of(data_loader *l) {
    cache_spec sp = {.ds = l->ds, .tok = l->tok, .size = l->size, .resize = l->tf.resize, .ctx = l->ctx,
                     .threads = l->nthreads, .decode = cache_decode, .decode_ud = l,
                     .warn = l->warn, .warn_ud = l->warn_ud};
    return sp;
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
    if (o->transform.size && o->transform.size != o->image_size)
        return clipc_error(CLIPC_ERR_INVALID, "loader: transform for %d px images, image size %d",
                           o->transform.size, o->image_size);
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
    if (o->transform.size) {
        l->tf = o->transform;
    } else { /* OpenAI's */
        clipc_config openai = {.image_resolution = o->image_size};
        clipc_config_transform(&openai, &l->tf);
    }
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
    l->shards = o->shards > 1 ? o->shards : 1;
    l->shard = l->shards > 1 ? o->shard : 0;
    if (l->shard < 0 || l->shard >= l->shards) {
        free(l);
        return clipc_error(CLIPC_ERR_INVALID, "loader: shard %d of %d", o->shard, o->shards);
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    pthread_cond_init(&l->idle_cv, NULL);
    clipc_status s = clipc_sampler_create(o->ds, o->batch_size, o->seed, o->drop_last, &l->sampler);
    if (s) goto fail;
    if (o->cache_path) {
        int missing;
        cache_spec sp = cache_spec_of(l);
        s = cache_open(&sp, o->cache_path, &l->cache, &missing);
        if (s && missing) {
            s = cache_build(&sp, o->cache_path);
            if (!s) s = cache_open(&sp, o->cache_path, &l->cache, &missing);
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
        bs = (bs + (size_t)l->shards - 1) / (size_t)l->shards; /* the largest slice */
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
    cache_close(&l->cache);
    clipc_sampler_free(l->sampler);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    pthread_cond_destroy(&l->idle_cv);
    free(l);
}
