/*
 * loss_soft.h — the notebook's soft-target contrastive loss (loss_soft.c),
 * the tutorial's `--loss soft` (seed 002's own loss is clip_loss in loss.h
 * at a fixed temperature).
 */
#ifndef CLIPC_NN_LOSS_SOFT_H
#define CLIPC_NN_LOSS_SOFT_H

#include <stddef.h>

typedef struct {
    float *logits;   /* (B, B) Z = txt img^T / temperature: row i is text i */
    float *targets;  /* (B, B) Y = softmax_rows((img img^T + txt txt^T) / 2 * temperature) */
    float *p_row;    /* (B, B) softmax of Z's rows (the texts' loss) */
    float *p_col;    /* (B, B) softmax of Z's columns (the images' loss), stored [i][j] */
    float *scratch;  /* (B, B) backward: d(similarity) */
} soft_loss_cache;

size_t soft_loss_cache_floats(int B);
void soft_loss_cache_bind(soft_loss_cache *c, float *mem, int B);
/* img, txt (B, E) UNnormalised embeddings (the notebook does not normalise). */
float soft_loss_forward(soft_loss_cache *c, const float *img, const float *txt, float temperature, int B, int E);
/* dimg, dtxt (B, E) overwritten.  The gradient flows through the targets
 * too, as PyTorch's autograd does in the notebook (they are not detached). */
void soft_loss_backward(float *dimg, float *dtxt, const soft_loss_cache *c, const float *img, const float *txt,
                        float temperature, int B, int E);

#endif
