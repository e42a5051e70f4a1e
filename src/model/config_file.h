/*
 * config_file.h — the config of a model file (config_file.c).
 */
#ifndef CLIPC_MODEL_CONFIG_FILE_H
#define CLIPC_MODEL_CONFIG_FILE_H

#include "clipc.h"
#include "formats/safetensors.h"

/* Reads the config of a safetensors model: metadata, then a config.json
 * beside the file, then opts, then OpenAI's width/64 rule for heads. */
clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *cfg);

#endif
