/*
 * test_vec.c — the run-time dispatched elementwise kernels (src/vec.c):
 * the exp against libm, QuickGELU and its derivative against the formula,
 * and every instruction-set build this CPU has giving the same bits as the
 * generic one.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vec.h"
#include "harness.h"

TEST(vec_exp_accuracy) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double ref = exp((double)x), got = vec_expf(x);
        double rel = fabs(got - ref) / ref;
        if (rel > worst) worst = rel;
    }
    CHECKF(worst < 3e-7, "worst relative error %.3g", worst);
    CHECK(vec_expf(0.f) == 1.0f);
    CHECK(vec_expf(-INFINITY) > 0.f && vec_expf(-INFINITY) < 1e-37f);
    CHECK(isfinite(vec_expf(1000.f)));
}

static void run_all(float *out, const float *x, const float *b, size_t n) {
    /* out holds 5 arrays of n: bias+gelu pre, h, recomputed h, backward, exp */
    memcpy(out, x, n * sizeof(float));
    vec_quickgelu_bias(out, out + n, b, n);
    vec_quickgelu(out + 2 * n, x, n);
    for (size_t i = 0; i < n; i++) out[3 * n + i] = b[i];
    vec_quickgelu_backward(out + 3 * n, x, n);
    memcpy(out + 4 * n, x, n * sizeof(float));
    vec_exp_shift(out + 4 * n, n, 0.75f);
}

TEST(vec_levels_same_bits) {
    size_t n = 1003; /* not a multiple of any vector width */
    float *x = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *ref = malloc(5 * n * sizeof(float)), *got = malloc(5 * n * sizeof(float));
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 40) / (double)(1 << 24)) * 24.f - 12.f;
        b[i] = (float)((s >> 20 & 0xfffff) / (double)(1 << 20)) - 0.5f;
    }
    int best = vec_set_level(-1);
    CHECK(vec_set_level(0) == 0);
    run_all(ref, x, b, n);
    /* QuickGELU against the formula with libm's exp */
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i] + b[i], want = v / (1 + exp(-1.702 * v));
        worst = fmax(worst, fabs(ref[n + i] - want) / (fabs(want) + 1e-3));
    }
    CHECKF(worst < 1e-5, "quickgelu worst relative error %.3g", worst);
    for (int l = 1; l <= best; l++) {
        CHECK(vec_set_level(l) == l);
        run_all(got, x, b, n);
        CHECKF(memcmp(ref, got, 5 * n * sizeof(float)) == 0, "level %d differs from the generic build", l);
    }
    if (best == 0) printf("    (this CPU has neither AVX2 nor AVX-512F: only the generic build ran)\n");
    vec_set_level(-1);
    free(x); free(b); free(ref); free(got);
}
