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

void model_meta_fill(const clipc_model *m, model_meta *mm) {
    const clipc_config *c = &m->cfg;
    static const char *const keys[11] = {"embed_dim", "image_resolution", "vision_layers", "vision_width",
                                         "vision_patch_size", "context_length", "vocab_size", "transformer_width",
                                         "transformer_heads", "transformer_layers", "vision_heads"};
    int vals[11] = {c->embed_dim, c->image_resolution, c->vision_layers, c->vision_width, c->vision_patch_size,
                    c->context_length, c->vocab_size, c->transformer_width, c->transformer_heads,
                    c->transformer_layers, c->vision_heads};
    int n = 0;
    for (int i = 0; i < 11; i++) {
        snprintf(mm->v[i], sizeof mm->v[i], "%d", vals[i]);
        mm->kv[n++] = keys[i];
        mm->kv[n++] = mm->v[i];
    }
    const char *rest[] = {"vision_type", "VisionTransformer", "act", c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu",
                          "format", "pt", "model", "clipc"};
    for (int i = 0; i < 8; i++) mm->kv[n++] = rest[i];
    if (clipc_config_is_tutorial(c)) {
        /* The tutorial's family: the architecture, which no tensor name of
         * an OpenAI file says, and the WordPiece vocabulary (config_tutorial.c
         * reads them back). */
        mm->kv[n - 7] = "TorchvisionResNet"; /* vision_type's value */
        snprintf(mm->blocks, sizeof mm->blocks, "[%d, %d, %d, %d]", c->vision_blocks[0], c->vision_blocks[1],
                 c->vision_blocks[2], c->vision_blocks[3]);
        snprintf(mm->positions, sizeof mm->positions, "%d", c->text_positions);
        const char *tu[] = {"vision_blocks", mm->blocks, "text_type", "DistilBERT", "head",
                            c->head == CLIPC_HEAD_MLP ? "mlp" : "linear", "text_positions", mm->positions};
        for (int i = 0; i < 8; i++) mm->kv[n++] = tu[i];
        if (m->vocab) mm->kv[n++] = "wordpiece_vocab", mm->kv[n++] = m->vocab;
    }
    /* The image transform: always for the tutorial's family (its files are
     * read by tools that cannot guess it from the architecture), for
     * OpenAI's models only when the model carries one of its own, so their
     * files stay as they were. */
    clipc_transform tf, arch;
    clipc_model_transform(m, &tf);
    clipc_config_transform(c, &arch);
    if (clipc_config_is_tutorial(c) || !transform_equal(&tf, &arch)) {
        transform_meta_fill(&tf, &mm->tm);
        const char *tk[] = {"image_mean", mm->tm.mean, "image_std", mm->tm.std, "image_resize", mm->tm.resize,
                            "image_rgb_first", mm->tm.rgb_first};
        for (int i = 0; i < 8; i++) mm->kv[n++] = tk[i];
    }
    mm->kv[n] = NULL;
}

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
    model_meta mm;
    model_meta_fill(m, &mm);
    clipc_status s = st_write(path, t, m->tab.n, mm.kv);
    free(t);
    return s;
}
