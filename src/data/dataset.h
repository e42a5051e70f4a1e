/*
 * dataset.h — internal helpers shared by dataset.c and sampler.c (not part
 * of the public API).
 */
#ifndef CLIPC_DATASET_INTERNAL_H
#define CLIPC_DATASET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Caption normalisation used to decide that two captions are "the same":
 * ASCII letters lower-cased, runs of white space collapsed to one space,
 * leading/trailing white space dropped.  Non-ASCII bytes are kept as they
 * are (no Unicode case folding: cheap, locale-free and stable).  Writes at
 * most n bytes + NUL to out (which must hold n + 1) and returns the length. */
size_t caption_key(const char *s, size_t n, char *out);

/* FNV-1a 64-bit hash of n bytes (hash tables and fingerprints). */
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
#define HASH_FNV_OFFSET 0xcbf29ce484222325ULL

#endif
