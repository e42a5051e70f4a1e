/*
 * tensor_file.h — the one entry point for reading a weights file: the format
 * is recognised by content (safetensors, PyTorch zip checkpoint or
 * TorchScript archive), and every format gives the same st_file tensor list.
 * Also the exact conversions of F16, BF16 and F64 weights to f32.
 */
#ifndef CLIPC_FORMATS_TENSOR_FILE_H
#define CLIPC_FORMATS_TENSOR_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"
#include "formats/safetensors.h"

/* Maps `path` and parses it by its first bytes: "PK\3\4" a PyTorch zip,
 * else safetensors.  Formats people hand over by mistake (legacy non-zip
 * pickles, GGUF, images) are named in the error.  Close with st_close. */
clipc_status tf_open(const char *path, st_file *f);

/* 1 when a tensor of this dtype can become f32 weights (F32, F16, BF16, F64). */
int tf_float_dtype(st_dtype t);
/* t's values as f32 into out (t->numel floats): exact for F16 (subnormals,
 * inf and nan included) and BF16, round-to-nearest-even for F64 (out-of-range
 * values become +-inf).  Returns -1 for a non-float dtype. */
int tf_to_f32(const st_tensor *t, float *out);
float tf_f16_to_f32(uint16_t h);
float tf_bf16_to_f32(uint16_t h);
float tf_f64_to_f32(double d);

#endif
