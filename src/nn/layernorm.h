/*
 * layernorm.h — layer normalisation forward and backward (layernorm.c).
 * Backward accumulates (+=) into parameter and input gradients.
 */
#ifndef CLIPC_NN_LAYERNORM_H
#define CLIPC_NN_LAYERNORM_H

#include <stddef.h>
#include <stdint.h>

/* ---- layernorm.c: y = (x - mean) / sqrt(var + 1e-5) * w + b over the last dim */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
/* The same with another epsilon (DistilBERT's LayerNorms use 1e-12).  The
 * backward takes rstd, so it serves both. */
void layernorm_forward_eps(float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, int N, int C, double eps);
/* out = (inp - mean) * rstd * w + b from stored statistics: the forward's
 * output bit for bit (backward rebuilds it instead of keeping it). */
/* The same into bf16 values, statistics not kept (bf16 inference only). */
void layernorm_forward_bf16(uint16_t *out, const float *inp, const float *w, const float *b, int N, int C);
void layernorm_apply(float *out, const float *inp, const float *mean, const float *rstd, const float *w,
                     const float *b, int N, int C);
/* dinp += ... (accumulates, since LN inputs are residual streams), dw += , db += */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

#endif
