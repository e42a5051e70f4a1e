/*
 * model.h — the clipc_model handle (internal view): a config, the parameter
 * table, the flat parameter buffer and typed views into it (model.c).
 */
#ifndef CLIPC_MODEL_H
#define CLIPC_MODEL_H

#include "clipc.h"
#include "formats/safetensors.h"
#include "kernels/onednn.h"
#include "kernels/int8.h"
#include "model/transform.h"
#include "nn/params.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"

/* Activations of small encodes (at most ENCODE_KEEP images or texts a
 * chunk) kept by the model from call to call (encode.c): a fresh buffer per
 * call cost page faults and munmap on every batch-1 query.  One caller at a
 * time holds each (busy, taken with an atomic exchange, never waited for:
 * a second thread encoding at once allocates its own, as before). */
typedef struct {
    int v_busy, t_busy; /* 0 free, 1 held */
    int v_ok, t_ok;     /* 1: v / t allocated */
    int v_threads, t_threads; /* the OpenMP thread count each was sized for (attention
                               * keeps a tile per thread: more threads need a new buffer) */
    vision_acts v;
    text_acts t;
} encode_keep;

struct clipc_model {
    clipc_config cfg;
    param_table tab;
    float *params;       /* tab.total floats: into the mapped file, or owned */
    int owns_params;     /* 1 = malloc'ed (writable), 0 = points into `file` */
    st_file file;        /* kept open while params point into it */
    clip_weights w;      /* views into params */
    char *source;        /* path it was loaded from, or NULL */
    onednn_ctx *bf16;    /* bf16 twin of params, or NULL: encoding is then f32 */
    /* 1: params no longer change (a loaded model until model_make_writable,
     * or one a benchmark froze), so f32 encoding may keep packed copies of
     * the weights in f32pack, made on first use (model_backend). */
    int weights_fixed;
    onednn_ctx *f32pack; /* set once, atomically (encodes may race to make it) */
    encode_keep keep;    /* small encodes' activations, reused */
    int8_ctx *int8;      /* int8 copies of the GEMM weights, or NULL (s28-int8) */
    clipc_model_origins origin; /* the file's layout, where act/heads came from */
    /* The tutorial's family: the WordPiece vocabulary (vocab.txt's text,
     * owned, NUL-terminated) that its text ids come from.  It travels inside
     * the model file as the metadata entry `wordpiece_vocab` (save.c), so a
     * saved model tokenises with no flag; NULL for OpenAI's models. */
    char *vocab;
    /* The image transform its file records (metadata image_mean, image_std,
     * image_resize: transform.c); size 0 = none recorded, the
     * architecture's applies (clipc_model_transform). */
    clipc_transform transform;
};

/* clipc's metadata for a model file: its config, act, model=clipc
 * (save.c); kv is key, value, ..., NULL with room for 2 more pairs. */
typedef struct {
    char v[11][16];
    char blocks[48], positions[16]; /* the tutorial's vision_layers list and text_positions */
    transform_meta tm;              /* image_mean, image_std, image_resize */
    const char *kv[2 * 27 + 1];
} model_meta;
void model_meta_fill(const clipc_model *m, model_meta *mm);

/* The tensors (names, dtypes F32, shapes; data NULL) that
 * clipc_model_export writes in `layout` for a model of table tab, in table
 * order (export.c).  *t and *names are malloc'ed: free both. */
clipc_status model_export_keys(const param_table *tab, clipc_layout layout, st_out_tensor **t, char (**names)[96],
                               int *n);

/* Makes the parameters private and writable (copies them out of a mapped
 * file), as training needs.  Drops the bf16 and int8 copies and the packed
 * f32 weights (they would go stale) and clears weights_fixed. */
clipc_status model_make_writable(clipc_model *m);

/* How many of the n float32 values at data (any alignment) are NaN or
 * +-inf: one branch-free vectorised pass at memory speed (a ViT-B's 150 M
 * floats, 600 MB: about 0.1-0.5 s, less than reading the file). */
size_t model_count_nonfinite(const void *data, size_t n);

#endif
