/*
 * activation.h — QuickGELU and exact GELU on their own (activation.c); the
 * block fuses the same formulas into its passes.
 */
#ifndef CLIPC_NN_ACTIVATION_H
#define CLIPC_NN_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>

/* ---- activation.c */
void quickgelu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * f'(inp) (overwritten) */
void quickgelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
