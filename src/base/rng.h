/*
 * rng.h — the library's one pseudo-random number generator: xoshiro256**
 * (Blackman & Vigna 2018) seeded through splitmix64.
 *
 * Written by hand rather than taken from a library because it is twenty
 * lines and must give the same bits on every platform and compiler forever:
 * training runs resume from checkpoints that store sampler and init state,
 * and tests compare against fixed streams.  rand()/random()/drand48 differ
 * between C libraries; xoshiro256** uses only 64-bit shifts, rotates, adds and
 * multiplies, so its output is exactly defined by C11 integer arithmetic.
 *
 * Everything derived from the u64 stream (bounded integers, floats, shuffles)
 * is integer- or exactly-representable arithmetic and therefore equally
 * stable.  The one exception is rng_normal(): it calls log(), sqrt() and
 * cos(), and libm transcendental functions are not required to be correctly
 * rounded, so its last bit may differ between C libraries (it is stable on a
 * given libm).
 *
 * Not cryptographic.  Internal to the library (not part of clipc.h).
 */
#ifndef CLIPC_RNG_H
#define CLIPC_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} rng_state;

/* One step of splitmix64 on *x: advances *x and returns a well-mixed value.
 * Also a good stateless hash for deriving seeds: splitmix64(&(uint64_t){k}). */
uint64_t splitmix64(uint64_t *x);
/* Seeds the four state words from splitmix64(seed), as Vigna recommends. */
void rng_seed(rng_state *r, uint64_t seed);
/* A seed for an independent sub-stream: mixes `seed` with `stream` (e.g. an
 * epoch or a layer index) so nearby values give unrelated streams. */
uint64_t rng_derive(uint64_t seed, uint64_t stream);
/* Next 64 random bits. */
uint64_t rng_u64(rng_state *r);
/* Uniform integer in [0, n), unbiased (rejection sampling); n > 0. */
uint64_t rng_below(rng_state *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits (every value a multiple of 2^-24). */
float rng_float(rng_state *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_double(rng_state *r);
/* Standard normal N(0, 1) by the Box-Muller transform (one value per call;
 * the sine partner is discarded so the state stays 4 words). */
double rng_normal(rng_state *r);
/* Fisher-Yates shuffle of n ints, uniform over permutations. */
void rng_shuffle_int(rng_state *r, int *a, size_t n);
/* Fisher-Yates shuffle of n elements of `size` bytes each (size <= 256). */
void rng_shuffle(rng_state *r, void *base, size_t n, size_t size);

#endif
