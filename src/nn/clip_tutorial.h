/*
 * clip_tutorial.h — the training graph of the tutorial's family (seed 002)
 * inside clip_workspace (clip_tutorial.c): the torchvision ResNet and
 * DistilBERT towers, their projection heads; clip.c adds the loss.
 */
#ifndef CLIPC_NN_CLIP_TUTORIAL_H
#define CLIPC_NN_CLIP_TUTORIAL_H

#include "nn/clip.h"

clipc_status clip_tutorial_alloc(clip_workspace *ws, const clipc_config *cfg, int B);
void clip_tutorial_free(clip_workspace *ws);
size_t clip_tutorial_bytes(const clipc_config *cfg, int B);
/* img_feat, txt_feat (B, E) from pixels (B, 3, R, R) and ids (B,
 * context_length) WordPiece rows.  BatchNorm in train mode unless ws->eval. */
void clip_tutorial_forward_towers(clip_workspace *ws, const clip_weights *w, const float *pixels,
                                  const int32_t *ids, int B);
/* From ws->dimg, ws->dtxt: gradients accumulate into *g. */
void clip_tutorial_backward_towers(clip_workspace *ws, const clip_weights *g, const clip_weights *w,
                                   const int32_t *ids, int B);

#endif
