/*
 * scan.c — the int8 scan with f32 re-rank behind exact search (see scan.h).
 * Written by hand: BLAS has no int8 x int16 matrix-vector product, and the
 * point is to read each row once, in one pass, keeping only a small heap
 * per thread.  The query is quantised to int8 steps too; the kernels
 * (generic, AVX2, AVX-512BW: widen to int16 and madd; AVX-512 VNNI:
 * dpbusd) all compute the same exact int32 sum.
 */
#include "index/scan.h"
#include "clipc_util.h"
#include "kernels/vec.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the kernels */

static int32_t dot8_generic(const int8_t *r, const int16_t *q, int stride) {
    int32_t s = 0;
    for (int j = 0; j < stride; j++) s += (int32_t)r[j] * q[j];
    return s;
}

__attribute__((target("avx2"))) static int32_t dot8_avx2(const int8_t *r, const int16_t *q, int stride) {
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    for (int j = 0; j < stride; j += 32) {
        __m256i r0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(r + j)));
        __m256i r1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(r + j + 16)));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(r0, _mm256_loadu_si256((const __m256i *)(q + j))));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(r1, _mm256_loadu_si256((const __m256i *)(q + j + 16))));
    }
    __m256i a = _mm256_add_epi32(a0, a1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

__attribute__((target("avx512f,avx512bw"))) static int32_t dot8_avx512(const int8_t *r, const int16_t *q,
                                                                        int stride) {
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    for (int j = 0; j < stride; j += 64) {
        __m512i r0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(r + j)));
        __m512i r1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(r + j + 32)));
        a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(r0, _mm512_loadu_si512((const void *)(q + j))));
        a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(r1, _mm512_loadu_si512((const void *)(q + j + 32))));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}

/* VNNI multiplies unsigned by signed bytes, 4 pairs per lane per
 * instruction: the query goes in as q + 128 (1..255) and 128 * sum(row),
 * summed alongside by the same instruction with a vector of ones, is taken
 * off again — the same integer as the other kernels. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int32_t dot8_vnni(const int8_t *r, const int16_t *q,
                                                                               int stride) {
    (void)q;
    const uint8_t *qu = (const uint8_t *)(q + stride); /* the biased copy after the int16 one */
    __m512i acc = _mm512_setzero_si512(), sum = _mm512_setzero_si512(), ones = _mm512_set1_epi8(1);
    for (int j = 0; j < stride; j += 64) {
        __m512i rv = _mm512_loadu_si512((const void *)(r + j));
        acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512((const void *)(qu + j)), rv);
        sum = _mm512_dpbusd_epi32(sum, ones, rv);
    }
    return _mm512_reduce_add_epi32(acc) - 128 * _mm512_reduce_add_epi32(sum);
}

typedef int32_t (*dot8_fn)(const int8_t *, const int16_t *, int);

static int forced = -1; /* scan_force_level; set by tests only, before any scan */

static int cpu_level(void) {
    __builtin_cpu_init();
    int l = vec_level();
    if (l >= 2 && __builtin_cpu_supports("avx512bw"))
        return __builtin_cpu_supports("avx512vnni") ? 3 : 2;
    return l >= 1 ? 1 : 0;
}

int scan_level(void) {
    int l = cpu_level();
    return forced >= 0 && forced < l ? forced : l;
}

void scan_force_level(int level) { forced = level; }

static dot8_fn pick_dot8(void) {
    switch (scan_level()) {
    case 3: return dot8_vnni;
    case 2: return dot8_avx512;
    case 1: return dot8_avx2;
    default: return dot8_generic;
    }
}

float scan_dot(const float *a, const float *b, int dim) {
    /* Eight partial sums in a fixed order: vectorisable, and the same bits
     * on every call. */
    float p[8] = {0};
    int j = 0;
    for (; j + 8 <= dim; j += 8)
        for (int l = 0; l < 8; l++) p[l] += a[j + l] * b[j + l];
    for (; j < dim; j++) p[j & 7] += a[j] * b[j];
    return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

/* ------------------------------------------------------------- the heaps */

/* "Worse" = lower score, or equal score and higher row: a total order, so
 * the kept set does not depend on the order rows arrive in. */
static int worse(float sa, int64_t ra, float sb, int64_t rb) { return sa < sb || (sa == sb && ra > rb); }

typedef struct {
    float *s;
    int64_t *r;
    int n, cap;
} heap;

static void heap_down(heap *h, int i) {
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < h->n && worse(h->s[l], h->r[l], h->s[m], h->r[m])) m = l;
        if (l + 1 < h->n && worse(h->s[l + 1], h->r[l + 1], h->s[m], h->r[m])) m = l + 1;
        if (m == i) return;
        float ts = h->s[i]; h->s[i] = h->s[m]; h->s[m] = ts;
        int64_t tr = h->r[i]; h->r[i] = h->r[m]; h->r[m] = tr;
        i = m;
    }
}

static void heap_push(heap *h, float s, int64_t r) {
    if (s != s) return; /* NaN never ranks */
    if (h->n < h->cap) {
        int j = h->n++;
        h->s[j] = s;
        h->r[j] = r;
        while (j > 0) {
            int p = (j - 1) / 2;
            if (!worse(h->s[j], h->r[j], h->s[p], h->r[p])) break;
            float ts = h->s[j]; h->s[j] = h->s[p]; h->s[p] = ts;
            int64_t tr = h->r[j]; h->r[j] = h->r[p]; h->r[p] = tr;
            j = p;
        }
    } else if (worse(h->s[0], h->r[0], s, r)) {
        h->s[0] = s;
        h->r[0] = r;
        heap_down(h, 0);
    }
}

/* Empties the heap into best-first order in place (h->s, h->r). */
static void heap_sort(heap *h) {
    int n0 = h->n;
    for (int n = h->n; n > 1; n--) {
        float ts = h->s[0]; h->s[0] = h->s[n - 1]; h->s[n - 1] = ts;
        int64_t tr = h->r[0]; h->r[0] = h->r[n - 1]; h->r[n - 1] = tr;
        h->n = n - 1;
        heap_down(h, 0);
    }
    h->n = n0;
}

/* --------------------------------------------------------------- the scan */

int scan_default_cand(int k) { return k + 256; }

void scan_rerank(const vecfile *v, const float *q, const int64_t *cand, int n, int k, int64_t *rows, float *scores,
                 int *got) {
    heap h = {scores, rows, 0, k};
    for (int i = 0; i < n && k > 0; i++)
        heap_push(&h, scan_dot(v->data + (size_t)cand[i] * (size_t)v->dim, q, v->dim), cand[i]);
    heap_sort(&h);
    *got = h.n;
}

clipc_status scan_topk(const vecfile *v, const vec8file *c, const float *q, int k, int cand, int threads,
                       int64_t *rows, float *scores, int *got) {
    *got = 0;
    if (c->n != v->n || c->dim != v->dim)
        return clipc_error(CLIPC_ERR_FORMAT, "int8 copy of %lld x %d rows does not match the %lld x %d matrix",
                           (long long)c->n, c->dim, (long long)v->n, v->dim);
    if (k <= 0 || v->n == 0) return CLIPC_OK;
    if (cand < k) cand = cand <= 0 ? scan_default_cand(k) : k;
    if (cand > v->n) cand = (int)v->n;
    int nt = threads > 0 ? threads : omp_get_max_threads();
    int64_t max_nt = v->n / 4096 + 1; /* small sets: fewer threads, less overhead */
    if (nt > max_nt) nt = (int)max_nt;
    int stride = c->stride, dim = v->dim;
    /* The query in int8 steps (q8, |q8| <= 127), held widened to int16 for
     * the madd kernels and then biased to uint8 for VNNI's. */
    int16_t *q16 = calloc((size_t)stride * 3 / 2, sizeof(int16_t));
    float *hs = malloc(sizeof(float) * (size_t)cand * (size_t)nt);
    int64_t *hr = malloc(sizeof(int64_t) * (size_t)cand * (size_t)nt);
    heap *hp = calloc((size_t)nt, sizeof(heap));
    clipc_status s = CLIPC_OK;
    if (!q16 || !hs || !hr || !hp) s = clipc_error(CLIPC_ERR_NOMEM, "search: out of memory");
    if (!s) {
        float mx = 0.f;
        for (int j = 0; j < dim; j++) mx = fabsf(q[j]) > mx ? fabsf(q[j]) : mx;
        /* |sum| <= 127 * 127 * dim (and VNNI's biased sum <= 255 * 127 *
         * dim): within int32 for dim <= 65536. */
        uint8_t *qu = (uint8_t *)(q16 + stride);
        for (int j = 0; j < stride; j++) {
            q16[j] = j < dim && mx > 0 ? (int16_t)lrintf(q[j] / mx * 127.0f) : 0;
            qu[j] = (uint8_t)(q16[j] + 128);
        }
        dot8_fn dot8 = pick_dot8();
        const int8_t *data = c->data;
        const float *scales = c->scales;
        int64_t n = v->n;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            /* T may be below nt (nested regions): the rows are split over the
             * threads that run, and the results do not depend on the split. */
            for (int u = t; u < nt; u += T) {
                heap *h = &hp[u];
                *h = (heap){hs + (size_t)u * cand, hr + (size_t)u * cand, 0, cand};
                int64_t r0 = n * u / nt, r1 = n * (u + 1) / nt;
                for (int64_t r = r0; r < r1; r++) {
                    float sc = scales[r] * (float)dot8(data + (size_t)r * (size_t)stride, q16, stride);
                    if (h->n == cand && !(sc >= h->s[0])) continue; /* the common case: not a candidate */
                    heap_push(h, sc, r);
                }
            }
        }
        /* Merge: the best cand of all the threads' candidates. */
        heap all = {NULL, NULL, 0, cand};
        all.s = malloc(sizeof(float) * (size_t)cand);
        all.r = malloc(sizeof(int64_t) * (size_t)cand);
        if (!all.s || !all.r) s = clipc_error(CLIPC_ERR_NOMEM, "search: out of memory");
        for (int u = 0; u < nt && !s; u++)
            for (int i = 0; i < hp[u].n; i++) heap_push(&all, hp[u].s[i], hp[u].r[i]);
        if (!s) scan_rerank(v, q, all.r, all.n, k, rows, scores, got);
        free(all.s);
        free(all.r);
    }
    free(q16);
    free(hs);
    free(hr);
    free(hp);
    return s;
}
