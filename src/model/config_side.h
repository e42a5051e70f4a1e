/*
 * config_side.h — the config file beside a model file (config_side.c):
 * Hugging Face's config.json, open_clip's open_clip_config.json, or the
 * config.json of a clipc training run.
 */
#ifndef CLIPC_MODEL_CONFIG_SIDE_H
#define CLIPC_MODEL_CONFIG_SIDE_H

#include "clipc.h"

typedef struct {
    int vision_heads, text_heads; /* 0: not said */
    int act;                      /* -1: not said, else a clipc_act */
    clipc_origin from;            /* CONFIG_JSON or OPEN_CLIP_CONFIG; DEFAULT: no file read */
} side_config;

/* Reads the side config of the model at path whose tensors gave `shapes`:
 * for a Hugging Face file (hf = 1) its config.json; else open_clip_config.json
 * if present, else a clipc config.json.  A missing file is not an error; a
 * file that contradicts the tensors or asks for something clipc cannot
 * compute (layer_norm_eps other than 1e-5, an MLP not 4x wide, ...) is. */
clipc_status side_config_read(const char *path, int hf, const clipc_config *shapes, side_config *out);

/* 1 when an open_clip_config.json sits beside path. */
int side_has_open_clip_config(const char *path);

#endif
