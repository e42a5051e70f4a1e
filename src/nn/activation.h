/*
 * activation.h — the MLP nonlinearity, one scalar formula each, used by the
 * block's fused passes (block.c): QuickGELU x * sigmoid(1.702 x), which
 * OpenAI's weights were trained with, and exact (erf) GELU, which the seed's
 * own code and open_clip's LAION models use.  The model file records which
 * one.  The block runs QuickGELU's forward through vec.h's vectorised
 * kernels, whose exp is vec_expf: the same values as these.
 */
#ifndef CLIPC_NN_ACTIVATION_H
#define CLIPC_NN_ACTIVATION_H

#include <math.h>

#include "clipc.h"
#include "kernels/vec.h"

static inline float act_value(float x, clipc_act act) {
    if (act == CLIPC_ACT_GELU) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    return x / (1.0f + vec_expf(-1.702f * x));
}

/* d act / dx at x. */
static inline float act_derivative(float x, clipc_act act) {
    if (act == CLIPC_ACT_GELU) {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        return cdf + x * 0.39894228040143268f * expf(-0.5f * x * x);
    }
    float s = 1.0f / (1.0f + vec_expf(-1.702f * x));
    return s + 1.702f * x * s * (1.0f - s);
}

#endif
