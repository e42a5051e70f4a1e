/*
 * cache.h — the loader's preprocessed cache file (cache.c): every image's
 * exact center crop as uint8 RGB plus every caption's token ids, built once
 * and then mmap'ed, so an epoch needs no JPEG decoding.  Internal to
 * src/data; the loader (loader.c) is its only user.
 */
#ifndef CLIPC_DATA_CACHE_H
#define CLIPC_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

/* What a cache is built for, and how to build it. */
typedef struct {
    const clipc_dataset *ds;     /* borrowed */
    clipc_tokenizer *tok;        /* borrowed */
    int size;                    /* image size (crops are size x size) */
    int resize;                  /* the short side before the crop (the model's transform) */
    int ctx;                     /* context length (ids per caption) */
    int threads;                 /* decode threads for the build */
    /* The center crop of image img: px receives 3*size*size floats
     * (scratch), rgb the size*size*3 uint8 crop that is stored.  The
     * loader's own decode, so the cache holds exactly what it would
     * compute. */
    clipc_status (*decode)(void *ud, int img, float *px, uint8_t *rgb);
    void *decode_ud;
    /* Build progress and unreadable images (NULL = silent). */
    void (*warn)(const char *msg, void *ud);
    void *warn_ud;
} cache_spec;

/* An open (mmap'ed, validated) cache. */
typedef struct {
    void *map;                   /* NULL = none */
    size_t map_len;
    const uint8_t *pixels;       /* n_images x size*size*3 RGB crops */
    const int32_t *ids;          /* n_captions x ctx token ids */
    const uint8_t *status;       /* n_images: 0 = ok, else the clipc_status of the failure */
} loader_cache;

/* Maps and validates the cache at path for sp.  ENOENT -> CLIPC_ERR_IO
 * with *missing = 1 (the caller builds it); a cache built for another
 * image size, context length or data set, or a corrupt one, is an error
 * (delete it to rebuild). */
clipc_status cache_open(const cache_spec *sp, const char *path, loader_cache *out, int *missing);
/* Writes the cache for sp at path, atomically (progress through warn
 * every 10%). */
clipc_status cache_build(const cache_spec *sp, const char *path);
void cache_close(loader_cache *c);

#endif
