/*
 * keymap.h — the names of a CLIP model's tensors in the layouts clipc reads
 * and writes besides its own (keymap.c): Hugging Face's CLIPModel.
 * OpenAI's and open_clip's names are the parameter table's own (nn/params.c).
 */
#ifndef CLIPC_MODEL_KEYMAP_H
#define CLIPC_MODEL_KEYMAP_H

#include "clipc.h"
#include "formats/safetensors.h"
#include "nn/params.h"

/* How an OpenAI tensor is stored under its Hugging Face name(s). */
typedef enum {
    KM_COPY,      /* same shape, same values */
    KM_TRANSPOSE, /* nn.Linear [out, in]: OpenAI's [in, out] projection transposed */
    KM_QKV        /* in_proj rows 0..C-1, C..2C-1, 2C..3C-1 as q_proj, k_proj, v_proj */
} km_op;

/* The Hugging Face name of OpenAI parameter `name` in hf[0] (for KM_QKV
 * the q, k, v names in hf[0..2]); returns the km_op, or -1 if unknown. */
int keymap_hf_name(const char *name, char hf[3][96]);
/* 1 when the file uses Hugging Face CLIPModel names. */
int keymap_is_hf(const st_file *f);
/* Shape fields of the config from a Hugging Face file's tensors (heads and
 * act left 0). */
clipc_status keymap_hf_shapes(const st_file *f, const char *path, clipc_config *c);
/* Fills dst (tab->total floats) from a Hugging Face file: q/k/v joined,
 * projections transposed, F16/BF16 widened; shapes checked; non-finite
 * values refused unless opts->allow_nonfinite (then warned). */
clipc_status keymap_hf_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                              const clipc_load_opts *opts);

#endif
