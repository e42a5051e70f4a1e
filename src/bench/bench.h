/*
 * bench.h — the benchmark's parts beside clipc_bench_run (include/clipc_bench.h):
 * the SGEMM probe, the peak RSS, and the peer's random batches.
 */
#ifndef CLIPC_BENCH_H
#define CLIPC_BENCH_H

#include "clipc.h"
#include "clipc_bench.h"

/* Best-of-3 GFLOP/s of one n x n x n sgemm (a machine-speed probe). */
double bench_sgemm_probe(int n);
/* Peak resident set size of this process so far, MiB. */
double bench_peak_rss_mib(void);
/* Random images (N,3,R,R) ~ N(0,1) and id rows SOT, random ids, EOT at a
 * random length in [3, ctx], zeros after: the peer's random_batch. */
void bench_random_batch(const clipc_config *c, int B, uint64_t seed, float *pixels, int32_t *ids);

#endif
