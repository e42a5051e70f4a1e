/*
 * config_resnet.c — a ModifiedResNet's vision config from its tensors
 * (config_resnet.h), as clip/model.py's build_model does it:
 *   stage depths: the number of blocks visual.layer{1..4}.{i} present;
 *   width: visual.layer1.0.conv1.weight's output channels;
 *   resolution: 32 x round(sqrt(rows of attnpool.positional_embedding - 1));
 *   heads: width * 32 / 64 (the pool's width over a head dim of 64).
 * The loader then checks every tensor's shape against the table these imply.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/config_resnet.h"
#include "clipc.h"
#include "base/error.h"
#include "formats/safetensors.h"

int config_file_is_resnet(const st_file *f) {
    if (st_get(f, "visual.attnpool.c_proj.weight")) return 1;
    const char *v = st_meta(f, "vision_layers");
    cJSON *j = v ? cJSON_Parse(v) : NULL;
    int list = j && cJSON_IsArray(j);
    cJSON_Delete(j);
    return list;
}

static clipc_status missing(const char *path, const char *name) {
    return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing (not an OpenAI CLIP ModifiedResNet state dict?)",
                       path, name);
}

clipc_status config_resnet_vision(const st_file *f, const char *path, clipc_config *c) {
    char n[96];
    c->vision_arch = CLIPC_VISION_RESNET;
    c->vision_layers = c->vision_patch_size = 0;
    for (int l = 0; l < 4; l++) {
        int k = 0;
        for (; k < 4096; k++) {
            snprintf(n, sizeof n, "visual.layer%d.%d.conv1.weight", l + 1, k);
            if (!st_get(f, n)) break;
        }
        if (!k) {
            snprintf(n, sizeof n, "visual.layer%d.0.conv1.weight", l + 1);
            return missing(path, n);
        }
        c->vision_blocks[l] = k;
    }
    const st_tensor *w = st_get(f, "visual.layer1.0.conv1.weight");
    const st_tensor *pos = st_get(f, "visual.attnpool.positional_embedding");
    if (!pos) return missing(path, "visual.attnpool.positional_embedding");
    if (w->ndim != 4 || pos->ndim != 2)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", path,
                           w->ndim != 4 ? "visual.layer1.0.conv1.weight" : "visual.attnpool.positional_embedding",
                           w->ndim != 4 ? w->ndim : pos->ndim, w->ndim != 4 ? 4 : 2);
    long cells = (long)pos->shape[0] - 1, grid = lround(sqrt((double)(cells > 0 ? cells : 0)));
    if (cells <= 0 || grid * grid != cells || grid > 128 || w->shape[0] > 4096)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor 'visual.attnpool.positional_embedding' has %lld rows, not a square grid + 1",
                           path, (long long)pos->shape[0]);
    c->vision_width = (int)w->shape[0];
    c->vision_heads = c->vision_width * 32 / 64 > 0 ? c->vision_width * 32 / 64 : 1;
    c->image_resolution = (int)grid * 32;
    /* A metadata list (OpenAI's constructor argument) must agree. */
    const char *v = st_meta(f, "vision_layers");
    cJSON *j = v ? cJSON_Parse(v) : NULL;
    if (j && cJSON_IsArray(j)) {
        int ok = cJSON_GetArraySize(j) == 4;
        for (int l = 0; ok && l < 4; l++) {
            cJSON *e = cJSON_GetArrayItem(j, l);
            ok = cJSON_IsNumber(e) && e->valuedouble == c->vision_blocks[l];
        }
        cJSON_Delete(j);
        if (!ok)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says vision_layers = %.40s but the tensors say "
                               "[%d, %d, %d, %d]", path, v, c->vision_blocks[0], c->vision_blocks[1],
                               c->vision_blocks[2], c->vision_blocks[3]);
    } else {
        cJSON_Delete(j);
    }
    return CLIPC_OK;
}
