/*
 * inspect.c — what `clipc info` says about a model file: the model as
 * clipc loads it (config, layout, where the activation and heads came
 * from, parameter count) and the file itself (tensors per dtype, metadata).
 * The file is opened a second time for the second part: a model loaded with
 * a copy (Hugging Face layout) has closed it.
 */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"


static clipc_status describe_file(const st_file *f, clipc_model_info *out) {
    out->n_tensors = f->n_tensors;
    for (int i = 0; i < f->n_tensors; i++) {
        const char *dn = st_dtype_name(f->tensors[i].dtype);
        int k = 0;
        while (k < out->n_dtypes && strcmp(out->dtype_names[k], dn)) k++;
        if (k == out->n_dtypes && k < 16) out->dtype_names[out->n_dtypes++] = dn;
        if (k < 16) out->dtype_counts[k]++;
    }
    out->meta_keys = mem_calloc((size_t)f->n_meta + 1, sizeof(char *), "metadata");
    out->meta_vals = mem_calloc((size_t)f->n_meta + 1, sizeof(char *), "metadata");
    if (!out->meta_keys || !out->meta_vals) return CLIPC_ERR_NOMEM;
    /* Sorted by key: pairs are sorted as one string "key\0value" would be. */
    int *idx = mem_calloc((size_t)f->n_meta + 1, sizeof(int), "metadata");
    if (!idx) return CLIPC_ERR_NOMEM;
    for (int i = 0; i < f->n_meta; i++) idx[i] = i;
    for (int i = 1; i < f->n_meta; i++) /* insertion sort: metadata is small */
        for (int j = i; j > 0 && strcmp(f->meta_keys[idx[j - 1]], f->meta_keys[idx[j]]) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < f->n_meta; i++) {
        out->meta_keys[i] = strdup(f->meta_keys[idx[i]]);
        out->meta_vals[i] = strdup(f->meta_vals[idx[i]]);
        out->n_meta = i + 1;
        if (!out->meta_keys[i] || !out->meta_vals[i]) {
            free(idx);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        }
    }
    free(idx);
    return CLIPC_OK;
}

clipc_status clipc_model_inspect(const char *path, const clipc_load_opts *opts, clipc_model_info *out) {
    memset(out, 0, sizeof *out);
    clipc_load_opts lo = {0};
    if (opts) lo = *opts;
    lo.copy = 0;
    lo.precision = CLIPC_PRECISION_F32;
    clipc_model *m;
    clipc_status s = clipc_model_load(path, &lo, &m);
    if (s) return s;
    out->cfg = m->cfg;
    clipc_model_transform(m, &out->transform);
    out->origin = m->origin;
    out->n_params = m->tab.total;
    clipc_model_free(m);
    st_file f;
    s = tf_open(path, &f);
    if (!s) s = describe_file(&f, out);
    st_close(&f);
    if (s) clipc_model_info_free(out);
    return s;
}

void clipc_model_info_free(clipc_model_info *info) {
    for (int i = 0; i < info->n_meta; i++) {
        free(info->meta_keys[i]);
        free(info->meta_vals[i]);
    }
    free(info->meta_keys);
    free(info->meta_vals);
    memset(info, 0, sizeof *info);
}
