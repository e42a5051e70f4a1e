/*
 * dropout.h — inverted dropout whose mask is a pure function of (site seed,
 * element index), recomputed in backward instead of stored (dropout.c).
 */
#ifndef CLIPC_NN_DROPOUT_H
#define CLIPC_NN_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

/* ---- dropout.c: inverted dropout with a mask that is a pure function of
 * (site seed, element index), recomputed in backward instead of stored.
 * p is clamped to [0, 0.999]; p <= 0 means off. */
uint32_t dropout_threshold(float p);
/* The prologue of every pass that drops: the threshold (0 = off) and the
 * scale 1/(1-p) of the kept elements (1 when off). */
typedef struct {
    uint32_t thr;
    float scale;
} dropout_params;
static inline dropout_params dropout_params_of(float p) {
    uint32_t thr = dropout_threshold(p);
    return (dropout_params){thr, thr ? 1.0f / (1.0f - p) : 1.0f};
}
/* Seed of one dropout site: sites 0 attention probabilities, 1 attention
 * output, 2 MLP hidden, 3 MLP output; tower 0 vision, 1 text. */
uint64_t dropout_site_seed(uint64_t seed, int tower, int layer, int site);
/* Keep element i?  (splitmix64 finaliser of seed + (i+1) * golden gamma). */
static inline int dropout_keep(uint64_t site_seed, uint64_t i, uint32_t threshold) {
    uint64_t z = site_seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32) >= threshold;
}
/* y[i] = keep(first + i) ? x[i] / (1 - p) : 0 (y may alias x).  The same
 * call is the forward and the backward of dropout. */
void dropout_mul(float *y, const float *x, size_t n, size_t first, float p, uint64_t site_seed);

#endif
