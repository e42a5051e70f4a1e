/*
 * config_file.c — the config of a model file: its safetensors metadata, then
 * a config.json beside it, then the caller's overrides, then what the tensor
 * shapes imply (OpenAI's width/64 rule for heads, with a warning).
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

/* Heads from a config.json in the same directory as the model, if any. */
static void heads_from_config_json(const char *path, int *vh, int *th) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *p = malloc(dl + 16);
    if (!p) return;
    memcpy(p, path, dl);
    strcpy(p + dl, "config.json");
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(p, &data, &len);
    free(p);
    if (s) {
        clipc_error_clear();
        return;
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    free(data);
    if (!j) return;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "transformer_heads");
    if (cJSON_IsNumber(t) && t->valuedouble >= 1 && t->valuedouble < 1e6) *th = (int)t->valuedouble;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vision_heads");
    cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "derived");
    if (!cJSON_IsNumber(v) && d) v = cJSON_GetObjectItemCaseSensitive(d, "vision_heads");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e6) *vh = (int)v->valuedouble;
    cJSON_Delete(j);
}


clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *c) {
    memset(c, 0, sizeof *c);
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
    c->act = CLIPC_ACT_QUICKGELU;
    const char *act = st_meta(f, "act");
    if (act && (strstr(act, "gelu") && !strstr(act, "quick"))) c->act = CLIPC_ACT_GELU;
    /* Metadata, where present, must agree with the tensors. */
    struct { const char *key; int *field; } chk[] = {
        {"embed_dim", &c->embed_dim},           {"image_resolution", &c->image_resolution},
        {"vision_layers", &c->vision_layers},   {"vision_width", &c->vision_width},
        {"vision_patch_size", &c->vision_patch_size}, {"context_length", &c->context_length},
        {"vocab_size", &c->vocab_size},         {"transformer_width", &c->transformer_width},
        {"transformer_layers", &c->transformer_layers},
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++) {
        int v;
        if (meta_int(f, chk[i].key, &v, NULL) && v != *chk[i].field)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says %s = %d but the tensors say %d", path,
                               chk[i].key, v, *chk[i].field);
    }
    /* Heads are not in the weights: metadata, config.json, options, then OpenAI's rule. */
    int vh = 0, th = 0;
    if (rn) vh = c->vision_heads; /* derived (config_resnet.c) */
    else if ((s = meta_heads(f, path, "vision_heads", c->vision_width, &vh))) return s;
    if ((s = meta_heads(f, path, "transformer_heads", c->transformer_width, &th))) return s;
    if (!vh || !th) {
        int cvh = 0, cth = 0;
        heads_from_config_json(path, &cvh, &cth);
        if (!vh) vh = cvh;
        if (!th) th = cth;
    }
    if (!vh && opts) vh = opts->vision_heads;
    if (!th && opts) th = opts->text_heads;
    if (!vh) {
        vh = c->vision_width / 64 > 0 ? c->vision_width / 64 : 1;
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL, "%s: vision heads not recorded; using OpenAI's width/64 rule: %d (override with --vision-heads)",
              path, vh);
    }
    if (!th) {
        th = c->transformer_width / 64 > 0 ? c->transformer_width / 64 : 1;
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL, "%s: text heads not recorded; using OpenAI's width/64 rule: %d (override with --text-heads)",
              path, th);
    }
    c->vision_heads = vh;
    c->transformer_heads = th;
    s = clipc_config_validate(c);
    if (s) clipc_error_prefix("%s", path);
    return s;
}
