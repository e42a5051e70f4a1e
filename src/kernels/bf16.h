/*
 * bf16.h — bfloat16 conversions shared by the inference kernels and the
 * layers that hand a backend its input in bf16 (layernorm_forward_bf16).
 * A bf16 value is the top half of a float32; buffers of bf16 activations
 * live in float buffers and take half of them.
 */
#ifndef CLIPC_BF16_H
#define CLIPC_BF16_H

#include <stddef.h>
#include <stdint.h>

/* Round to nearest even, as oneDNN and torch.bfloat16 do (NaN stays NaN). */
static inline uint16_t bf16_from_f32(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* Turns n bf16 values at the start of buf into n floats, in place (the
 * fallback when a kernel cannot take a bf16 input). */
static inline void bf16_to_f32_inplace(float *buf, size_t n) {
    /* bf16 value i sits in bytes 2i..2i+1 and float i goes to 4i..4i+3:
     * walking down, each write lands on values already read. */
    const uint16_t *h = (const uint16_t *)buf;
    for (size_t i = n; i-- > 0;) {
        union { uint32_t u; float f; } v = {(uint32_t)h[i] << 16};
        buf[i] = v.f;
    }
}

#endif
