/*
 * loss.h — CLIP's symmetric contrastive loss (loss.c).
 */
#ifndef CLIPC_NN_LOSS_H
#define CLIPC_NN_LOSS_H


/* ---- loss.c: CLIP's symmetric contrastive loss.
 * img, txt (B, E) unnormalised features; logit_scale is the log of the scale.
 * Returns the loss; fills logits (B, B) = exp(s) * norm(img) norm(txt)^T.
 * Backward gives dimg, dtxt (overwritten) and *dscale (accumulated); it
 * reuses the cache's probs_i as storage for d(logits). */
typedef struct {
    float *img_n, *txt_n;     /* (B, E) normalised features */
    float *img_norm, *txt_norm; /* (B) norms */
    float *logits;            /* (B, B) logits_per_image */
    float *probs_i, *probs_t; /* (B, B) softmax of rows of logits / of logits^T */
} clip_loss_cache;
size_t clip_loss_cache_floats(int B, int E);
void clip_loss_cache_bind(clip_loss_cache *c, float *mem, int B, int E);
float clip_loss_forward(clip_loss_cache *c, const float *img, const float *txt, float logit_scale, int B,
                        int E);
void clip_loss_backward(float *dimg, float *dtxt, float *dscale, const clip_loss_cache *c, float logit_scale,
                        int B, int E);

#endif
