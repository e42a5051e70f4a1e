/*
 * keymap.c — Hugging Face CLIPModel names <-> OpenAI's state-dict names.
 *
 * One table per scope says where each OpenAI tensor lives in a file written
 * by transformers' CLIPModel (models/clip/modeling_clip.py): the towers are
 * `text_model` / `vision_model`, each block `encoder.layers.N` with separate
 * q/k/v projections, `layer_norm1/2`, `mlp.fc1/fc2`; the vision tower's
 * `pre_layrnorm` is spelled so upstream; the two projections are bias-free
 * nn.Linear, stored [out, in], i.e. transposed relative to OpenAI's
 * `x @ proj`.  The `position_ids` buffers (non-persistent in current
 * transformers, present in older files) are ignored.  Loading copies (the
 * layouts differ), so an HF file is never mapped zero-copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/keymap.h"
#include "model/half.h"
#include "model/model.h"
#include "clipc.h"
#include "base/error.h"

typedef struct {
    const char *openai, *hf;
    km_op op;
} km_entry;

/* Everything outside the blocks. */
static const km_entry top[] = {
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight", KM_COPY},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight", KM_COPY},
    {"ln_final.weight", "text_model.final_layer_norm.weight", KM_COPY},
    {"ln_final.bias", "text_model.final_layer_norm.bias", KM_COPY},
    {"text_projection", "text_projection.weight", KM_TRANSPOSE},
    {"logit_scale", "logit_scale", KM_COPY},
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", KM_COPY},
    {"visual.class_embedding", "vision_model.embeddings.class_embedding", KM_COPY},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", KM_COPY},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", KM_COPY},
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", KM_COPY},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight", KM_COPY},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias", KM_COPY},
    {"visual.proj", "visual_projection.weight", KM_TRANSPOSE},
};

/* Inside block N: OpenAI "<tower>resblocks.N.<openai>" is HF
 * "<tower>_model.encoder.layers.N.<hf>" (%s: q, k, v). */
static const km_entry block[] = {
    {"ln_1.weight", "layer_norm1.weight", KM_COPY},
    {"ln_1.bias", "layer_norm1.bias", KM_COPY},
    {"attn.in_proj_weight", "self_attn.%s_proj.weight", KM_QKV},
    {"attn.in_proj_bias", "self_attn.%s_proj.bias", KM_QKV},
    {"attn.out_proj.weight", "self_attn.out_proj.weight", KM_COPY},
    {"attn.out_proj.bias", "self_attn.out_proj.bias", KM_COPY},
    {"ln_2.weight", "layer_norm2.weight", KM_COPY},
    {"ln_2.bias", "layer_norm2.bias", KM_COPY},
    {"mlp.c_fc.weight", "mlp.fc1.weight", KM_COPY},
    {"mlp.c_fc.bias", "mlp.fc1.bias", KM_COPY},
    {"mlp.c_proj.weight", "mlp.fc2.weight", KM_COPY},
    {"mlp.c_proj.bias", "mlp.fc2.bias", KM_COPY},
};

int keymap_hf_name(const char *name, char hf[3][96]) {
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(name, top[i].openai)) {
            snprintf(hf[0], 96, "%s", top[i].hf);
            return top[i].op;
        }
    const char *tower = NULL, *rest = NULL;
    if (!strncmp(name, "visual.transformer.resblocks.", 29)) tower = "vision_model", rest = name + 29;
    else if (!strncmp(name, "transformer.resblocks.", 22)) tower = "text_model", rest = name + 22;
    if (!tower) return -1;
    char *end;
    long layer = strtol(rest, &end, 10);
    if (end == rest || *end != '.' || layer < 0 || layer > 9999) return -1;
    for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
        if (strcmp(end + 1, block[i].openai)) continue;
        static const char *const qkv[3] = {"q", "k", "v"};
        char fmt[128];
        snprintf(fmt, sizeof fmt, "%s.encoder.layers.%ld.%s", tower, layer, block[i].hf);
        /* fmt holds "%s" only where the table says q/k/v ("self_attn.%s_proj..."). */
        for (int j = 0; j < (block[i].op == KM_QKV ? 3 : 1); j++) snprintf(hf[j], 96, fmt, qkv[j]);
        return block[i].op;
    }
    return -1;
}

int keymap_is_hf(const st_file *f) {
    return st_get(f, "text_model.embeddings.token_embedding.weight") ||
           st_get(f, "vision_model.embeddings.patch_embedding.weight");
}

static const st_tensor *need(const st_file *f, const char *path, const char *name, int ndim, clipc_status *s) {
    const st_tensor *t = st_get(f, name);
    if (!t)
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face CLIPModel layout): tensor '%s' is missing", path, name);
    else if (t->ndim != ndim)
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face CLIPModel layout): tensor '%s' has %d dimensions, "
                         "expected %d", path, name, t->ndim, ndim);
    return *s ? NULL : t;
}

static int count_layers(const st_file *f, const char *tower) {
    char n[128];
    int l = 0;
    for (;; l++) {
        snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.q_proj.weight", tower, l);
        if (!st_get(f, n)) return l;
    }
}

clipc_status keymap_hf_shapes(const st_file *f, const char *path, clipc_config *c) {
    clipc_status s = CLIPC_OK;
    const st_tensor *conv = need(f, path, "vision_model.embeddings.patch_embedding.weight", 4, &s);
    const st_tensor *vpos = conv ? need(f, path, "vision_model.embeddings.position_embedding.weight", 2, &s) : NULL;
    const st_tensor *vproj = vpos ? need(f, path, "visual_projection.weight", 2, &s) : NULL;
    const st_tensor *tproj = vproj ? need(f, path, "text_projection.weight", 2, &s) : NULL;
    const st_tensor *tpos = tproj ? need(f, path, "text_model.embeddings.position_embedding.weight", 2, &s) : NULL;
    const st_tensor *tok = tpos ? need(f, path, "text_model.embeddings.token_embedding.weight", 2, &s) : NULL;
    if (!tok) return s;
    c->vision_width = (int)conv->shape[0];
    c->vision_patch_size = (int)conv->shape[3];
    long tokens = (long)vpos->shape[0] - 1, grid = 0;
    while (grid <= 4096 && grid * grid < tokens) grid++;
    if (tokens <= 0 || grid * grid != tokens || conv->shape[3] > 4096)
        return clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face CLIPModel layout): tensor "
                           "'vision_model.embeddings.position_embedding.weight' has %lld rows, not a square grid + 1",
                           path, (long long)vpos->shape[0]);
    c->image_resolution = (int)(grid * c->vision_patch_size);
    c->vision_layers = count_layers(f, "vision_model");
    c->embed_dim = (int)tproj->shape[0];
    c->transformer_width = (int)tproj->shape[1];
    c->context_length = (int)tpos->shape[0];
    c->vocab_size = (int)tok->shape[0];
    c->transformer_layers = count_layers(f, "text_model");
    return CLIPC_OK;
}

/* Element i of a F32/F16/BF16 tensor as a float. */
static float elem(const st_tensor *t, size_t i) {
    if (t->dtype == ST_F16) return half_to_f32(((const uint16_t *)t->data)[i]);
    if (t->dtype == ST_BF16) return bf16_to_f32(((const uint16_t *)t->data)[i]);
    return ((const float *)t->data)[i];
}

/* The tensor hf, checked against the shape it must have (d0, d1; ndim). */
static const st_tensor *source(const st_file *f, const char *path, const char *hf, int ndim, const int *shape,
                               clipc_status *s) {
    const st_tensor *t = st_get(f, hf);
    if (!t) {
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face CLIPModel layout): tensor '%s' is missing", path, hf);
        return NULL;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        *s = clipc_error(CLIPC_ERR_UNSUPPORTED, "%s (Hugging Face CLIPModel layout): tensor '%s' is %s; "
                         "F32, F16 and BF16 are supported", path, hf, st_dtype_name(t->dtype));
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char want[64] = "", got[64] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? ", " : "", shape[d]);
        for (int d = 0; d < t->ndim && d < ST_MAX_DIMS; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face CLIPModel layout): tensor '%s' has shape [%s], "
                         "expected [%s]", path, hf, got, want);
        return NULL;
    }
    return t;
}

/* One OpenAI parameter p into out (p->numel floats). */
static clipc_status gather_one(const st_file *f, const char *path, const param_info *p, float *out) {
    char hf[3][96];
    int op = keymap_hf_name(p->name, hf);
    if (op < 0) return clipc_error(CLIPC_ERR_INVALID, "%s: no Hugging Face name for '%s'", path, p->name);
    clipc_status s = CLIPC_OK;
    if (op == KM_COPY) {
        const st_tensor *t = source(f, path, hf[0], p->ndim, p->shape, &s);
        for (size_t i = 0; t && i < p->numel; i++) out[i] = elem(t, i);
    } else if (op == KM_TRANSPOSE) {
        int rows = p->shape[0], cols = p->shape[1], shape[2] = {cols, rows};
        const st_tensor *t = source(f, path, hf[0], 2, shape, &s);
        for (int r = 0; t && r < rows; r++)
            for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = elem(t, (size_t)c * rows + r);
    } else {
        int shape[2] = {p->shape[0] / 3, p->ndim == 2 ? p->shape[1] : 0};
        size_t part = p->numel / 3;
        for (int j = 0; j < 3 && !s; j++) {
            const st_tensor *t = source(f, path, hf[j], p->ndim, shape, &s);
            for (size_t i = 0; t && i < part; i++) out[j * part + i] = elem(t, i);
        }
    }
    return s;
}

clipc_status keymap_hf_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                              const clipc_load_opts *opts) {
    for (int i = 0; i < tab->n; i++) {
        const param_info *p = &tab->p[i];
        clipc_status s = gather_one(f, path, p, dst + p->offset);
        if (s) return s;
        size_t bad = model_count_nonfinite(dst + p->offset, p->numel);
        if (!bad) continue;
        if (!(opts && opts->allow_nonfinite))
            return clipc_error(CLIPC_ERR_FORMAT,
                               "%s: tensor '%s' holds %zu non-finite values (nan/inf); refusing to load "
                               "(--allow-nonfinite to load it anyway, for forensics)", path, p->name, bad);
        warnf(opts->warn, opts->warn_ud, "%s: tensor '%s' holds %zu non-finite values (nan/inf); loaded anyway "
              "(--allow-nonfinite): its outputs may be nan", path, p->name, bad);
    }
    /* Each q/k/v triple is 3 file tensors for 1 parameter; position_ids are buffers. */
    int used = 0;
    for (int i = 0; i < tab->n; i++) {
        char hf[3][96];
        used += keymap_hf_name(tab->p[i].name, hf) == KM_QKV ? 3 : 1;
    }
    used += st_get(f, "text_model.embeddings.position_ids") != NULL;
    used += st_get(f, "vision_model.embeddings.position_ids") != NULL;
    if (f->n_tensors > used)
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL,
              "%s: %d tensor(s) not used by the model were ignored", path, f->n_tensors - used);
    return CLIPC_OK;
}
