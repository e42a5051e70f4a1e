/*
 * dropout.c — inverted dropout whose mask is a pure function of
 * (seed, element index): no mask is stored, backward recomputes it.
 *
 * A training step must give the same bits for any thread count and must be
 * resumable, so the mask cannot come from a sequential RNG stream that the
 * threads would consume in some order.  Instead every element asks a
 * counter-based hash (the splitmix64 finaliser of seed + (i+1) * golden
 * gamma) whether it is kept; the seed itself is derived from (dropout_seed,
 * tower, layer, site) with rng_derive.  The same hash is inlined in
 * layers.h for the attention kernel, which drops probabilities as it
 * produces them.  Kept units are scaled by 1/(1-p) so inference needs no
 * rescaling (and never applies dropout).
 */
#include "nn/dropout.h"
#include "base/rng.h"

uint32_t dropout_threshold(float p) {
    /* p is clamped to [0, 0.999] so the threshold fits in 32 bits. */
    if (!(p > 0.f)) return 0;
    if (p > 0.999f) p = 0.999f;
    return (uint32_t)((double)p * 4294967296.0);
}

uint64_t dropout_site_seed(uint64_t seed, int tower, int layer, int site) {
    return rng_derive(rng_derive(rng_derive(seed, (uint64_t)tower), (uint64_t)layer),
                            (uint64_t)site);
}

void dropout_mul(float *y, const float *x, size_t n, size_t first, float p, uint64_t site_seed) {
    uint32_t thr = dropout_threshold(p);
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) y[i] = dropout_keep(site_seed, first + i, thr) ? x[i] * scale : 0.0f;
}
