/*
 * test_sgemm_panel.c — the panel kernel (src/kernels/sgemm_panel.c) that
 * runs small f32 products on AVX2 CPUs without AVX-512: every edge of its
 * blocking (rows past a tile of 6 and a block of 96, k past a block of
 * 256, columns past a panel of 16) against a double-precision reference,
 * both weight layouts, the fused bias / activation / residual, and bits
 * that do not depend on the thread count.  It runs on any CPU with AVX2 and
 * FMA (every machine this project runs on), not only where it is chosen.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/sgemm_panel.h"
#include "kernels/vec.h"
#include "harness.h"

static float rnd(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Runs one product through the kernel and checks it against a double sum
 * with the epilogue applied the way the other backends apply it. */
static void check_shape(int M, int K, int N, int out_in, int with_ops, unsigned seed) {
    unsigned s = seed;
    float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * K * N);
    float *bias = malloc(sizeof(float) * N), *res = malloc(sizeof(float) * M * N);
    float *out = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N);
    float *bound = malloc(sizeof(float) * M * N);
    float *p = NULL;
    REQUIRE(a && w && bias && res && out && ref && bound);
    REQUIRE(posix_memalign((void **)&p, 64, sgemm_panel_floats(K, N) * sizeof(float)) == 0);
    for (int i = 0; i < M * K; i++) a[i] = rnd(&s);
    for (int i = 0; i < K * N; i++) w[i] = rnd(&s);
    for (int i = 0; i < N; i++) bias[i] = rnd(&s);
    for (int i = 0; i < M * N; i++) res[i] = rnd(&s);
    int act = with_ops ? (int)(seed % 3) : BACKEND_ACT_NONE;
    backend_gemm_ops ops = {with_ops ? bias : NULL, act, with_ops ? res : NULL, 0, 0};
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double x = a[m * K + k], y = out_in ? w[(size_t)n * K + k] : w[(size_t)k * N + n];
                acc += x * y;
                mag += fabs(x * y);
            }
            ref[m * N + n] = (float)acc;
            bound[m * N + n] = (float)(4e-6 * mag + 1e-30);
        }
    if (with_ops) {
        for (int m = 0; m < M; m++) {
            float *y = ref + (size_t)m * N;
            for (int n = 0; n < N; n++) y[n] += bias[n];
            if (act == BACKEND_ACT_QUICKGELU) vec_quickgelu(y, y, (size_t)N);
            if (act == BACKEND_ACT_GELU)
                for (int n = 0; n < N; n++) y[n] = 0.5f * y[n] * (1.0f + erff(y[n] * 0.70710678118654752f));
            for (int n = 0; n < N; n++) y[n] += res[(size_t)m * N + n];
        }
    }
    sgemm_panel_pack(p, w, K, N, out_in);
    memset(out, 0xff, sizeof(float) * M * N); /* NaNs: every element must be written */
    sgemm_panel_run(out, a, p, M, K, N, with_ops ? &ops : NULL);
    int bad = 0;
    for (int i = 0; i < M * N && !bad; i++) {
        /* the activation and residual move the value; allow their rounding too */
        double tol = bound[i] * 2 + (with_ops ? 1e-6 * (fabs(ref[i]) + 1) : 0);
        if (!(fabs(out[i] - ref[i]) <= tol)) {
            harness_fail(__FILE__, __LINE__, "M %d K %d N %d out_in %d ops %d: [%d][%d] = %.9g, expected %.9g (tol %.3g)",
                         M, K, N, out_in, with_ops, i / N, i % N, out[i], ref[i], tol);
            bad = 1;
        }
    }
    free(a);
    free(w);
    free(bias);
    free(res);
    free(out);
    free(ref);
    free(bound);
    free(p);
}

TEST(sgemm_panel_matches_reference_on_every_edge) {
    if (!sgemm_panel_available()) {
        SKIP("this CPU has no AVX2 + FMA");
        return;
    }
    static const int Ms[] = {1, 2, 5, 6, 7, 50, 97, 200};
    static const int Ks[] = {1, 7, 255, 256, 257, 600};
    static const int Ns[] = {1, 15, 16, 17, 50, 160};
    unsigned seed = 1;
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ks / sizeof *Ks; j++)
            for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++, seed++)
                check_shape(Ms[i], Ks[j], Ns[k], (int)(seed & 1), (int)((seed >> 1) & 1), seed);
    /* every activation with every fusion, on a shape with all the edges */
    for (unsigned a = 0; a < 6; a++) check_shape(103, 300, 70, (int)(a & 1), 1, 3 * a + a / 3);
}

TEST(sgemm_panel_bits_do_not_depend_on_threads) {
    if (!sgemm_panel_available()) {
        SKIP("this CPU has no AVX2 + FMA");
        return;
    }
    int M = 50, K = 768, N = 400;
    unsigned s = 7;
    float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * K * N), *p = NULL;
    float *bias = malloc(sizeof(float) * N), *out[3];
    REQUIRE(a && w && bias);
    REQUIRE(posix_memalign((void **)&p, 64, sgemm_panel_floats(K, N) * sizeof(float)) == 0);
    for (int i = 0; i < M * K; i++) a[i] = rnd(&s);
    for (int i = 0; i < K * N; i++) w[i] = rnd(&s);
    for (int i = 0; i < N; i++) bias[i] = rnd(&s);
    sgemm_panel_pack(p, w, K, N, 1);
    backend_gemm_ops ops = {bias, BACKEND_ACT_QUICKGELU, NULL, 0, 0};
    int saved = omp_get_max_threads();
    for (int t = 0; t < 3; t++) {
        out[t] = malloc(sizeof(float) * M * N);
        REQUIRE(out[t]);
        omp_set_num_threads(t + 1);
        sgemm_panel_run(out[t], a, p, M, K, N, &ops);
    }
    omp_set_num_threads(saved);
    CHECKF(memcmp(out[0], out[1], sizeof(float) * M * N) == 0, "1 and 2 threads differ");
    CHECKF(memcmp(out[0], out[2], sizeof(float) * M * N) == 0, "1 and 3 threads differ");
    for (int t = 0; t < 3; t++) free(out[t]);
    free(a);
    free(w);
    free(bias);
    free(p);
}
