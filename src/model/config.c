/*
 * config.c — model shapes: the named configs and their validation.
 *
 * tiny/small/seed-b16/b32 have exactly the shapes of CONFIGS in the PyTorch
 * peer (shared/bench/torch_clip.py) so benchmarks compare like with like;
 * ViT-B-32/ViT-B-16/ViT-L-14 are OpenAI's released shapes.
 */
#include <cJSON.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"

typedef struct {
    const char *name;
    clipc_config cfg;
} named_config;

/* Field order: embed, res, v_layers, v_width, patch, v_heads, ctx, vocab,
 * t_width, t_heads, t_layers, act. */
static const named_config configs[] = {
    {"tiny", {128, 32, 4, 128, 8, 2, 32, 49408, 128, 2, 3, CLIPC_ACT_QUICKGELU}},
    /* The emoji demo's shape, as shared/bench/torch_train.py's "emoji": tiny
     * with 3 + 3 layers and 4 heads. */
    {"emoji", {128, 32, 3, 128, 8, 4, 32, 49408, 128, 4, 3, CLIPC_ACT_QUICKGELU}},
    {"small", {256, 64, 6, 256, 8, 4, 32, 49408, 256, 4, 4, CLIPC_ACT_QUICKGELU}},
    /* The seed model card: ViT-B/16 image tower, 8-layer text tower. */
    {"seed-b16", {512, 224, 12, 768, 16, 12, 77, 49408, 512, 8, 8, CLIPC_ACT_QUICKGELU}},
    /* The peer's b32 uses OpenAI's ViT-B/32 shapes, 12-layer text tower. */
    {"b32", {512, 224, 12, 768, 32, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU}},
    {"ViT-B-32", {512, 224, 12, 768, 32, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU}},
    {"ViT-B-16", {512, 224, 12, 768, 16, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU}},
    {"ViT-L-14", {768, 224, 24, 1024, 14, 16, 77, 49408, 768, 12, 12, CLIPC_ACT_QUICKGELU}},
};

const char *clipc_config_names(void) { return "tiny emoji small seed-b16 b32 ViT-B-32 ViT-B-16 ViT-L-14"; }

clipc_status clipc_config_named(const char *name, clipc_config *cfg) {
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        if (!strcmp(name, configs[i].name)) {
            *cfg = configs[i].cfg;
            return CLIPC_OK;
        }
    return clipc_error(CLIPC_ERR_INVALID, "unknown config '%s' (known: %s)", name, clipc_config_names());
}

clipc_status clipc_config_validate(const clipc_config *c) {
    const struct { const char *name; int v, max; } f[] = {
        {"embed_dim", c->embed_dim, 1 << 16},
        {"image_resolution", c->image_resolution, 4096},
        {"vision_layers", c->vision_layers, 256},
        {"vision_width", c->vision_width, 1 << 15},
        {"vision_patch_size", c->vision_patch_size, 4096},
        {"vision_heads", c->vision_heads, 1024},
        {"context_length", c->context_length, 1 << 14},
        {"vocab_size", c->vocab_size, 1 << 24},
        {"transformer_width", c->transformer_width, 1 << 15},
        {"transformer_heads", c->transformer_heads, 1024},
        {"transformer_layers", c->transformer_layers, 256},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v <= 0 || f[i].v > f[i].max)
            return clipc_error(CLIPC_ERR_INVALID, "config: %s = %d is out of range [1, %d]", f[i].name,
                               f[i].v, f[i].max);
    if (c->vision_width % c->vision_heads)
        return clipc_error(CLIPC_ERR_INVALID, "config: vision_width %d is not divisible by vision_heads %d",
                           c->vision_width, c->vision_heads);
    if (c->transformer_width % c->transformer_heads)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: transformer_width %d is not divisible by transformer_heads %d",
                           c->transformer_width, c->transformer_heads);
    if (c->image_resolution % c->vision_patch_size)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: image_resolution %d is not divisible by vision_patch_size %d",
                           c->image_resolution, c->vision_patch_size);
    if (c->act != CLIPC_ACT_QUICKGELU && c->act != CLIPC_ACT_GELU)
        return clipc_error(CLIPC_ERR_INVALID, "config: unknown activation %d", (int)c->act);
    return CLIPC_OK;
}

char *clipc_config_json(const clipc_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "embed_dim", c->embed_dim);
    cJSON_AddNumberToObject(o, "image_resolution", c->image_resolution);
    cJSON_AddNumberToObject(o, "vision_layers", c->vision_layers);
    cJSON_AddNumberToObject(o, "vision_width", c->vision_width);
    cJSON_AddNumberToObject(o, "vision_patch_size", c->vision_patch_size);
    cJSON_AddNumberToObject(o, "vision_heads", c->vision_heads);
    cJSON_AddNumberToObject(o, "context_length", c->context_length);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "transformer_width", c->transformer_width);
    cJSON_AddNumberToObject(o, "transformer_heads", c->transformer_heads);
    cJSON_AddNumberToObject(o, "transformer_layers", c->transformer_layers);
    cJSON_AddStringToObject(o, "act", c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
