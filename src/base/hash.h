/*
 * hash.h — FNV-1a 64-bit hashing (hash.c): the hash tables and the
 * fingerprints of the data layer (dataset image index, caption dedup,
 * sampler and loader cache fingerprints).  Internal.
 */
#ifndef CLIPC_BASE_HASH_H
#define CLIPC_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64-bit hash of n bytes, continuing from h (HASH_FNV_OFFSET to
 * start), so several buffers can be chained into one hash. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
#define HASH_FNV_OFFSET 0xcbf29ce484222325ULL

#endif
