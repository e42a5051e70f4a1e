/*
 * hash.c — FNV-1a 64-bit hashing (see hash.h).  Simple and stable: the
 * values end up in cache files and sampler states, so the function must
 * never change.
 */
#include "base/hash.h"

uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}
