/*
 * tensor_file.c — opening a weights file by content, and converting float
 * dtypes to f32.
 *
 * The file is mapped read-only once (st_open_mapped, safetensors.c) and handed
 * to the parser its first bytes point at, so F32 tensors of either format can
 * be used in place.
 * Sniffing by content, not by extension: ".bin" and ".pt" are both used for
 * either format in the wild, and a wrong guess would give a confusing parse
 * error; the formats people hand over by mistake get a message naming them.
 *
 * The conversions are written by hand (not with the F16C/AVX512-BF16
 * instructions) so they are exact and identical on every machine: F16 and
 * BF16 are subsets of f32, so their conversion is a bit manipulation; F64
 * rounds to nearest-even as C's conversion does, with the values beyond
 * FLT_MAX handled explicitly (the C conversion is undefined for them).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "formats/tensor_file.h"
#include "formats/torch_zip.h"
#include "base/error.h"

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float tf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | man << 13); /* inf, nan (payload kept) */
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

float tf_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

float tf_f64_to_f32(double d) {
    if (isnan(d)) return signbit(d) ? -NAN : NAN;
    double a = fabs(d);
    if (a > FLT_MAX) {
        /* Halfway between FLT_MAX and 2^128 (2^128 - 2^103) and above round to inf. */
        float r = a < 0x1.ffffffp127 ? FLT_MAX : INFINITY;
        return d < 0 ? -r : r;
    }
    return (float)d;
}

int tf_float_dtype(st_dtype t) { return t == ST_F32 || t == ST_F16 || t == ST_BF16 || t == ST_F64; }

int tf_to_f32(const st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(out, p, t->numel * 4); return 0;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = t->dtype == ST_F16 ? tf_f16_to_f32(h) : tf_bf16_to_f32(h);
        }
        return 0;
    case ST_F64:
        for (size_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = tf_f64_to_f32(d);
        }
        return 0;
    default: return -1;
    }
}

/* The formats recognised only to be named in an error. */
static clipc_status refuse_known(const char *path, const uint8_t *b, size_t n) {
    if (n >= 4 && !memcmp(b, "GGUF", 4))
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: a GGUF file; clipc reads safetensors files and PyTorch "
                           "zip checkpoints", path);
    if ((n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) || (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: an image, not a model file", path);
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: a legacy (non-zip) PyTorch pickle; re-save it with "
                           "torch.save (zip format, the default since PyTorch 1.6) or as safetensors", path);
    return CLIPC_OK;
}

/* A zip archive is a PyTorch checkpoint; anything else must be safetensors. */
static clipc_status parse_by_content(const void *buf, size_t len, const char *path, st_file *f) {
    return !memcmp(buf, "PK\x03\x04", 4) ? torch_zip_parse(buf, len, path, f) : st_parse(buf, len, path, f);
}

clipc_status tf_open(const char *path, st_file *f) { return st_open_mapped(path, f, refuse_known, parse_by_content); }
