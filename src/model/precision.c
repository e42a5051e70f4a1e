/*
 * precision.c — the precision a model encodes in: f32, or bf16 through a
 * bf16 twin of its parameters where the CPU multiplies bf16 natively, or
 * int8 through quantised copies of the towers' weight matrices (int8.h);
 * and the inference backend (backend.h) that precision runs on.
 */
#include <stdlib.h>
#include <string.h>

#include "model/precision.h"
#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "kernels/backend.h"
#include "kernels/onednn.h"
#include "kernels/int8.h"

static clipc_status set_int8(clipc_model *m, void (*warn)(const char *msg, void *ud), void *warn_ud); /* s28-int8 */

const char *clipc_precision_name(clipc_precision p) {
    return p == CLIPC_PRECISION_BF16 ? "bf16" : p == CLIPC_PRECISION_INT8 ? "int8" : "f32";
}

int clipc_precision_parse(const char *name, clipc_precision *out) {
    if (!strcmp(name, "f32") || !strcmp(name, "float32")) *out = CLIPC_PRECISION_F32;
    else if (!strcmp(name, "bf16") || !strcmp(name, "bfloat16")) *out = CLIPC_PRECISION_BF16;
    else if (!strcmp(name, "int8")) *out = CLIPC_PRECISION_INT8; /* s28-int8 */
    else return -1;
    return 0;
}

clipc_status clipc_model_set_precision(clipc_model *m, clipc_precision p, void (*warn)(const char *msg, void *ud),
                                       void *warn_ud) {
    if (p != CLIPC_PRECISION_F32 && p != CLIPC_PRECISION_BF16 && p != CLIPC_PRECISION_INT8)
        return clipc_error(CLIPC_ERR_INVALID, "set_precision: unknown precision %d", (int)p);
    /* s28-int8: int8 is its own context; either precision drops the other's */
    if (p == CLIPC_PRECISION_INT8) {
        onednn_free(m->bf16);
        m->bf16 = NULL;
        return set_int8(m, warn, warn_ud);
    }
    int8_free(m->int8);
    m->int8 = NULL;
    if (p == CLIPC_PRECISION_F32 || !onednn_bf16_available()) {
        if (p == CLIPC_PRECISION_BF16)
            warnf(warn, warn_ud, "bf16: this CPU has no AVX512_BF16; encoding in f32 instead");
        onednn_free(m->bf16);
        m->bf16 = NULL;
        return CLIPC_OK;
    }
    if (m->bf16) return CLIPC_OK;
    return onednn_bf16_create(&m->bf16, m->params, m->tab.total);
}

/* s28-int8 begin */
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The towers' GEMM weights as int8.c quantises them: every transformer
 * block matrix (attention in/out, MLP fc/proj), the ViT patch embedding
 * (a GEMM on im2col rows) and both projections; never embeddings, layer
 * norms or biases, nor the ModifiedResNet tower (no backend runs it). */
static clipc_status set_int8(clipc_model *m, void (*warn)(const char *msg, void *ud), void *warn_ud) {
    if (m->int8) return CLIPC_OK;
    int vit = m->cfg.vision_arch == CLIPC_VISION_VIT;
    if (!vit)
        warnf(warn, warn_ud, "int8: the ResNet image tower has no int8 kernels; images encode in f32 "
                             "(the text tower in int8)");
    int8_matrix *mat = mem_calloc((size_t)m->tab.n + 1, sizeof *mat, "int8 weights");
    if (!mat) return CLIPC_ERR_NOMEM;
    int n = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *pi = &m->tab.p[i];
        const float *w = m->params + pi->offset;
        int visual = !strncmp(pi->name, "visual.", 7);
        if (visual && !vit) continue;
        if (strstr(pi->name, "resblocks.") && pi->ndim == 2 && ends_with(pi->name, "weight"))
            mat[n++] = (int8_matrix){w, pi->shape[0], pi->shape[1], 1};
        else if (!strcmp(pi->name, "visual.conv1.weight"))
            mat[n++] = (int8_matrix){w, pi->shape[0], (int)(pi->numel / (size_t)pi->shape[0]), 1};
        else if ((!strcmp(pi->name, "visual.proj") || !strcmp(pi->name, "text_projection")) && pi->ndim == 2)
            mat[n++] = (int8_matrix){w, pi->shape[0], pi->shape[1], 0};
    }
    clipc_status s = int8_create(&m->int8, mat, n);
    free(mat);
    return s;
}
/* s28-int8 end */

/* f32: the model's packed context when its weights are fixed, made on
 * first use (two threads may both make one: the first stored wins, the
 * other is freed); else the process-wide f32 context, made on first use
 * (and a test may switch it off), so it is looked up per call rather than
 * stored. */
const infer_backend *model_backend(const clipc_model *m) {
    if (m->int8) return int8_backend(m->int8); /* s28-int8 */
    if (m->bf16) return onednn_backend(m->bf16);
    const onednn_ctx *f32 = onednn_f32_context();
    if (!f32 || !m->weights_fixed) return onednn_backend(f32);
    clipc_model *mm = (clipc_model *)(uintptr_t)m; /* the handle is logically const: only its cache changes */
    onednn_ctx *g = __atomic_load_n(&mm->f32pack, __ATOMIC_ACQUIRE), *expect = NULL;
    if (!g) {
        if (onednn_f32_packed_create(&g, m->params, m->tab.total)) return onednn_backend(f32);
        if (!__atomic_compare_exchange_n(&mm->f32pack, &expect, g, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            onednn_free(g);
            g = expect;
        }
    }
    return onednn_backend(g);
}

clipc_precision clipc_model_precision(const clipc_model *m) {
    if (m->int8) return CLIPC_PRECISION_INT8; /* s28-int8 */
    return m->bf16 ? CLIPC_PRECISION_BF16 : CLIPC_PRECISION_F32;
}
