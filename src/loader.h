/*
 * loader.h — the training input pipeline: sampler -> decode -> preprocess /
 * augment -> tokenize -> batches, with worker threads that prepare the next
 * batches while the model trains on the current one.
 *
 * Data flows one way: a clipc_dataset (readers) and its clipc_sampler choose
 * the (image, caption) pairs of each step; the loader turns them into model
 * inputs.  Batches come out in sampler order whatever the thread timing, and
 * every random choice (crop, flip) comes from a stream derived from
 * (seed, epoch, batch index, position in batch), so a run is bit-exact for a
 * seed and resumes exactly from the sampler state.
 */
#ifndef CLIPC_LOADER_H
#define CLIPC_LOADER_H

#include "clipc.h"

typedef struct clipc_loader clipc_loader;

typedef struct {
    const clipc_dataset *ds;     /* borrowed; must outlive the loader */
    clipc_tokenizer *tok;        /* borrowed */
    int batch_size;
    int image_size;              /* model input resolution */
    int context_length;          /* model context; long captions are truncated */
    uint64_t seed;
    int drop_last;
    int augment;                 /* random resized crop (scale 0.5-1, ratio 3/4-4/3) + horizontal flip */
    int fast_decode;             /* libjpeg DCT scaling for big JPEGs (departs from Pillow) */
    int workers;                 /* decode threads (0 = 1) */
    int prefetch;                /* batches prepared ahead (default 2) */
    const char *cache_path;      /* optional preprocessed cache (uint8 pixels + ids), NULL = none */
    void (*warn)(const char *msg, void *ud);
    void *warn_ud;
} clipc_loader_opts;

typedef struct {
    int n;                       /* pairs in this batch (bad images dropped) */
    float *pixels;               /* (n, 3, R, R), owned by the loader until the next call */
    int32_t *ids;                /* (n, context_length) */
    int *images, *captions;      /* dataset indices of each pair */
    int64_t epoch;               /* epoch this batch belongs to */
    int64_t index;               /* batch index within the epoch */
} clipc_batch;

clipc_status clipc_loader_create(const clipc_loader_opts *o, clipc_loader **out);
/* The next batch in sampler order (blocks until it is ready).  The batch's
 * buffers stay valid until the next call. */
clipc_status clipc_loader_next(clipc_loader *l, clipc_batch *b);
int clipc_loader_batches_per_epoch(const clipc_loader *l);
/* Resume: the state that makes the next clipc_loader_next return the batch
 * that would follow the last one returned. */
#define CLIPC_LOADER_STATE_WORDS 8
void clipc_loader_get_state(const clipc_loader *l, uint64_t state[CLIPC_LOADER_STATE_WORDS]);
clipc_status clipc_loader_set_state(clipc_loader *l, const uint64_t state[CLIPC_LOADER_STATE_WORDS]);
/* Counts of pairs skipped so far because the image could not be read. */
int clipc_loader_bad_images(const clipc_loader *l);
void clipc_loader_free(clipc_loader *l);

#endif
