/*
 * scan.h — exact search over the int8 copy of an index's vectors
 * (formats/vec8.h) with an f32 re-rank from FILE.vec.
 *
 * The int8 scan is the memory-bound part (1 byte per dimension instead of
 * 4); each row's approximate score is scale_row * sum(q8_row * q16_query),
 * an integer sum (exact, so the same on every instruction set and thread
 * split) times a float.  The best `cand` rows by that score (ties to the
 * lower row) are re-scored with f32 dot products and the best k of those
 * returned.  The result is the f32 scan's top-k whenever the k-th f32 score
 * beats the cand-th approximate one by more than the quantisation error
 * (|error| <= about 0.004 for 512-d unit vectors), i.e. nearly always; the
 * tests measure how often it differs on clustered data.
 *
 * Results do not depend on the thread count: every row's score is computed
 * the same way whatever thread owns it, and the candidates are chosen by a
 * total order (score, then row).
 */
#ifndef CLIPC_INDEX_SCAN_H
#define CLIPC_INDEX_SCAN_H

#include <stdint.h>

#include "clipc.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"

/* Candidates re-ranked by default: k + 256. */
int scan_default_cand(int k);

/* Top-k rows of v by dot product with the unit query q (v->dim floats),
 * scanning c (the int8 copy of v: same n and dim) on `threads` threads (0:
 * OpenMP's default) and re-ranking cand rows (<= 0: scan_default_cand).
 * rows[j], scores[j] (f32 dot products) for j < *got, best first. */
clipc_status scan_topk(const vecfile *v, const vec8file *c, const float *q, int k, int cand, int threads,
                       int64_t *rows, float *scores, int *got);

/* Re-ranks n candidate rows of v (any order, no duplicates) by f32 dot
 * product with q: the best k (ties to the lower row) into rows/scores, best
 * first; *got = min(k, n).  NaN scores never rank. */
void scan_rerank(const vecfile *v, const float *q, const int64_t *cand, int n, int k, int64_t *rows, float *scores,
                 int *got);

/* The f32 dot product used for every re-ranked score (fixed summation order). */
float scan_dot(const float *a, const float *b, int dim);

/* The int8 kernel level in use: 0 generic, 1 AVX2, 2 AVX-512BW, 3
 * AVX-512 VNNI (follows kernels/vec.h's vec_set_level, capped by
 * scan_force_level: -1 = no cap; for tests comparing the levels). */
int scan_level(void);
void scan_force_level(int level);

#endif
