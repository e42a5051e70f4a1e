/*
 * model.c — the clipc_model handle: its accessors, making its parameters
 * writable for training, and freeing it.  Loading (load.c), saving (save.c),
 * the config of a file (config_file.c), precision (precision.c) and encoding
 * (encode.c) have files of their own.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "kernels/onednn.h"
#include "nn/params.h"

const clipc_config *clipc_model_config(const clipc_model *m) { return &m->cfg; }

clipc_model_origins clipc_model_origin(const clipc_model *m) { return m->origin; }

const char *clipc_layout_name(clipc_layout l) {
    static const char *const n[] = {"openai", "clipc", "open_clip", "hf"};
    return (unsigned)l < 4 ? n[l] : "?";
}

const char *clipc_origin_name(clipc_origin o) {
    static const char *const n[] = {"default", "metadata", "config.json", "open_clip_config.json", "option",
                                    "shapes"};
    return (unsigned)o < 6 ? n[o] : "?";
}

float clipc_model_logit_scale(const clipc_model *m) { return expf(m->w.logit_scale[0]); }

size_t model_count_nonfinite(const void *data, size_t n) {
    /* One pass over the bits, no branches: a float is NaN or +-inf exactly
     * when its exponent bits are all ones.  memcpy keeps unaligned mapped
     * data legal; `omp simd` makes -O2 turn the loop into vector compares. */
    const unsigned char *b = data;
    size_t bad = 0;
#pragma omp simd reduction(+ : bad)
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, b + 4 * i, 4);
        bad += (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad;
}

clipc_status model_make_writable(clipc_model *m) {
    onednn_free(m->bf16);
    m->bf16 = NULL;
    onednn_free(m->f32pack);
    m->f32pack = NULL;
    m->weights_fixed = 0;
    int8_free(m->int8); /* s28-int8 */
    m->int8 = NULL;
    if (m->owns_params) return CLIPC_OK;
    float *p = mem_alloc(m->tab.total * sizeof(float), "model parameters");
    if (!p) return CLIPC_ERR_NOMEM;
    memcpy(p, m->params, m->tab.total * sizeof(float));
    m->params = p;
    m->owns_params = 1;
    st_close(&m->file);
    clip_weights_free(&m->w);
    return clip_weights_bind(&m->w, &m->cfg, &m->tab, m->params);
}

void clipc_model_free(clipc_model *m) {
    if (!m) return;
    onednn_free(m->bf16);
    onednn_free(m->f32pack);
    if (m->keep.v_ok) vision_acts_free(&m->keep.v);
    if (m->keep.t_ok) text_acts_free(&m->keep.t);
    int8_free(m->int8); /* s28-int8 */
    if (m->owns_params) free(m->params);
    st_close(&m->file);
    clip_weights_free(&m->w);
    param_table_free(&m->tab);
    free(m->source);
    free(m->vocab);
    free(m);
}
