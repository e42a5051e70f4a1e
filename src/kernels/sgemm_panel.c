/*
 * sgemm_panel.c — the panel kernel of sgemm_panel.h: float32 products of
 * few rows on weights packed once, for AVX2 + FMA.
 *
 * Layout: the weights (K, N) are cut into panels of 16 columns; panel p
 * holds, for k = 0..K-1, the 16 values W[k][16p .. 16p+15] one after the
 * other (columns past N are zero).  A tile of up to 6 rows x 16 columns
 * keeps its 12 accumulators in registers: per k, two loads of the panel,
 * six broadcasts of the input and twelve FMAs, so the FMA units, not the
 * loads, set the pace.
 *
 * Blocking: rows in blocks of MC and k in blocks of KC, so that an input
 * block (MC x KC floats, 96 KB) stays in L2 while every panel of this
 * thread passes over it, and a panel's KC x 16 slice (16 KB) stays in L1
 * while the tiles of the row block use it.  Threads split the panels;
 * each output element is summed by one thread in k order, so the bits do
 * not depend on the thread count.
 */
#include "kernels/sgemm_panel.h"

#include "kernels/vec.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NR 16  /* columns of a panel (two AVX2 vectors) */
#define MR 6   /* rows of a tile */
#define KC 256 /* k block */
#define MC 96  /* row block (a multiple of MR) */

int sgemm_panel_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int sgemm_panel_preferred(void) {
    static int pref = -1; /* set once; every thread computes the same value */
    int p = __atomic_load_n(&pref, __ATOMIC_RELAXED);
    if (p < 0) {
        const char *e = getenv("CLIPC_PANEL_GEMM");
        __builtin_cpu_init();
        if (e && (e[0] == '0' || e[0] == '1') && !e[1])
            p = e[0] == '1' && sgemm_panel_available();
        else
            p = sgemm_panel_available() && !__builtin_cpu_supports("avx512f");
        __atomic_store_n(&pref, p, __ATOMIC_RELAXED);
    }
    return p;
}

size_t sgemm_panel_floats(int K, int N) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void sgemm_panel_pack(float *dst, const float *w, int K, int N, int w_is_out_in) {
    int panels = (N + NR - 1) / NR;
#pragma omp parallel for schedule(static) if ((size_t)K * N > 65536)
    for (int p = 0; p < panels; p++) {
        float *d = dst + (size_t)p * K * NR;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < NR; j++) {
                int n = p * NR + j;
                d[(size_t)k * NR + j] = n >= N ? 0.0f : w_is_out_in ? w[(size_t)n * K + k] : w[(size_t)k * N + n];
            }
    }
}

/* One tile: c (mr rows, 16 columns, row stride ldc) = (acc ? c : 0) +
 * a (mr rows of kc, stride lda) x b (kc x 16 packed).  mr is a constant
 * in every inlined copy, so the accumulators live in registers. */
#define TILE_ATTR __attribute__((target("avx2,fma"), always_inline)) static inline
TILE_ATTR void tile(const int mr, int kc, const float *a, size_t lda, const float *b, float *c, size_t ldc,
                    int acc) {
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        if (r < mr) {
            c0[r] = acc ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
            c1[r] = acc ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
        }
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b + (size_t)k * NR), b1 = _mm256_load_ps(b + (size_t)k * NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            if (r < mr) {
                __m256 x = _mm256_broadcast_ss(a + r * lda + k);
                c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);
                c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);
            }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        if (r < mr) {
            _mm256_storeu_ps(c + r * ldc, c0[r]);
            _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
        }
}

__attribute__((target("avx2,fma"))) static void tile_any(int mr, int kc, const float *a, size_t lda,
                                                         const float *b, float *c, size_t ldc, int acc) {
    switch (mr) {
    case 6: tile(6, kc, a, lda, b, c, ldc, acc); break;
    case 5: tile(5, kc, a, lda, b, c, ldc, acc); break;
    case 4: tile(4, kc, a, lda, b, c, ldc, acc); break;
    case 3: tile(3, kc, a, lda, b, c, ldc, acc); break;
    case 2: tile(2, kc, a, lda, b, c, ldc, acc); break;
    default: tile(1, kc, a, lda, b, c, ldc, acc); break;
    }
}

/* The bias, activation and residual on rows [m0, m1) x columns [n0, n1)
 * of out, in the order of the other backends. */
static void epilogue(float *out, int N, int m0, int m1, int n0, int n1, const backend_gemm_ops *ops) {
    if (!ops || n1 <= n0) return;
    for (int m = m0; m < m1; m++)
        vec_gemm_epilogue(out + (size_t)m * N + n0, ops->bias ? ops->bias + n0 : NULL, ops->act,
                          ops->residual ? ops->residual + (size_t)m * N + n0 : NULL, (size_t)(n1 - n0));
}

/* Panels [p0, p1) of the product, all rows. */
__attribute__((target("avx2,fma"))) static void run_panels(float *out, const float *inp, const float *packed, int M,
                                                           int K, int N, int p0, int p1,
                                                           const backend_gemm_ops *ops) {
    float edge[MR * NR]; /* the tile of a last panel that overhangs N */
    for (int m0 = 0; m0 < M; m0 += MC) {
        int m1 = M - m0 < MC ? M : m0 + MC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            for (int p = p0; p < p1; p++) {
                const float *b = packed + (size_t)p * K * NR + (size_t)k0 * NR;
                int cols = N - p * NR < NR ? N - p * NR : NR;
                for (int r = m0; r < m1; r += MR) {
                    int mr = m1 - r < MR ? m1 - r : MR;
                    const float *a = inp + (size_t)r * K + k0;
                    float *c = out + (size_t)r * N + (size_t)p * NR;
                    if (cols == NR) {
                        tile_any(mr, kc, a, (size_t)K, b, c, (size_t)N, k0 > 0);
                    } else {
                        for (int i = 0; i < mr; i++)
                            for (int j = 0; j < NR; j++) edge[i * NR + j] = j < cols && k0 > 0 ? c[(size_t)i * N + j] : 0.0f;
                        tile_any(mr, kc, a, (size_t)K, b, edge, NR, k0 > 0);
                        for (int i = 0; i < mr; i++) memcpy(c + (size_t)i * N, edge + i * NR, (size_t)cols * sizeof *c);
                    }
                }
            }
        }
        int n1 = p1 * NR < N ? p1 * NR : N;
        epilogue(out, N, m0, m1, p0 * NR, n1, ops);
    }
}

void sgemm_panel_run(float *out, const float *inp, const float *packed, int M, int K, int N,
                     const backend_gemm_ops *ops) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum: only the epilogue */
        memset(out, 0, (size_t)M * N * sizeof *out);
        epilogue(out, N, 0, M, 0, N, ops);
        return;
    }
    int panels = (N + NR - 1) / NR;
    double flops = 2.0 * M * (double)K * N;
#pragma omp parallel if (flops > 2e6 && panels > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        if (nt > panels) nt = panels;
        if (t < nt) {
            /* contiguous panel ranges, as even as whole panels allow */
            int p0 = (int)((long)panels * t / nt), p1 = (int)((long)panels * (t + 1) / nt);
            run_panels(out, inp, packed, M, K, N, p0, p1, ops);
        }
    }
}
