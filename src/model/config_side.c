/*
 * config_side.c — the config file beside a model file.
 *
 * Three kinds, read with cJSON:
 *   - Hugging Face config.json (transformers' CLIPConfig): `text_config` and
 *     `vision_config` with hidden_size, num_attention_heads,
 *     num_hidden_layers, intermediate_size, hidden_act, layer_norm_eps,
 *     max_position_embeddings, vocab_size, patch_size, image_size, and a
 *     top-level projection_dim.  A field left out means transformers'
 *     default (CLIPTextConfig / CLIPVisionConfig), as transformers would run
 *     the file.
 *   - open_clip_config.json (open_clip's hub files): `model_cfg` with
 *     embed_dim, quick_gelu (default false: GELU), vision_cfg {layers, width,
 *     head_width (64), patch_size, image_size, mlp_ratio}, text_cfg
 *     {context_length, vocab_size, width, heads (8), layers}.  Defaults are
 *     open_clip's CLIPVisionCfg / CLIPTextCfg.
 *   - clipc's config.json (a training run): transformer_heads, vision_heads
 *     (or derived.vision_heads), act.
 * The tensors are authoritative for shapes: a config that disagrees is an
 * error naming both, since a file beside the weights that describes another
 * model means the wrong pair of files.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config_side.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

/* path's directory + name (malloc'ed). */
static char *beside(const char *path, const char *name) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *p = malloc(dl + strlen(name) + 1);
    if (!p) return NULL;
    memcpy(p, path, dl);
    strcpy(p + dl, name);
    return p;
}

/* Parses the JSON file `name` beside path: NULL when absent (no error);
 * *s set when present but unreadable or not JSON. */
static cJSON *read_json(const char *path, const char *name, char **where, clipc_status *s) {
    *where = beside(path, name);
    if (!*where) {
        *s = CLIPC_ERR_NOMEM;
        return NULL;
    }
    char *data;
    size_t len;
    if (clipc_read_file(*where, &data, &len)) {
        clipc_error_clear();
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    free(data);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: not a JSON object", *where);
        return NULL;
    }
    return j;
}

int side_has_open_clip_config(const char *path) {
    char *p = beside(path, "open_clip_config.json");
    char *data;
    size_t len;
    int ok = p && !clipc_read_file(p, &data, &len);
    if (ok) free(data);
    else clipc_error_clear();
    free(p);
    return ok;
}

/* o[key] as a number, or def when absent; -1 when present but not a number. */
static double num(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return def;
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A config value that must equal what the tensors say. */
static clipc_status agree(const char *where, const char *key, double v, int tensors) {
    if (v == tensors) return CLIPC_OK;
    return clipc_error(CLIPC_ERR_FORMAT, "%s: %s = %g but the model's tensors say %d (a config of another model?)",
                       where, key, v, tensors);
}

/* Heads: a positive integer dividing width. */
static clipc_status heads_ok(const char *where, const char *key, double h, int width, int *out) {
    if (h >= 1 && h == floor(h) && h <= width && width % (int)h == 0) {
        *out = (int)h;
        return CLIPC_OK;
    }
    return clipc_error(CLIPC_ERR_FORMAT, "%s: %s = %g is not a head count for width %d", where, key, h, width);
}

/* One tower of a Hugging Face config (text: is_text). */
static clipc_status hf_tower(const char *where, const cJSON *t, int is_text, const clipc_config *c, int *heads,
                             int *act) {
    const char *pre = is_text ? "text_config." : "vision_config.";
    char k[64];
    int width = is_text ? c->transformer_width : c->vision_width;
    clipc_status s;
#define AGREE(key, def, val)                                                   \
    snprintf(k, sizeof k, "%s%s", pre, key);                                   \
    if ((s = agree(where, k, num(t, key, def), val))) return s
    AGREE("hidden_size", is_text ? 512 : 768, width);
    AGREE("num_hidden_layers", 12, is_text ? c->transformer_layers : c->vision_layers);
    AGREE("intermediate_size", is_text ? 2048 : 3072, 4 * width);
    if (is_text) {
        AGREE("max_position_embeddings", 77, c->context_length);
        AGREE("vocab_size", 49408, c->vocab_size);
    } else {
        AGREE("patch_size", 32, c->vision_patch_size);
        AGREE("image_size", 224, c->image_resolution);
    }
#undef AGREE
    double eps = num(t, "layer_norm_eps", 1e-5);
    if (fabs(eps - 1e-5) > 1e-12)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: %slayer_norm_eps = %g; clipc's layer norms use 1e-5 only",
                           where, pre, eps);
    snprintf(k, sizeof k, "%snum_attention_heads", pre);
    if ((s = heads_ok(where, k, num(t, "num_attention_heads", is_text ? 8 : 12), width, heads))) return s;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "hidden_act");
    const char *an = a ? (cJSON_IsString(a) ? a->valuestring : "(not a string)") : "quick_gelu";
    if (!strcmp(an, "quick_gelu")) *act = CLIPC_ACT_QUICKGELU;
    else if (!strcmp(an, "gelu")) *act = CLIPC_ACT_GELU;
    else
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: %shidden_act = '%s'; clipc runs \"quick_gelu\" and "
                           "\"gelu\" (exact erf GELU) only", where, pre, an);
    return CLIPC_OK;
}

static clipc_status read_hf(const char *where, const cJSON *j, const clipc_config *c, side_config *o) {
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(j, "vision_config");
    if (!cJSON_IsObject(tc) || !cJSON_IsObject(vc))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: not a Hugging Face CLIPModel config (no text_config and "
                           "vision_config objects)", where);
    clipc_status s = agree(where, "projection_dim", num(j, "projection_dim", 512), c->embed_dim);
    int ta = 0, va = 0;
    if (!s) s = hf_tower(where, tc, 1, c, &o->text_heads, &ta);
    if (!s) s = hf_tower(where, vc, 0, c, &o->vision_heads, &va);
    if (s) return s;
    if (ta != va)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: the towers use different activations (text %s, vision %s); "
                           "clipc uses one for both", where, ta ? "gelu" : "quick_gelu", va ? "gelu" : "quick_gelu");
    o->act = ta;
    o->from = CLIPC_FROM_CONFIG_JSON;
    return CLIPC_OK;
}

/* An open_clip option clipc's towers do not have. */
static clipc_status oc_unsupported(const char *where, const cJSON *cfg, const char *tower) {
    static const char *const keys[] = {"timm_model_name", "hf_model_name", "ls_init_value", "attentional_pool",
                                       "no_ln_pre", "proj_bias", "final_ln_after_pool", "output_tokens"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v))
            return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: %s.%s is set; clipc runs open_clip's plain "
                               "VisionTransformer / TextTransformer only", where, tower, keys[i]);
    }
    if (num(cfg, "mlp_ratio", 4.0) != 4.0)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: %s.mlp_ratio = %g; clipc's MLPs are 4x wide", where, tower,
                           num(cfg, "mlp_ratio", 4.0));
    return CLIPC_OK;
}

static clipc_status read_open_clip(const char *where, const cJSON *j, const clipc_config *c, side_config *o) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model_cfg");
    if (!m) m = j;
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(m, "vision_cfg");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "text_cfg");
    if (!cJSON_IsObject(vc) || !cJSON_IsObject(tc))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: no model_cfg.vision_cfg / text_cfg objects", where);
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(vc, "layers")))
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: vision_cfg.layers is a list (a ModifiedResNet); not "
                           "supported yet", where);
    clipc_status s;
    if ((s = oc_unsupported(where, vc, "vision_cfg")) || (s = oc_unsupported(where, tc, "text_cfg"))) return s;
    if ((s = agree(where, "embed_dim", num(m, "embed_dim", c->embed_dim), c->embed_dim)) ||
        (s = agree(where, "vision_cfg.layers", num(vc, "layers", 12), c->vision_layers)) ||
        (s = agree(where, "vision_cfg.width", num(vc, "width", 768), c->vision_width)) ||
        (s = agree(where, "vision_cfg.patch_size", num(vc, "patch_size", 16), c->vision_patch_size)) ||
        (s = agree(where, "vision_cfg.image_size", num(vc, "image_size", 224), c->image_resolution)) ||
        (s = agree(where, "text_cfg.context_length", num(tc, "context_length", 77), c->context_length)) ||
        (s = agree(where, "text_cfg.vocab_size", num(tc, "vocab_size", 49408), c->vocab_size)) ||
        (s = agree(where, "text_cfg.width", num(tc, "width", 512), c->transformer_width)) ||
        (s = agree(where, "text_cfg.layers", num(tc, "layers", 12), c->transformer_layers)))
        return s;
    double hw = num(vc, "head_width", 64);
    if (hw < 1 || hw != floor(hw) || c->vision_width % (int)hw)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: vision_cfg.head_width = %g does not divide width %d", where, hw,
                           c->vision_width);
    if ((s = heads_ok(where, "vision_cfg.width / head_width", c->vision_width / hw, c->vision_width,
                      &o->vision_heads)) ||
        (s = heads_ok(where, "text_cfg.heads", num(tc, "heads", 8), c->transformer_width, &o->text_heads)))
        return s;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(m, "quick_gelu");
    if (q && !cJSON_IsBool(q)) return clipc_error(CLIPC_ERR_FORMAT, "%s: quick_gelu is not true or false", where);
    o->act = q && cJSON_IsTrue(q) ? CLIPC_ACT_QUICKGELU : CLIPC_ACT_GELU;
    o->from = CLIPC_FROM_OPEN_CLIP_CONFIG;
    return CLIPC_OK;
}

/* clipc's own config.json: what it says, unchecked beyond head validity. */
static clipc_status read_clipc(const char *where, const cJSON *j, const clipc_config *c, side_config *o) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "derived");
    double th = num(j, "transformer_heads", 0), vh = num(j, "vision_heads", 0);
    if (vh == 0 && d) vh = num(d, "vision_heads", 0);
    clipc_status s;
    if (th && (s = heads_ok(where, "transformer_heads", th, c->transformer_width, &o->text_heads))) return s;
    if (vh && (s = heads_ok(where, "vision_heads", vh, c->vision_width, &o->vision_heads))) return s;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "act");
    if (cJSON_IsString(a)) {
        if (!strcmp(a->valuestring, "gelu")) o->act = CLIPC_ACT_GELU;
        else if (!strcmp(a->valuestring, "quickgelu")) o->act = CLIPC_ACT_QUICKGELU;
        else return clipc_error(CLIPC_ERR_FORMAT, "%s: act = '%s' (expected quickgelu or gelu)", where, a->valuestring);
    }
    if (o->text_heads || o->vision_heads || o->act >= 0) o->from = CLIPC_FROM_CONFIG_JSON;
    return CLIPC_OK;
}

clipc_status side_config_read(const char *path, int hf, const clipc_config *shapes, side_config *o) {
    memset(o, 0, sizeof *o);
    o->act = -1;
    clipc_status s = CLIPC_OK;
    char *where = NULL;
    cJSON *j = NULL;
    if (!hf) j = read_json(path, "open_clip_config.json", &where, &s);
    if (j) {
        s = read_open_clip(where, j, shapes, o);
    } else if (!s) {
        free(where);
        j = read_json(path, "config.json", &where, &s);
        int hf_style = j && cJSON_GetObjectItemCaseSensitive(j, "text_config");
        if (j && hf) s = read_hf(where, j, shapes, o);
        else if (j && !hf_style) s = read_clipc(where, j, shapes, o);
    }
    cJSON_Delete(j);
    free(where);
    return s;
}
