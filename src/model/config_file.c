/*
 * config_file.c — the config of a model file.  Shapes come from the tensors
 * (OpenAI's names, or Hugging Face's: keymap.c); the head counts and the
 * activation, which no tensor shows, from the safetensors metadata, then the
 * config file beside the model (config_side.c), then the caller's options,
 * then the shapes: OpenAI's width/64 rule for heads, and QuickGELU only for
 * OpenAI's exact released shapes, each said once through the warn callback.
 * An activation found nowhere is an error: guessing QuickGELU silently gave
 * every LAION (GELU) model wrong embeddings.  Where each value came from is
 * recorded for `clipc info`.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/config_file.h"
#include "model/config_resnet.h"
#include "model/config_side.h"
#include "model/config_tutorial.h"
#include "model/keymap.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/safetensors.h"

/* Metadata values are JSON-encoded strings ("64", "null", "[2, 1, 1, 1]"). */
static int meta_int(const st_file *f, const char *key, int *out, int *is_list) {
    const char *v = st_meta(f, key);
    if (!v) return 0;
    cJSON *j = cJSON_Parse(v);
    int ok = 0;
    if (j && cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) && j->valuedouble > 0 &&
        j->valuedouble < 1e9) {
        *out = (int)j->valuedouble;
        ok = 1;
    } else if (j && cJSON_IsArray(j) && is_list) {
        *is_list = 1;
    }
    cJSON_Delete(j);
    return ok;
}

/* A recorded head count (metadata `key`): 0 when absent or null, else it
 * must be a positive integer that divides `width`. */
static clipc_status meta_heads(const st_file *f, const char *path, const char *key, int width, int *out) {
    const char *v = st_meta(f, key);
    *out = 0;
    if (!v) return CLIPC_OK;
    cJSON *j = cJSON_Parse(v);
    int null = j && cJSON_IsNull(j);
    double d = j && cJSON_IsNumber(j) ? j->valuedouble : 0;
    cJSON_Delete(j);
    if (null) return CLIPC_OK;
    if (d >= 1 && d <= width && d == floor(d) && width % (int)d == 0) {
        *out = (int)d;
        return CLIPC_OK;
    }
    return clipc_error(CLIPC_ERR_FORMAT,
                       "%s: metadata %s '%.40s' is not a valid head count for width %d (a positive integer "
                       "dividing it); fix the file's metadata",
                       path, key, v, width);
}

static const st_tensor *need(const st_file *f, const char *name, int ndim, clipc_status *s) {
    const st_tensor *t = st_get(f, name);
    if (!t) {
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing (not an OpenAI CLIP ViT state dict?)",
                         f->path, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", f->path, name,
                         t->ndim, ndim);
        return NULL;
    }
    return t;
}

static int count_blocks(const st_file *f, const char *prefix) {
    char n[128];
    int l = 0;
    for (;; l++) {
        snprintf(n, sizeof n, "%sresblocks.%d.attn.in_proj_weight", prefix, l);
        if (!st_get(f, n)) break;
    }
    return l;
}

/* OpenAI's released ViT shapes (embed, res, v_layers, v_width, patch, ctx,
 * vocab, t_width, t_layers): ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px.
 * Only these may be taken for QuickGELU without a record. */
static const struct { const char *name; int v[9]; } released[] = {
    {"ViT-B/32", {512, 224, 12, 768, 32, 77, 49408, 512, 12}},
    {"ViT-B/16", {512, 224, 12, 768, 16, 77, 49408, 512, 12}},
    {"ViT-L/14", {768, 224, 24, 1024, 14, 77, 49408, 768, 12}},
    {"ViT-L/14@336px", {768, 336, 24, 1024, 14, 77, 49408, 768, 12}},
};

/* OpenAI's released ModifiedResNet models, by their named configs
 * (config.c): the vision blocks, width, resolution and the text tower. */
static const char *const released_rn[] = {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"};

static const char *openai_released(const clipc_config *c) {
    if (c->vision_arch == CLIPC_VISION_RESNET) {
        for (size_t i = 0; i < sizeof released_rn / sizeof released_rn[0]; i++) {
            clipc_config r;
            if (clipc_config_named(released_rn[i], &r)) continue;
            if (!memcmp(r.vision_blocks, c->vision_blocks, sizeof r.vision_blocks) &&
                r.vision_width == c->vision_width && r.image_resolution == c->image_resolution &&
                r.embed_dim == c->embed_dim && r.transformer_width == c->transformer_width &&
                r.transformer_layers == c->transformer_layers && r.context_length == c->context_length &&
                r.vocab_size == c->vocab_size)
                return released_rn[i];
        }
        return NULL;
    }
    int v[9] = {c->embed_dim, c->image_resolution, c->vision_layers, c->vision_width, c->vision_patch_size,
                c->context_length, c->vocab_size, c->transformer_width, c->transformer_layers};
    for (size_t i = 0; i < sizeof released / sizeof released[0]; i++)
        if (!memcmp(v, released[i].v, sizeof v)) return released[i].name;
    return NULL;
}

/* Shapes from OpenAI-named tensors. */
static clipc_status openai_shapes(const st_file *f, const char *path, clipc_config *c) {
    clipc_status s = CLIPC_OK;
    /* ModifiedResNet (RN50 ...): its vision fields come from config_resnet.c. */
    int rn = config_file_is_resnet(f);
    if (rn && (s = config_resnet_vision(f, path, c))) return s;
    /* Shapes from the tensors: authoritative, the metadata must agree. */
    const st_tensor *conv = rn ? NULL : need(f, "visual.conv1.weight", 4, &s);
    const st_tensor *vpos = conv ? need(f, "visual.positional_embedding", 2, &s) : NULL;
    const st_tensor *tproj = vpos || rn ? need(f, "text_projection", 2, &s) : NULL;
    const st_tensor *tpos = tproj ? need(f, "positional_embedding", 2, &s) : NULL;
    const st_tensor *tok = tpos ? need(f, "token_embedding.weight", 2, &s) : NULL;
    if (!tok) return s;
    if (rn) goto text;
    c->vision_width = (int)conv->shape[0];
    c->vision_patch_size = (int)conv->shape[3];
    long tokens = (long)vpos->shape[0] - 1;
    long grid = lround(sqrt((double)(tokens > 0 ? tokens : 0)));
    if (tokens <= 0 || grid * grid != tokens || grid > 4096 || conv->shape[3] > 4096)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor 'visual.positional_embedding' has %lld rows, not a square grid + 1",
                           path, (long long)vpos->shape[0]);
    c->image_resolution = (int)(grid * c->vision_patch_size);
    c->vision_layers = count_blocks(f, "visual.transformer.");
text:
    c->embed_dim = (int)tproj->shape[1];
    c->transformer_width = (int)tproj->shape[0];
    c->context_length = (int)tpos->shape[0];
    c->vocab_size = (int)tok->shape[0];
    c->transformer_layers = count_blocks(f, "transformer.");
    return CLIPC_OK;
}

/* Metadata, where present, must agree with the tensors. */
static clipc_status check_metadata(const st_file *f, const char *path, const clipc_config *c) {
    struct { const char *key; int field; } chk[] = {
        {"embed_dim", c->embed_dim},           {"image_resolution", c->image_resolution},
        {"vision_layers", c->vision_layers},   {"vision_width", c->vision_width},
        {"vision_patch_size", c->vision_patch_size}, {"context_length", c->context_length},
        {"vocab_size", c->vocab_size},         {"transformer_width", c->transformer_width},
        {"transformer_layers", c->transformer_layers},
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++) {
        int v;
        if (meta_int(f, chk[i].key, &v, NULL) && v != chk[i].field)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says %s = %d but the tensors say %d", path,
                               chk[i].key, v, chk[i].field);
    }
    return CLIPC_OK;
}

/* The activation the metadata records: -1 none, else a clipc_act.  OpenAI's
 * CLIP code has only QuickGELU, so `model: openai-clip` records it too. */
static clipc_status meta_act(const st_file *f, const char *path, int *act) {
    *act = -1;
    const char *v = st_meta(f, "act"), *model = st_meta(f, "model");
    if (!v) {
        if (model && !strcmp(model, "openai-clip")) *act = CLIPC_ACT_QUICKGELU;
        return CLIPC_OK;
    }
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2; /* a JSON-encoded string */
    if ((n == 4 && !strncmp(v, "gelu", 4))) *act = CLIPC_ACT_GELU;
    else if ((n == 9 && !strncmp(v, "quickgelu", 9)) || (n == 10 && !strncmp(v, "quick_gelu", 10)))
        *act = CLIPC_ACT_QUICKGELU;
    else
        return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata act '%.40s' is not quickgelu or gelu", path,
                           st_meta(f, "act"));
    return CLIPC_OK;
}

static const char *act_name(int a) { return a == CLIPC_ACT_GELU ? "gelu" : "quickgelu"; }

static clipc_status pick_act(const st_file *f, const char *path, const clipc_load_opts *opts,
                             const side_config *sc, clipc_config *c, clipc_model_origins *o) {
    void (*warn)(const char *, void *) = opts ? opts->warn : NULL;
    void *ud = opts ? opts->warn_ud : NULL;
    int act;
    clipc_status s = meta_act(f, path, &act);
    if (s) return s;
    o->act = CLIPC_FROM_METADATA;
    if (act < 0) act = sc->act, o->act = sc->from;
    if (act >= 0) {
        if (opts && opts->act_given && (int)opts->act != act)
            warnf(warn, ud, "%s: --act %s ignored: the file's %s says %s", path, act_name(opts->act),
                  clipc_origin_name(o->act), act_name(act));
        c->act = (clipc_act)act;
        return CLIPC_OK;
    }
    if (opts && opts->act_given) {
        c->act = opts->act;
        o->act = CLIPC_FROM_OPTION;
        return CLIPC_OK;
    }
    const char *rel = openai_released(c);
    if (rel) {
        c->act = CLIPC_ACT_QUICKGELU;
        o->act = CLIPC_FROM_SHAPES;
        warnf(warn, ud, "%s: activation not recorded; the shapes are OpenAI's %s, so QuickGELU "
              "(pass --act gelu for a GELU model such as LAION's open_clip ones)", path, rel);
        return CLIPC_OK;
    }
    return clipc_error(CLIPC_ERR_INVALID, "%s: the activation is not recorded (no metadata, config.json or "
                       "open_clip_config.json) and the shapes are not one of OpenAI's released models; pass "
                       "--act quickgelu|gelu (OpenAI's models: quickgelu; LAION's open_clip models: gelu)", path);
}

/* Heads: metadata, side config, option, then OpenAI's width/64 rule. */
static int pick_heads(int meta, const side_config *sc, int side, int opt, int width, clipc_origin *from,
                      const char *path, const char *which, const char *flag, const clipc_load_opts *opts) {
    if (meta) return *from = CLIPC_FROM_METADATA, meta;
    if (side) return *from = sc->from, side;
    if (opt) return *from = CLIPC_FROM_OPTION, opt;
    int h = width / 64 > 0 ? width / 64 : 1;
    *from = CLIPC_FROM_SHAPES;
    warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL,
          "%s: %s heads not recorded; using OpenAI's width/64 rule: %d (override with %s)", path, which, h, flag);
    return h;
}

clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *c, clipc_model_origins *o) {
    memset(c, 0, sizeof *c);
    memset(o, 0, sizeof *o);
    if (config_tutorial_detect(f)) return config_tutorial_from_file(f, path, opts, c, o); /* seed 002's family */
    int hf = keymap_is_hf(f);
    clipc_status s = hf ? keymap_hf_shapes(f, path, c) : openai_shapes(f, path, c);
    if (!s) s = check_metadata(f, path, c);
    if (s) return s;
    const char *model = st_meta(f, "model");
    o->layout = hf ? CLIPC_LAYOUT_HF
                   : model && !strcmp(model, "clipc") ? CLIPC_LAYOUT_CLIPC
                   : side_has_open_clip_config(path) ? CLIPC_LAYOUT_OPEN_CLIP : CLIPC_LAYOUT_OPENAI;
    side_config sc;
    if ((s = side_config_read(path, hf, c, &sc))) return s;
    int vh = 0, th = 0;
    int rn = !hf && config_file_is_resnet(f);
    if (rn) vh = c->vision_heads; /* derived from the width (config_resnet.c) */
    else if ((s = meta_heads(f, path, "vision_heads", c->vision_width, &vh))) return s;
    if ((s = meta_heads(f, path, "transformer_heads", c->transformer_width, &th))) return s;
    c->vision_heads = pick_heads(vh, &sc, sc.vision_heads, opts ? opts->vision_heads : 0, c->vision_width,
                                 &o->vision_heads, path, "vision", "--vision-heads", opts);
    if (rn) o->vision_heads = CLIPC_FROM_SHAPES;
    c->transformer_heads = pick_heads(th, &sc, sc.text_heads, opts ? opts->text_heads : 0, c->transformer_width,
                                      &o->text_heads, path, "text", "--text-heads", opts);
    if ((s = pick_act(f, path, opts, &sc, c, o))) return s;
    s = clipc_config_validate(c);
    if (s) clipc_error_prefix("%s", path);
    return s;
}
