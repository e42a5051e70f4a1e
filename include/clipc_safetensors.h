/*
 * clipc_safetensors.h — embeddings written as a safetensors file, for
 * programs that hand large batches to NumPy or PyTorch (`clipc encode
 * --format safetensors`).
 */
#ifndef CLIPC_SAFETENSORS_PUBLIC_H
#define CLIPC_SAFETENSORS_PUBLIC_H

#include "clipc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes path atomically: F32 tensors image_embeds [n_img, dim] and
 * text_embeds [n_txt, dim] (each only when its count is > 0) and string
 * metadata `meta` (key, value, key, value, ..., NULL; may be NULL). */
clipc_status clipc_write_embeddings_safetensors(const char *path, const float *img, int n_img, const float *txt,
                                                int n_txt, int dim, const char *const *meta);

#ifdef __cplusplus
}
#endif
#endif
