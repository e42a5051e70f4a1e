/*
 * config_tutorial.c — the config of a tutorial-model file (seed 002's
 * CLIPModel: a timm/torchvision ResNet, DistilBERT, projection heads).
 *
 * Every shape the tensors show comes from them: the stem width and the
 * blocks per stage (image_encoder.model.conv1 / layerN.K), DistilBERT's
 * vocabulary, width, positions and layers, the head kind (an fc layer means
 * the notebook's MLP head) and the shared width.  What no tensor says comes
 * from clipc's metadata (save.c) when the file is clipc's, else from the
 * tutorial's defaults: the seed's state dict records none of it, and its
 * CFG is 224 px, max_length 200, DistilBERT's 64-wide heads.  A metadata
 * value that contradicts a tensor is an error naming both.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/config_tutorial.h"
#include "clipc.h"
#include "base/error.h"
#include "formats/safetensors.h"

#define IMG "image_encoder.model."
#define TXT "text_encoder.model."

int config_tutorial_detect(const st_file *f) {
    return st_get(f, IMG "conv1.weight") || st_get(f, "image_projection.projection.weight");
}

static const st_tensor *need(const st_file *f, const char *path, const char *name, int ndim, clipc_status *s) {
    const st_tensor *t = st_get(f, name);
    if (!t)
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing (not a tutorial CLIPModel state dict?)",
                         path, name);
    else if (t->ndim != ndim)
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", path, name, t->ndim,
                         ndim);
    return *s ? NULL : t;
}

/* A positive integer metadata value, or `dflt` when absent. */
static clipc_status meta_or(const st_file *f, const char *path, const char *key, int dflt, int *out) {
    const char *v = st_meta(f, key);
    *out = dflt;
    if (!v) return CLIPC_OK;
    cJSON *j = cJSON_Parse(v);
    double d = j && cJSON_IsNumber(j) ? j->valuedouble : -1;
    cJSON_Delete(j);
    if (!(d >= 1 && d < 1e9 && d == floor(d)))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata %s '%.40s' is not a positive integer", path, key, v);
    *out = (int)d;
    return CLIPC_OK;
}

static int count(const st_file *f, const char *fmt, int a) {
    char n[160];
    int k = 0;
    for (;; k++) {
        if (a >= 0) snprintf(n, sizeof n, fmt, a, k);
        else snprintf(n, sizeof n, fmt, k);
        if (!st_get(f, n)) return k;
    }
}

clipc_status config_tutorial_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                       clipc_config *c, clipc_model_origins *o) {
    memset(c, 0, sizeof *c);
    memset(o, 0, sizeof *o);
    const char *model = st_meta(f, "model");
    o->layout = model && !strcmp(model, "clipc") ? CLIPC_LAYOUT_CLIPC : CLIPC_LAYOUT_OPENAI;
    o->act = o->vision_heads = o->text_heads = CLIPC_FROM_SHAPES;
    clipc_status s = CLIPC_OK;
    const st_tensor *conv = need(f, path, IMG "conv1.weight", 4, &s);
    const st_tensor *tok = conv ? need(f, path, TXT "embeddings.word_embeddings.weight", 2, &s) : NULL;
    const st_tensor *pos = tok ? need(f, path, TXT "embeddings.position_embeddings.weight", 2, &s) : NULL;
    const st_tensor *ip = pos ? need(f, path, "image_projection.projection.weight", 2, &s) : NULL;
    if (!ip) return s;
    c->vision_arch = CLIPC_VISION_TV_RESNET;
    c->text_arch = CLIPC_TEXT_DISTILBERT;
    c->act = CLIPC_ACT_GELU;
    c->head = st_get(f, "image_projection.fc.weight") ? CLIPC_HEAD_MLP : CLIPC_HEAD_LINEAR;
    c->vision_width = (int)conv->shape[0];
    for (int l = 0; l < 4; l++) c->vision_blocks[l] = count(f, IMG "layer%d.%d.conv1.weight", l + 1);
    c->vocab_size = (int)tok->shape[0];
    c->transformer_width = (int)tok->shape[1];
    c->text_positions = (int)pos->shape[0];
    c->transformer_layers = count(f, TXT "transformer.layer.%d.attention.q_lin.weight", -1);
    c->embed_dim = (int)ip->shape[0];
    if (ip->shape[1] != 32 * (int64_t)c->vision_width)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: image_projection.projection.weight takes %lld features but the ResNet's stem "
                           "width %d pools %d (32 x width)", path, (long long)ip->shape[1], c->vision_width,
                           32 * c->vision_width);
    int heads = c->transformer_width / 64 > 0 ? c->transformer_width / 64 : 1;
    int ctx = c->text_positions < 200 ? c->text_positions : 200;
    if ((s = meta_or(f, path, "image_resolution", 224, &c->image_resolution)) ||
        (s = meta_or(f, path, "context_length", ctx, &c->context_length)) ||
        (s = meta_or(f, path, "transformer_heads", heads, &c->transformer_heads)))
        return s;
    if (st_meta(f, "transformer_heads")) o->text_heads = CLIPC_FROM_METADATA;
    else if (opts && opts->text_heads > 0) /* --text-heads: a DistilBERT whose heads are not 64 wide */
        c->transformer_heads = opts->text_heads, o->text_heads = CLIPC_FROM_OPTION;
    int e;
    if (!(s = meta_or(f, path, "embed_dim", c->embed_dim, &e)) && e != c->embed_dim)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says embed_dim = %d but the tensors say %d", path, e,
                        c->embed_dim);
    if (!s && !(s = meta_or(f, path, "vocab_size", c->vocab_size, &e)) && e != c->vocab_size)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says vocab_size = %d but the tensors say %d", path, e,
                        c->vocab_size);
    if (!s) s = clipc_config_validate(c);
    if (s) clipc_error_prefix("%s", path);
    return s;
}
