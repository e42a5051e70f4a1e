/*
 * threads.c — one thread count for both of clipc's thread pools: OpenMP (our
 * loops, oneDNN) and OpenBLAS (its OpenMP build shares the same cores).
 */
#include <omp.h>

#include "clipc.h"

/* OpenBLAS (OpenMP build) entry point; not in every cblas.h. */
extern void openblas_set_num_threads(int);

void clipc_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int clipc_get_threads(void) { return omp_get_max_threads(); }
