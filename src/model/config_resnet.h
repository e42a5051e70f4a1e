/*
 * config_resnet.h — the vision fields of a ModifiedResNet model file
 * (config_resnet.c), derived from its tensor shapes as OpenAI's build_model
 * derives them.
 */
#ifndef CLIPC_MODEL_CONFIG_RESNET_H
#define CLIPC_MODEL_CONFIG_RESNET_H

#include "clipc.h"
#include "formats/safetensors.h"

/* 1 when the file holds a ModifiedResNet image tower (an attention pool, or
 * metadata vision_layers that is a list). */
int config_file_is_resnet(const st_file *f);
/* Sets vision_arch, vision_blocks, vision_width, vision_heads (width * 32 /
 * 64, OpenAI's rule: it is not a free choice in OpenAI's code) and
 * image_resolution (32 x the attention pool's grid); vision_layers and
 * vision_patch_size 0.  Checks the metadata's vision_layers list when there
 * is one. */
clipc_status config_resnet_vision(const st_file *f, const char *path, clipc_config *c);

#endif
