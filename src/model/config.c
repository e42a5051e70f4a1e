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
    {"tiny", {128, 32, 4, 128, 8, 2, 32, 49408, 128, 2, 3, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* The smallest ViT CLIP (one layer a tower, 16 wide; the vocabulary
     * stays the tokenizer's): tools/crash_campaign.sh's I/O-point parts,
     * where a checkpoint's every write is tried, at a fifth of tiny's
     * points and a small fraction of its bytes. */
    {"micro", {16, 16, 1, 16, 8, 2, 32, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* The emoji demo's shape, as shared/bench/torch_train.py's "emoji": tiny
     * with 3 + 3 layers and 4 heads. */
    {"emoji", {128, 32, 3, 128, 8, 4, 32, 49408, 128, 4, 3, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"small", {256, 64, 6, 256, 8, 4, 32, 49408, 256, 4, 4, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* The seed model card: ViT-B/16 image tower, 8-layer text tower. */
    {"seed-b16", {512, 224, 12, 768, 16, 12, 77, 49408, 512, 8, 8, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* The peer's b32 uses OpenAI's ViT-B/32 shapes, 12-layer text tower. */
    {"b32", {512, 224, 12, 768, 32, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"ViT-B-32", {512, 224, 12, 768, 32, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"ViT-B-16", {512, 224, 12, 768, 16, 12, 77, 49408, 512, 8, 12, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"ViT-L-14", {768, 224, 24, 1024, 14, 16, 77, 49408, 768, 12, 12, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* OpenAI's ModifiedResNet models (clip/model.py build_model on the released
     * files): vision_layers and patch size 0, heads = width * 32 / 64, then
     * the stage depths.  Text towers as released: width = embed_dim except
     * RN50 (512), heads = width / 64, 12 layers. */
#define RN CLIPC_ACT_QUICKGELU, CLIPC_VISION_RESNET
    {"RN50", {1024, 224, 0, 64, 0, 32, 77, 49408, 512, 8, 12, RN, {3, 4, 6, 3}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"RN101", {512, 224, 0, 64, 0, 32, 77, 49408, 512, 8, 12, RN, {3, 4, 23, 3}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"RN50x4", {640, 288, 0, 80, 0, 40, 77, 49408, 640, 10, 12, RN, {4, 6, 10, 6}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"RN50x16", {768, 384, 0, 96, 0, 48, 77, 49408, 768, 12, 12, RN, {6, 8, 18, 8}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    {"RN50x64", {1024, 448, 0, 128, 0, 64, 77, 49408, 1024, 16, 12, RN, {3, 15, 36, 10}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
    /* A small ResNet for tests and demos (rn_tiny's vision shapes). */
    {"rn-tiny", {64, 64, 0, 8, 0, 4, 32, 49408, 64, 2, 2, RN, {2, 1, 1, 1}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0}},
#undef RN
    /* ---- the tutorial's model (seed 002): torchvision/timm ResNet-50 +
     * DistilBERT (uncased, 30522 WordPiece ids, 512 positions, the
     * tutorial's max_length 200) + bias-free Linear heads to 256.
     * tutorial-tiny: the same family at test widths (stem 8, one block per
     * stage: 256-d pooled features; DistilBERT 32 wide, 2 heads, 2 layers;
     * its vocab_size is replaced by the vocabulary given at init). */
#define TU CLIPC_ACT_GELU, CLIPC_VISION_TV_RESNET
    {"tutorial-rn50", {256, 224, 0, 64, 0, 0, 200, 30522, 768, 12, 6, TU, {3, 4, 6, 3}, CLIPC_TEXT_DISTILBERT, CLIPC_HEAD_LINEAR, 512}},
    {"tutorial-tiny", {32, 32, 0, 8, 0, 0, 32, 30522, 32, 2, 2, TU, {1, 1, 1, 1}, CLIPC_TEXT_DISTILBERT, CLIPC_HEAD_LINEAR, 64}},
#undef TU
};

const char *clipc_config_names(void) { return "tiny micro emoji small seed-b16 b32 ViT-B-32 ViT-B-16 ViT-L-14 RN50 RN101 RN50x4 RN50x16 RN50x64 rn-tiny tutorial-rn50 tutorial-tiny"; }

clipc_status clipc_config_named(const char *name, clipc_config *cfg) {
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        if (!strcmp(name, configs[i].name)) {
            *cfg = configs[i].cfg;
            return CLIPC_OK;
        }
    return clipc_error(CLIPC_ERR_INVALID, "unknown config '%s' (known: %s)", name, clipc_config_names());
}

/* A ModifiedResNet's vision fields (the text fields are checked as for a ViT). */
static clipc_status validate_resnet(const clipc_config *c) {
    for (int i = 0; i < 4; i++)
        if (c->vision_blocks[i] <= 0 || c->vision_blocks[i] > 256)
            return clipc_error(CLIPC_ERR_INVALID, "config: vision_layers[%d] = %d is out of range [1, 256]", i,
                               c->vision_blocks[i]);
    if (c->vision_width % 2 || c->vision_width > 4096)
        return clipc_error(CLIPC_ERR_INVALID, "config: ResNet vision_width %d must be even and at most 4096",
                           c->vision_width);
    if (c->image_resolution % 32)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: ResNet image_resolution %d is not a multiple of 32 (the tower's stride)",
                           c->image_resolution);
    if ((32 * c->vision_width) % c->vision_heads)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: the attention pool's width %d (32 x vision_width) is not divisible by "
                           "vision_heads %d", 32 * c->vision_width, c->vision_heads);
    return CLIPC_OK;
}

/* tvresnet: torchvision's/timm's ResNet (the tutorial's image tower). */
static clipc_status validate_tv_resnet(const clipc_config *c) {
    for (int i = 0; i < 4; i++)
        if (c->vision_blocks[i] <= 0 || c->vision_blocks[i] > 256)
            return clipc_error(CLIPC_ERR_INVALID, "config: vision_layers[%d] = %d is out of range [1, 256]", i,
                               c->vision_blocks[i]);
    if (c->vision_width <= 0 || c->vision_width % 2 || c->vision_width > 4096)
        return clipc_error(CLIPC_ERR_INVALID, "config: ResNet vision_width %d must be even and in [2, 4096]",
                           c->vision_width);
    if (c->image_resolution % 32)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: ResNet image_resolution %d is not a multiple of 32 (the tower's stride)",
                           c->image_resolution);
    if (c->vision_layers || c->vision_patch_size || c->vision_heads)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: a torchvision ResNet has no vision_layers, vision_patch_size or vision_heads "
                           "(got %d, %d, %d; they must be 0)", c->vision_layers, c->vision_patch_size,
                           c->vision_heads);
    return CLIPC_OK;
}

/* ---- the tutorial's family (seed 002): the torchvision ResNet, DistilBERT
 * and the projection heads are each chosen by their own field (the tower
 * tests combine them with OpenAI's parts); a model "is a tutorial model"
 * when it uses any of them.  The heads need the features they project. */
int clipc_config_is_tutorial(const clipc_config *c) {
    return c->vision_arch == CLIPC_VISION_TV_RESNET || c->text_arch == CLIPC_TEXT_DISTILBERT ||
           c->head != CLIPC_HEAD_OPENAI;
}

static clipc_status validate_head(const clipc_config *c) {
    if (c->head != CLIPC_HEAD_OPENAI && c->head != CLIPC_HEAD_LINEAR && c->head != CLIPC_HEAD_MLP)
        return clipc_error(CLIPC_ERR_INVALID, "config: unknown projection head %d", (int)c->head);
    if (c->head != CLIPC_HEAD_OPENAI &&
        (c->vision_arch != CLIPC_VISION_TV_RESNET || c->text_arch != CLIPC_TEXT_DISTILBERT))
        return clipc_error(CLIPC_ERR_INVALID, "config: the %s projection head projects the torchvision ResNet's "
                           "and DistilBERT's features; this config has vision %d, text %d",
                           c->head == CLIPC_HEAD_MLP ? "mlp" : "linear", (int)c->vision_arch, (int)c->text_arch);
    if (c->head == CLIPC_HEAD_OPENAI && c->vision_arch == CLIPC_VISION_TV_RESNET &&
        c->text_arch == CLIPC_TEXT_DISTILBERT)
        return clipc_error(CLIPC_ERR_INVALID, "config: a ResNet + DistilBERT model needs a linear or mlp "
                           "projection head");
    return CLIPC_OK;
}
/* ---- end of the tutorial's family */

/* A DistilBERT text tower: its position table must cover the context
 * (the other text fields are checked below as for any text tower). */
static clipc_status validate_distilbert(const clipc_config *c) {
    if (c->text_positions <= 0 || c->text_positions > (1 << 16))
        return clipc_error(CLIPC_ERR_INVALID, "config: text_positions = %d is out of range [1, %d]",
                           c->text_positions, 1 << 16);
    if (c->text_positions < c->context_length)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: text_positions %d is smaller than context_length %d (DistilBERT needs a "
                           "position embedding for every token)", c->text_positions, c->context_length);
    return CLIPC_OK;
}

clipc_status clipc_config_validate(const clipc_config *c) {
    clipc_status hs = validate_head(c);
    if (hs) return hs;
    int rn = c->vision_arch == CLIPC_VISION_RESNET, tv = c->vision_arch == CLIPC_VISION_TV_RESNET;
    if (c->vision_arch != CLIPC_VISION_VIT && !rn && !tv)
        return clipc_error(CLIPC_ERR_INVALID, "config: unknown vision architecture %d", (int)c->vision_arch);
    if (c->text_arch != CLIPC_TEXT_CLIP && c->text_arch != CLIPC_TEXT_DISTILBERT)
        return clipc_error(CLIPC_ERR_INVALID, "config: unknown text architecture %d", (int)c->text_arch);
    if (c->text_arch == CLIPC_TEXT_DISTILBERT) {
        clipc_status s = validate_distilbert(c);
        if (s) return s;
    }
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
        if (tv && (!strcmp(f[i].name, "vision_layers") || !strcmp(f[i].name, "vision_patch_size") ||
                   !strcmp(f[i].name, "vision_heads")))
            continue;
        else if (rn && (!strcmp(f[i].name, "vision_layers") || !strcmp(f[i].name, "vision_patch_size"))) continue;
        else if (f[i].v <= 0 || f[i].v > f[i].max)
            return clipc_error(CLIPC_ERR_INVALID, "config: %s = %d is out of range [1, %d]", f[i].name,
                               f[i].v, f[i].max);
    if (rn || tv) {
        clipc_status s = rn ? validate_resnet(c) : validate_tv_resnet(c);
        if (s) return s;
    } else if (c->vision_width % c->vision_heads)
        return clipc_error(CLIPC_ERR_INVALID, "config: vision_width %d is not divisible by vision_heads %d",
                           c->vision_width, c->vision_heads);
    if (c->transformer_width % c->transformer_heads)
        return clipc_error(CLIPC_ERR_INVALID,
                           "config: transformer_width %d is not divisible by transformer_heads %d",
                           c->transformer_width, c->transformer_heads);
    if (!rn && !tv && c->image_resolution % c->vision_patch_size)
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
    if (c->vision_arch == CLIPC_VISION_RESNET) { /* OpenAI's constructor: a tuple and no patch size */
        cJSON_AddItemToObject(o, "vision_layers", cJSON_CreateIntArray(c->vision_blocks, 4));
        cJSON_AddNumberToObject(o, "vision_width", c->vision_width);
        cJSON_AddNullToObject(o, "vision_patch_size");
    } else {
        cJSON_AddNumberToObject(o, "vision_layers", c->vision_layers);
        cJSON_AddNumberToObject(o, "vision_width", c->vision_width);
        cJSON_AddNumberToObject(o, "vision_patch_size", c->vision_patch_size);
    }
    cJSON_AddNumberToObject(o, "vision_heads", c->vision_heads);
    cJSON_AddNumberToObject(o, "context_length", c->context_length);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "transformer_width", c->transformer_width);
    cJSON_AddNumberToObject(o, "transformer_heads", c->transformer_heads);
    cJSON_AddNumberToObject(o, "transformer_layers", c->transformer_layers);
    cJSON_AddStringToObject(o, "act", c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu");
    /* Only for ResNets: a ViT's JSON stays as before (indexes compare it). */
    if (c->vision_arch == CLIPC_VISION_RESNET) cJSON_AddStringToObject(o, "vision_type", "ModifiedResNet");
    if (clipc_config_is_tutorial(c)) { /* the tutorial's family: what no OpenAI field says */
        if (c->vision_arch == CLIPC_VISION_TV_RESNET) {
            cJSON_DeleteItemFromObject(o, "vision_layers");
            cJSON_AddItemToObject(o, "vision_layers", cJSON_CreateIntArray(c->vision_blocks, 4));
            cJSON_AddStringToObject(o, "vision_type", "TorchvisionResNet");
        }
        if (c->text_arch == CLIPC_TEXT_DISTILBERT) {
            cJSON_AddStringToObject(o, "text_type", "DistilBERT");
            cJSON_AddNumberToObject(o, "text_positions", c->text_positions);
        }
        cJSON_AddStringToObject(o, "head", c->head == CLIPC_HEAD_MLP ? "mlp" : c->head ? "linear" : "openai");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
