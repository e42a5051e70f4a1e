/*
 * config_tutorial.h — the config of a tutorial-model file (config_tutorial.c):
 * clipc's own, or the seed's `torch.save(model.state_dict(), "best.pt")`.
 */
#ifndef CLIPC_MODEL_CONFIG_TUTORIAL_H
#define CLIPC_MODEL_CONFIG_TUTORIAL_H

#include "clipc.h"
#include "formats/safetensors.h"

/* 1 when the file holds the tutorial's CLIPModel state dict
 * (image_encoder.model.*, text_encoder.model.*, image_projection.*). */
int config_tutorial_detect(const st_file *f);
/* Shapes from the tensors, the rest (resolution, context, heads) from
 * clipc's metadata or the tutorial's defaults (224 px, max_length 200,
 * 64-wide attention heads as DistilBERT's, or opts->text_heads). */
clipc_status config_tutorial_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                       clipc_config *c, clipc_model_origins *o);

#endif
