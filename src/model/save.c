/*
 * save.c — writing a model as a safetensors file with OpenAI's names and
 * clipc's config in the metadata (atomically, see fileio.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "nn/params.h"

clipc_status clipc_model_save(const clipc_model *m, const char *path) {
    st_out_tensor *t = mem_calloc((size_t)m->tab.n, sizeof *t, "tensor list");
    if (!t) return CLIPC_ERR_NOMEM;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = m->params + p->offset;
    }
    const clipc_config *c = &m->cfg;
    char v[11][16];
    int vals[11] = {c->embed_dim, c->image_resolution, c->vision_layers, c->vision_width, c->vision_patch_size,
                    c->context_length, c->vocab_size, c->transformer_width, c->transformer_heads,
                    c->transformer_layers, c->vision_heads};
    for (int i = 0; i < 11; i++) snprintf(v[i], sizeof v[i], "%d", vals[i]);
    int rn = c->vision_arch == CLIPC_VISION_RESNET;
    char layers[64];
    if (rn) { /* as OpenAI's constructor arguments: a tuple, no patch size */
        snprintf(layers, sizeof layers, "[%d, %d, %d, %d]", c->vision_blocks[0], c->vision_blocks[1],
                 c->vision_blocks[2], c->vision_blocks[3]);
        snprintf(v[4], sizeof v[4], "null");
    }
    const char *meta[] = {"embed_dim", v[0], "image_resolution", v[1], "vision_layers", rn ? layers : v[2], "vision_width", v[3],
                          "vision_patch_size", v[4], "context_length", v[5], "vocab_size", v[6],
                          "transformer_width", v[7], "transformer_heads", v[8], "transformer_layers", v[9],
                          "vision_heads", v[10], "vision_type", rn ? "ModifiedResNet" : "VisionTransformer", "act",
                          c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu", "format", "pt", "model", "clipc",
                          NULL};
    clipc_status s = st_write(path, t, m->tab.n, meta);
    free(t);
    return s;
}
