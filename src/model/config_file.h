/*
 * config_file.h — the config of a model file (config_file.c).
 */
#ifndef CLIPC_MODEL_CONFIG_FILE_H
#define CLIPC_MODEL_CONFIG_FILE_H

#include "clipc.h"
#include "formats/safetensors.h"

/* Reads the config of a safetensors model (OpenAI or Hugging Face names):
 * shapes from the tensors; heads and activation from the metadata, then the
 * config file beside it, then opts, then the shapes' rules (or an error
 * naming --act); *origin says the layout and where each came from. */
clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *cfg, clipc_model_origins *origin);

#endif
