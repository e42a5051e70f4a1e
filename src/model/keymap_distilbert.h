/*
 * keymap_distilbert.h — Hugging Face DistilBERT checkpoints onto the
 * tutorial model's text tower (keymap_distilbert.c): the model.safetensors
 * of a DistilBertModel (`embeddings.*`, `transformer.*`) or of a task model
 * (DistilBertForMaskedLM, ...: the same under `distilbert.`, plus heads that
 * are ignored), onto the parameter table's `text_encoder.model.*` names.
 */
#ifndef CLIPC_MODEL_KEYMAP_DISTILBERT_H
#define CLIPC_MODEL_KEYMAP_DISTILBERT_H

#include <stddef.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "nn/params.h"

#define KM_DB_PREFIX "text_encoder.model."

/* The parameter-table name of file tensor `hf` into out (n bytes): 1; 0
 * for a tensor that is not the encoder's (a task head: vocab_transform,
 * vocab_layer_norm, vocab_projector, pre_classifier, classifier,
 * qa_outputs; the position_ids buffer); -1 for a name it does not know.
 * Names already under text_encoder.model. map to themselves. */
int keymap_distilbert_name(const char *hf, char *out, size_t n);
/* 1 when the file holds a DistilBERT encoder in one of those layouts. */
int keymap_is_distilbert(const st_file *f);
/* The text tower's shape from the file: vocab_size, transformer_width,
 * transformer_layers, text_positions, text_arch (heads are not stored in
 * the weights: left as they are). */
clipc_status keymap_distilbert_shapes(const st_file *f, const char *path, clipc_config *c);
/* Fills every text_encoder.model.* tensor of tab in dst from the file (F32,
 * F16 or BF16; shapes checked; a missing tensor is an error naming it;
 * non-finite values refused unless opts->allow_nonfinite); other entries
 * of dst are left alone.  Tensors of the file that map to nothing are
 * counted in one warning. */
clipc_status keymap_distilbert_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                                      const clipc_load_opts *opts);

#endif
