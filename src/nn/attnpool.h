/*
 * attnpool.h — OpenAI's AttentionPool2d (attnpool.c), the head of the
 * ModifiedResNet: the HW feature vectors of each image (NHWC rows) become
 * tokens 1..HW, their mean is prepended as token 0, positional_embedding
 * (HW+1, D) is added; ONE query (from token 0, q_proj) attends over all HW+1
 * keys and values (k_proj, v_proj: separate weights, with biases) in D/64
 * heads (NH heads of D/NH), and c_proj (E, D) maps the heads to the image
 * embedding.  No LayerNorm anywhere.
 */
#ifndef CLIPC_NN_ATTNPOOL_H
#define CLIPC_NN_ATTNPOOL_H

#include <stddef.h>

#include "nn/params.h"

typedef struct {
    int B, HW, T, D, NH, E;
    float *tok;    /* (B, T, D) tokens after the positional embedding */
    float *tok0;   /* (B, D) token 0 of each image (q_proj's input, contiguous) */
    float *q;      /* (B, D) unscaled q_proj output */
    float *k, *v;  /* (B*T, D) */
    float *att;    /* (B, NH, T) softmax weights */
    float *o;      /* (B, D) attention output, heads side by side (c_proj's input) */
    /* training only: gradient scratch */
    float *dtok, *dtmp, *dk, *dv; /* (B*T, D) */
    float *dq, *dO;               /* (B, D) */
} attnpool_acts;

size_t attnpool_acts_floats(int B, int HW, int D, int NH, int training);
/* Carves the views out of m (attnpool_acts_floats floats); returns the end. */
float *attnpool_acts_bind(attnpool_acts *a, float *m, int B, int HW, int D, int NH, int E, int training);

/* out (B, E) from x (B*HW, D). */
void attnpool_forward(float *out, attnpool_acts *a, const float *x, const resnet_weights *w);
/* dx (B*HW, D) overwritten; the pool's parameter gradients accumulate into
 * *g (pos_emb, q/k/v/c projections). */
void attnpool_backward(float *dx, const resnet_weights *g, const float *dout, attnpool_acts *a,
                       const resnet_weights *w);

#endif
