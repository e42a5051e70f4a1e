/*
 * precision.h — what a model's precision encodes on (precision.c).
 */
#ifndef CLIPC_MODEL_PRECISION_H
#define CLIPC_MODEL_PRECISION_H

#include "kernels/backend.h"
#include "model/model.h"

/* The inference backend (backend.h) the model encodes on, which encode.c
 * passes to the towers: the bf16 twin's when the precision is bf16, else
 * oneDNN's process-wide f32 one, resolved at each call (NULL when oneDNN
 * has none: OpenBLAS). */
const infer_backend *model_backend(const clipc_model *m);

#endif
