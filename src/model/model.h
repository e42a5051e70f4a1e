/*
 * model.h — the clipc_model handle (internal view): a config, the parameter
 * table, the flat parameter buffer and typed views into it, and what its
 * precision encodes on (model_backend).
 */
#ifndef CLIPC_MODEL_H
#define CLIPC_MODEL_H

#include "clipc.h"
#include "formats/safetensors.h"
#include "kernels/backend.h"
#include "kernels/onednn.h"
#include "nn/params.h"

struct clipc_model {
    clipc_config cfg;
    param_table tab;
    float *params;       /* tab.total floats: into the mapped file, or owned */
    int owns_params;     /* 1 = malloc'ed (writable), 0 = points into `file` */
    st_file file;        /* kept open while params point into it */
    clip_weights w;      /* views into params */
    char *source;        /* path it was loaded from, or NULL */
    onednn_ctx *bf16;    /* bf16 twin of params, or NULL: encoding is then f32 */
};

/* The inference backend (backend.h) the model encodes on, which encode.c
 * passes to the towers: the bf16 twin's when the precision is bf16, else
 * oneDNN's process-wide f32 one, resolved at each call (NULL when oneDNN
 * has none: OpenBLAS). */
const infer_backend *model_backend(const clipc_model *m);

/* Makes the parameters private and writable (copies them out of a mapped
 * file), as training needs.  Drops the bf16 copy (it would go stale). */
clipc_status model_make_writable(clipc_model *m);

/* Reads the config of a safetensors model: metadata, then a config.json
 * beside the file, then opts, then OpenAI's width/64 rule for heads. */
clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *cfg);

#endif
