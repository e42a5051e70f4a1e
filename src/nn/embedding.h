/*
 * embedding.h — token + positional embedding of the text tower, patch
 * im2col and class/positional embedding of the vision tower (embedding.c).
 */
#ifndef CLIPC_NN_EMBEDDING_H
#define CLIPC_NN_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>
#include "nn/seqs.h"

/* ---- embedding.c */
/* Text: row off(s)+t of out = tok[ids[s*ctx + t]] + pos[t] for t < len(s):
 * the first len(s) tokens of each id row (stride ctx), packed or uniform. */
void token_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos, const seqs *sq,
                             int ctx, int C);
void token_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids, const seqs *sq,
                              int ctx, int C);
/* Vision: im2col of non-overlapping P x P patches.  cols (B*G*G, 3*P*P) in the
 * (c, ky, kx) order of the conv weight (W, 3, P, P). */
void patch_im2col(float *cols, const float *pixels, int B, int R, int P);
/* x (B, G*G+1, W): token 0 = class_emb, token 1+p = patch p; + pos_emb. */
void vision_embed_forward(float *x, const float *patch_out, const float *class_emb, const float *pos_emb,
                          int B, int GG, int W);
/* dpatch (B*G*G, W) overwritten; dclass, dpos accumulated. */
void vision_embed_backward(float *dpatch, float *dclass, float *dpos, const float *dx, int B, int GG, int W);

#endif
