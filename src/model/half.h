/*
 * half.h — IEEE binary16 (F16) and bfloat16 (BF16) <-> float32 for the
 * files clipc converts (clipc convert --dtype, Hugging Face files stored in
 * half precision).  Rounding is to nearest, ties to even, as
 * torch.Tensor.half() / .bfloat16() do; NaN stays NaN, overflow goes to inf.
 */
#ifndef CLIPC_MODEL_HALF_H
#define CLIPC_MODEL_HALF_H

#include <math.h>
#include <stdint.h>

#include "kernels/bf16.h"

static inline uint16_t half_from_f32(float f) {
    union { float f; uint32_t u; } v = {f};
    uint16_t sign = (uint16_t)((v.u >> 16) & 0x8000u);
    uint32_t a = v.u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: rounds to inf */
    if (a >= 0x38800000u) { /* normal in half: rebias the exponent (127 - 15), round 13 bits away */
        uint32_t r = a - 0x38000000u;
        return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
    }
    /* Subnormal or zero: adding 0.5 puts the value where a float's ulp is
     * 2^-24, the half subnormal step, so the FPU's own rounding (to nearest
     * even) does the work; the low mantissa bits are then the half. */
    v.u = a;
    v.f += 0.5f;
    return (uint16_t)(sign | (v.u - 0x3f000000u));
}

static inline float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    union { uint32_t u; float f; } v;
    if (e == 0x1f) v.u = sign | 0x7f800000u | (m << 13);
    else if (e == 0) return sign ? -ldexpf((float)m, -24) : ldexpf((float)m, -24);
    else v.u = sign | ((e + 112u) << 23) | (m << 13);
    return v.f;
}

static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

#endif
