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

typedef struct data_loader data_loader;

typedef struct {
    const clipc_dataset *ds;     /* borrowed; must outlive the loader */
    clipc_tokenizer *tok;        /* borrowed */
    int batch_size;
    int image_size;              /* model input resolution */
    clipc_transform transform;   /* the model's (clipc_model_transform); size 0 = OpenAI's at
                                    image_size */
    int context_length;          /* model context; long captions are truncated */
    uint64_t seed;
    int drop_last;
    int augment;                 /* 1 = random resized crop (scale 0.5-1, ratio 3/4-4/3) + horizontal
                                    flip, 2 = the crop without the flip (augment.h) */
    int shift;                   /* > 0: then translate by up to this many pixels, white fill */
    int fast_decode;             /* libjpeg DCT scaling for big JPEGs (departs from Pillow):
                                    1/2, 1/4 or 1/8 while the short side stays >= image_size
                                    (>= 2*image_size with augment) */
    int workers;                 /* decode threads (0 = 1) */
    int prefetch;                /* batches prepared ahead (0 = 2); memory: (prefetch + 1) *
                                    batch_size * 3 * image_size^2 floats */
    /* Optional preprocessed cache (uint8 center crops + token ids), NULL =
     * none.  Built on first use (progress through warn every 10%), then
     * mmap'ed; a file built for another image size, context length or
     * data set, or a corrupt one, is an error (delete it to rebuild).
     * Refused with augment (augmentation needs the decoded image) and with
     * fast_decode (the cache is exact). */
    const char *cache_path;
    /* Data-parallel training: shards > 1 makes each batch this process's
     * slice, pairs [n*shard/shards, n*(shard+1)/shards) of the n the sampler
     * drew (the sampler and its state stay global, so every process of a
     * run draws the same batches); augmentation draws from the pair's
     * position in the whole batch, as with one process.  A slice left empty
     * (all its images bad, or a short last batch) is returned with n = 0,
     * not skipped: every process must see every batch.  0 or 1: no sharding. */
    int shard, shards;
    /* Bad images, cache progress.  Called from the thread that calls
     * loader_create / loader_next, in sampler order. */
    void (*warn)(const char *msg, void *ud);
    void *warn_ud;
} loader_opts;

/* A pair whose image cannot be read (missing, corrupt, unsupported, too
 * large) is dropped from its batch, so n may be below batch_size; the
 * first of each kind is reported through warn, with a total at the end of
 * each epoch that had some.  A batch left with no pair is skipped (the
 * next one is returned, so `index` can jump); an epoch with no readable
 * image at all is an error. */
typedef struct {
    int n;                       /* pairs in this batch (bad images dropped) */
    float *pixels;               /* (n, 3, R, R), owned by the loader until the next call */
    int32_t *ids;                /* (n, context_length) */
    int *images, *captions;      /* dataset indices of each pair */
    int64_t epoch;               /* epoch this batch belongs to */
    int64_t index;               /* the sampler's batch index within the epoch */
} loader_batch;

clipc_status loader_create(const loader_opts *o, data_loader **out);
/* The next batch in sampler order (blocks until it is ready).  The batch's
 * buffers stay valid until the next call. */
clipc_status loader_next(data_loader *l, loader_batch *b);
/* Sampler batches in the epoch of the next batch (a batch skipped because
 * all its images were bad still counts). */
int loader_batches_per_epoch(const data_loader *l);
/* Resume: the state that makes the next loader_next return the batch
 * that would follow the last one returned.  It is the sampler state
 * (CLIPC_SAMPLER_STATE_WORDS) of that batch: augmentation draws from
 * (seed, epoch, batch index, position), so nothing else is needed.
 * set_state refuses a state from another seed, batch size or data set and
 * then leaves the loader where it was. */
#define LOADER_STATE_WORDS 8
void loader_get_state(const data_loader *l, uint64_t state[LOADER_STATE_WORDS]);
clipc_status loader_set_state(data_loader *l, const uint64_t state[LOADER_STATE_WORDS]);
/* Counts of pairs skipped so far because the image could not be read. */
int loader_bad_images(const data_loader *l);
void loader_free(data_loader *l);

#endif
