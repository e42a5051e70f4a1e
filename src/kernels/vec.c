/*
 * vec.c — see vec.h.  Written by hand because glibc's vector exp is only
 * used under -ffast-math (which would also reorder our sums), and the
 * QuickGELU / softmax passes are the largest non-GEMM cost of a step.
 *
 * exp: Cephes' expf scheme — x = n ln2 + r with n = round(x / ln2) (ln2 split
 * in two for an exact r), exp(r) by a degree-6 polynomial, times 2^n built
 * in the exponent bits.  Rounding to an integer uses the 1.5 * 2^23 trick so
 * it needs no SSE4.1 round instruction.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/vec.h"
#include "kernels/backend.h"

/* Without this GCC keeps the clamps below as branches (a comparison could
 * trap) and vectorises only the AVX-512 build, which has masked moves.  It
 * changes no result: we never enable floating-point traps. */
#pragma GCC optimize("no-trapping-math")

static inline float exp_core(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t ti, mi;
    memcpy(&ti, &t, 4);
    memcpy(&mi, &magic, 4);
    int32_t e = (ti - mi + 127) << 23; /* n in [-126, 128): a normal power of two */
    float s;
    memcpy(&s, &e, 4);
    return p * s;
}

float vec_expf(float x) { return exp_core(x); }

static inline float qg(float x) { return x / (1.0f + exp_core(-1.702f * x)); }

static inline float dqg(float x) {
    float s = 1.0f / (1.0f + exp_core(-1.702f * x));
    return s + 1.702f * x * s * (1.0f - s);
}

#define VEC_KERNELS(SUF, ATTR)                                                                      \
    ATTR static void quickgelu_bias_##SUF(float *pre, float *h, const float *b, size_t n) {         \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                                        \
            float v = pre[i] + b[i];                                                                \
            pre[i] = v;                                                                             \
            h[i] = qg(v);                                                                           \
        }                                                                                           \
    }                                                                                               \
    ATTR static void quickgelu_##SUF(float *h, const float *pre, size_t n) {                        \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) h[i] = qg(pre[i]);                        \
    }                                                                                               \
    ATTR static void quickgelu_backward_##SUF(float *dh, const float *pre, size_t n) {              \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) dh[i] *= dqg(pre[i]);                     \
    }                                                                                               \
    ATTR static void exp_shift_##SUF(float *x, size_t n, float shift) {                             \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) x[i] = exp_core(x[i] - shift);            \
    }

VEC_KERNELS(generic, )
VEC_KERNELS(avx2, __attribute__((target("avx2"))))
VEC_KERNELS(avx512, __attribute__((target("avx512f"))))

static int level = -1; /* accessed with __atomic builtins: set once, read by every thread */

static int best_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
    return 0;
}

int vec_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = best_level();
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int vec_set_level(int want) {
    int best = best_level();
    int l = want < 0 || want > best ? best : want;
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

#define DISPATCH(name, ...)                                                                          \
    switch (vec_level()) {                                                                          \
    case 2: name##_avx512(__VA_ARGS__); break;                                                      \
    case 1: name##_avx2(__VA_ARGS__); break;                                                        \
    default: name##_generic(__VA_ARGS__); break;                                                    \
    }

void vec_quickgelu_bias(float *pre, float *h, const float *b, size_t n) { DISPATCH(quickgelu_bias, pre, h, b, n) }
void vec_quickgelu(float *h, const float *pre, size_t n) { DISPATCH(quickgelu, h, pre, n) }
void vec_quickgelu_backward(float *dh, const float *pre, size_t n) { DISPATCH(quickgelu_backward, dh, pre, n) }
void vec_exp_shift(float *x, size_t n, float shift) { DISPATCH(exp_shift, x, n, shift) }

float vec_softmax_exp(float *x, size_t n, float *mx) {
    float m = x[0], s = 0.f;
    for (size_t j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
    vec_exp_shift(x, n, m);
    for (size_t j = 0; j < n; j++) s += x[j];
    *mx = m;
    return 1.0f / s;
}

void vec_gemm_epilogue(float *y, const float *bias, int act, const float *res, size_t n) {
    if (bias)
        for (size_t i = 0; i < n; i++) y[i] += bias[i];
    if (act == BACKEND_ACT_QUICKGELU) vec_quickgelu(y, y, n);
    else if (act == BACKEND_ACT_GELU)
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
    if (res)
        for (size_t i = 0; i < n; i++) y[i] += res[i];
}
