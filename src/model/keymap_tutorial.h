/*
 * keymap_tutorial.h — the tutorial model's image tower from the weight
 * files its users have (keymap_tutorial.c): a torchvision `resnet50`
 * state dict (torch.save(model.state_dict()) as .pt/.pth, or safetensors)
 * or timm's `resnet50` (same names: conv1, bn1, layerN.K.{conv,bn}I,
 * layerN.K.downsample.{0,1}, fc), bare or under a prefix:
 * "image_encoder.model." (the tutorial's CLIPModel), "model." (its
 * ImageEncoder), "module." (DataParallel).  The classifier (fc.*) and
 * BatchNorm's num_batches_tracked counters are skipped.  The tensors land
 * on the parameter table's names, image_encoder.model.<torchvision name>.
 */
#ifndef CLIPC_MODEL_KEYMAP_TUTORIAL_H
#define CLIPC_MODEL_KEYMAP_TUTORIAL_H

#include <stddef.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "nn/params.h"

/* The table name of file key `key` into out: 1 mapped, 0 skipped (fc.*,
 * num_batches_tracked), -1 not a ResNet tensor name. */
int keymap_tv_resnet_name(const char *key, char *out, size_t n);
/* The prefix of the ResNet tensors in f ("" for a bare state dict), or
 * NULL when f holds no conv1.weight under any known prefix. */
const char *keymap_tv_resnet_prefix(const st_file *f);
/* vision_width and vision_blocks[4] from f's tensors (other fields kept);
 * errors name the file. */
clipc_status keymap_tv_resnet_shapes(const st_file *f, const char *path, clipc_config *c);
/* Fills the image tower's entries (image_encoder.model.*) of tab in dst
 * (laid out by tab) from f: each must be present with its exact shape and a
 * float dtype (F32, F16, BF16, F64; converted).  Other entries of dst are
 * left alone.  *unused (may be NULL) gets the number of ResNet tensors of f
 * the table had no place for (a deeper file than the config), which the
 * caller may warn about. */
clipc_status keymap_tv_resnet_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                                     int *unused);

#endif
