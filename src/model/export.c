/*
 * export.c — writing a model in another layout or element type
 * (`clipc convert`): OpenAI's names with clipc's metadata, or Hugging Face
 * CLIPModel names (keymap.c) with a config.json beside the file that
 * transformers reads; F32, F16 or BF16 (rounded to nearest even).
 *
 * Everything is staged in one buffer in the output dtype (a transposed
 * projection or a narrower dtype needs new bytes anyway), then written with
 * st_write, atomically.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/half.h"
#include "model/keymap.h"
#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/safetensors.h"

const char *clipc_dtype_name(clipc_dtype d) {
    return d == CLIPC_DTYPE_F16 ? "f16" : d == CLIPC_DTYPE_BF16 ? "bf16" : "f32";
}

int clipc_dtype_parse(const char *name, clipc_dtype *out) {
    static const char *const n[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, n[i])) return *out = (clipc_dtype)i, 0;
    return -1;
}

/* n floats of src into dst as dtype; with `stride`, src is read down a
 * column (for transposes): element i is src[i * stride]. */
static void put(void *dst, clipc_dtype dt, const float *src, size_t n, size_t stride) {
    for (size_t i = 0; i < n; i++) {
        float x = src[i * stride];
        if (dt == CLIPC_DTYPE_F32) ((float *)dst)[i] = x;
        else if (dt == CLIPC_DTYPE_F16) ((uint16_t *)dst)[i] = half_from_f32(x);
        else ((uint16_t *)dst)[i] = bf16_from_f32(x);
    }
}

/* transformers' CLIPConfig for m.  Token ids as OpenAI's hub config
 * (bos 0, eos 2, pad 1): eos_token_id 2 makes transformers pool the text at
 * argmax(ids), which is what clipc and OpenAI do. */
static char *hf_config_json(const clipc_model *m, clipc_dtype dt) {
    const clipc_config *c = &m->cfg;
    const char *act = c->act == CLIPC_ACT_GELU ? "gelu" : "quick_gelu";
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("CLIPModel"));
    cJSON_AddStringToObject(o, "model_type", "clip");
    cJSON_AddNumberToObject(o, "projection_dim", c->embed_dim);
    cJSON_AddNumberToObject(o, "logit_scale_init_value", 2.6592);
    cJSON_AddStringToObject(o, "torch_dtype", dt == CLIPC_DTYPE_F16 ? "float16" : dt == CLIPC_DTYPE_BF16 ? "bfloat16"
                                                                                                      : "float32");
    cJSON *t = cJSON_AddObjectToObject(o, "text_config"), *v = cJSON_AddObjectToObject(o, "vision_config");
    cJSON_AddStringToObject(t, "model_type", "clip_text_model");
    cJSON_AddNumberToObject(t, "hidden_size", c->transformer_width);
    cJSON_AddNumberToObject(t, "intermediate_size", 4 * c->transformer_width);
    cJSON_AddNumberToObject(t, "num_attention_heads", c->transformer_heads);
    cJSON_AddNumberToObject(t, "num_hidden_layers", c->transformer_layers);
    cJSON_AddNumberToObject(t, "max_position_embeddings", c->context_length);
    cJSON_AddNumberToObject(t, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(t, "projection_dim", c->embed_dim);
    cJSON_AddStringToObject(t, "hidden_act", act);
    cJSON_AddNumberToObject(t, "layer_norm_eps", 1e-5);
    cJSON_AddNumberToObject(t, "bos_token_id", 0);
    cJSON_AddNumberToObject(t, "eos_token_id", 2);
    cJSON_AddNumberToObject(t, "pad_token_id", 1);
    cJSON_AddStringToObject(v, "model_type", "clip_vision_model");
    cJSON_AddNumberToObject(v, "hidden_size", c->vision_width);
    cJSON_AddNumberToObject(v, "intermediate_size", 4 * c->vision_width);
    cJSON_AddNumberToObject(v, "num_attention_heads", c->vision_heads);
    cJSON_AddNumberToObject(v, "num_hidden_layers", c->vision_layers);
    cJSON_AddNumberToObject(v, "patch_size", c->vision_patch_size);
    cJSON_AddNumberToObject(v, "image_size", c->image_resolution);
    cJSON_AddNumberToObject(v, "num_channels", 3);
    cJSON_AddNumberToObject(v, "projection_dim", c->embed_dim);
    cJSON_AddStringToObject(v, "hidden_act", act);
    cJSON_AddNumberToObject(v, "layer_norm_eps", 1e-5);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* config.json in the folder of path. */
static clipc_status write_hf_config(const clipc_model *m, const char *path, clipc_dtype dt) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *cp = malloc(dl + 12), *json = hf_config_json(m, dt);
    clipc_status s = CLIPC_ERR_NOMEM;
    if (cp && json) {
        memcpy(cp, path, dl);
        strcpy(cp + dl, "config.json");
        s = clipc_write_file_atomic(cp, json, strlen(json));
    }
    free(cp);
    free(json);
    return s;
}

typedef struct {
    st_out_tensor *t;
    char (*names)[96];
    int n;
    uint8_t *buf;
    size_t at, esz;
    clipc_dtype dt;
    st_dtype st;
} stage;

/* Adds tensor `name` of shape (ndim, shape) from src (n floats, read with
 * `stride`); a dry run (buf NULL) records the name and shape only. */
static void add(stage *g, const char *name, int ndim, const int *shape, const float *src, size_t n, size_t stride) {
    st_out_tensor *o = &g->t[g->n];
    snprintf(g->names[g->n], 96, "%s", name);
    o->name = g->names[g->n++];
    o->dtype = g->st;
    o->ndim = ndim;
    for (int d = 0; d < ndim; d++) o->shape[d] = shape[d];
    if (!g->buf) return;
    o->data = g->buf + g->at;
    put(g->buf + g->at, g->dt, src, n, stride);
    g->at += n * g->esz;
}

/* Parameter p (at x: NULL in a dry run) as the tensor(s) of the layout. */
static void stage_param(stage *g, const float *x, const param_info *p, int hf) {
    char names[3][96];
    int op = hf ? keymap_hf_name(p->name, names) : KM_COPY;
    if (op == KM_COPY) {
        add(g, hf ? names[0] : p->name, p->ndim, p->shape, x, p->numel, 1);
    } else if (op == KM_TRANSPOSE) { /* [rows, cols] -> [cols, rows]: output row c is column c */
        int rows = p->shape[0], cols = p->shape[1], shape[2] = {cols, rows};
        size_t at = g->at;
        add(g, names[0], 2, shape, x, (size_t)rows, (size_t)cols); /* output row 0; the others below */
        if (!g->buf) return;
        for (int c = 1; c < cols; c++)
            put(g->buf + at + (size_t)c * rows * g->esz, g->dt, x + c, (size_t)rows, (size_t)cols);
        g->at = at + p->numel * g->esz;
    } else {
        int shape[2] = {p->shape[0] / 3, p->ndim == 2 ? p->shape[1] : 0};
        for (int j = 0; j < 3; j++) add(g, names[j], p->ndim, shape, x ? x + j * (p->numel / 3) : NULL, p->numel / 3, 1);
    }
}

static void stage_init(stage *g, clipc_dtype dt) {
    memset(g, 0, sizeof *g);
    g->dt = dt;
    g->esz = dt == CLIPC_DTYPE_F32 ? 4 : 2;
    g->st = dt == CLIPC_DTYPE_F32 ? ST_F32 : dt == CLIPC_DTYPE_F16 ? ST_F16 : ST_BF16;
}

clipc_status model_export_keys(const param_table *tab, clipc_layout layout, st_out_tensor **t, char (**names)[96],
                               int *n) {
    stage g;
    stage_init(&g, CLIPC_DTYPE_F32);
    g.t = mem_calloc((size_t)tab->n * 3, sizeof *g.t, "tensor list");
    g.names = mem_calloc((size_t)tab->n * 3, sizeof *g.names, "tensor names");
    if (!g.t || !g.names) {
        free(g.t);
        free(g.names);
        return CLIPC_ERR_NOMEM;
    }
    for (int i = 0; i < tab->n; i++) stage_param(&g, NULL, &tab->p[i], layout == CLIPC_LAYOUT_HF);
    *t = g.t;
    *names = g.names;
    *n = g.n;
    return CLIPC_OK;
}

clipc_status clipc_model_export(const clipc_model *m, const char *path, clipc_layout layout, clipc_dtype dt) {
    if (layout != CLIPC_LAYOUT_OPENAI && layout != CLIPC_LAYOUT_CLIPC && layout != CLIPC_LAYOUT_HF)
        return clipc_error(CLIPC_ERR_INVALID, "%s: clipc writes the OpenAI (clipc) and Hugging Face layouts only",
                           path);
    if ((unsigned)dt > CLIPC_DTYPE_BF16) return clipc_error(CLIPC_ERR_INVALID, "unknown dtype %d", (int)dt);
    if (layout == CLIPC_LAYOUT_HF && clipc_config_is_tutorial(&m->cfg))
        return clipc_error(CLIPC_ERR_UNSUPPORTED,
                           "%s: a tutorial model (ResNet + DistilBERT + projection heads) has no Hugging Face "
                           "CLIPModel layout; write it in clipc's layout (the seed's state_dict names) instead",
                           path);
    int hf = layout == CLIPC_LAYOUT_HF, cap = m->tab.n * 3;
    stage g;
    stage_init(&g, dt);
    g.t = mem_calloc((size_t)cap, sizeof *g.t, "tensor list");
    g.names = mem_calloc((size_t)cap, sizeof *g.names, "tensor names");
    g.buf = mem_alloc(m->tab.total * g.esz + 1, "converted weights");
    clipc_status s = CLIPC_ERR_NOMEM;
    if (g.t && g.names && g.buf) {
        for (int i = 0; i < m->tab.n; i++) stage_param(&g, m->params + m->tab.p[i].offset, &m->tab.p[i], hf);
        model_meta mm;
        model_meta_fill(m, &mm);
        const char *hf_meta[] = {"format", "pt", NULL};
        s = st_write(path, g.t, g.n, hf ? hf_meta : mm.kv);
        if (!s && hf) s = write_hf_config(m, path, dt);
    }
    free(g.t);
    free(g.names);
    free(g.buf);
    return s;
}
