/*
 * export_onnx.h — the encoders as ONNX graphs (export_onnx.c) and the
 * Immich model folder around them (export_onnx_dir.c).
 */
#ifndef CLIPC_MODEL_EXPORT_ONNX_H
#define CLIPC_MODEL_EXPORT_ONNX_H

#include <stddef.h>
#include "clipc.h"

/* CLIPC_ERR_UNSUPPORTED (with the reason) unless m's towers can be exported. */
clipc_status export_onnx_check(const clipc_model *m);
/* Writes one encoder (textual 0: image, 1: text) as an ONNX model at path,
 * atomically; flags as clipc_model_export_onnx's (CLIPC_ONNX_IMMICH_IO);
 * a file of max_bytes or more is refused (ONNX_MAX_BYTES). */
clipc_status export_onnx_graph(const clipc_model *m, int textual, unsigned flags, const char *path, size_t max_bytes);

#endif
