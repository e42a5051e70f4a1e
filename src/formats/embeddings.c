/*
 * embeddings.c — clipc_write_embeddings_safetensors (include/clipc_safetensors.h):
 * image and text embeddings as the tensors image_embeds and text_embeds of
 * a safetensors file, through st_write.
 */
#include "clipc.h"
#include "clipc_safetensors.h"
#include "formats/safetensors.h"

clipc_status clipc_write_embeddings_safetensors(const char *path, const float *img, int n_img, const float *txt,
                                                int n_txt, int dim, const char *const *meta) {
    st_out_tensor t[2];
    int nt = 0;
    if (n_img) t[nt++] = (st_out_tensor){"image_embeds", ST_F32, 2, {n_img, dim}, img};
    if (n_txt) t[nt++] = (st_out_tensor){"text_embeds", ST_F32, 2, {n_txt, dim}, txt};
    return st_write(path, t, nt, meta);
}
