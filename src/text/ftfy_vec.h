/*
 * ftfy_vec.h -- the growable arrays ftfy.c and its helpers pass text in:
 * code points (cvec) while fixing text, bytes (bvec) while re-encoding
 * mojibake.  Every push reports allocation failure (-1) so the fixers can
 * return it instead of dying; a failed vector keeps what it had.  Internal,
 * header-only.
 */
#ifndef CLIPC_FTFY_VEC_H
#define CLIPC_FTFY_VEC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cvec;

typedef struct {
    uint8_t *v;
    size_t n, cap;
} bvec;

static inline int vec_grow_(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*v, c * elem);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

static inline int cvec_reserve(cvec *a, size_t need) {
    return vec_grow_((void **)&a->v, &a->cap, need, sizeof *a->v);
}
static inline int cvec_push(cvec *a, uint32_t c) {
    if (a->n == a->cap && cvec_reserve(a, a->n + 1)) return -1;
    a->v[a->n++] = c;
    return 0;
}
static inline int cvec_append(cvec *a, const uint32_t *s, size_t n) {
    if (cvec_reserve(a, a->n + n)) return -1;
    if (n) memcpy(a->v + a->n, s, n * sizeof *s);
    a->n += n;
    return 0;
}
static inline int cvec_equal(const cvec *a, const cvec *b) {
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}
/* Moves b into a (freeing what a held); b is left empty. */
static inline void cvec_take(cvec *a, cvec *b) {
    free(a->v);
    *a = *b;
    b->v = NULL, b->n = b->cap = 0;
}
static inline void cvec_free(cvec *a) {
    free(a->v);
    a->v = NULL, a->n = a->cap = 0;
}

static inline int bvec_push(bvec *a, uint8_t c) {
    if (a->n == a->cap && vec_grow_((void **)&a->v, &a->cap, a->n + 1, 1)) return -1;
    a->v[a->n++] = c;
    return 0;
}
static inline void bvec_free(bvec *a) {
    free(a->v);
    a->v = NULL, a->n = a->cap = 0;
}

#endif
