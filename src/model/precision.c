/*
 * precision.c — the precision a model encodes in: f32, or bf16 through a
 * bf16 twin of its parameters where the CPU multiplies bf16 natively; and
 * the inference backend (backend.h) that precision runs on.
 */
#include <string.h>

#include "model/precision.h"
#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "kernels/backend.h"
#include "kernels/onednn.h"

const char *clipc_precision_name(clipc_precision p) { return p == CLIPC_PRECISION_BF16 ? "bf16" : "f32"; }

int clipc_precision_parse(const char *name, clipc_precision *out) {
    if (!strcmp(name, "f32") || !strcmp(name, "float32")) *out = CLIPC_PRECISION_F32;
    else if (!strcmp(name, "bf16") || !strcmp(name, "bfloat16")) *out = CLIPC_PRECISION_BF16;
    else return -1;
    return 0;
}

clipc_status clipc_model_set_precision(clipc_model *m, clipc_precision p, void (*warn)(const char *msg, void *ud),
                                       void *warn_ud) {
    if (p != CLIPC_PRECISION_F32 && p != CLIPC_PRECISION_BF16)
        return clipc_error(CLIPC_ERR_INVALID, "set_precision: unknown precision %d", (int)p);
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

/* f32: the model's packed context when its weights are fixed, made on
 * first use (two threads may both make one: the first stored wins, the
 * other is freed); else the process-wide f32 context, made on first use
 * (and a test may switch it off), so it is looked up per call rather than
 * stored. */
const infer_backend *model_backend(const clipc_model *m) {
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
    return m->bf16 ? CLIPC_PRECISION_BF16 : CLIPC_PRECISION_F32;
}
