/*
 * load.c — loading a weights file (safetensors, or a PyTorch zip checkpoint /
 * TorchScript archive: formats/tensor_file.h) with OpenAI's state-dict names
 * into a clipc_model, zero-copy when the file is F32 and its layout allows.
 *
 * Loading is where outside files meet the engine, so everything is checked
 * here: every tensor the config implies must be present, a float dtype
 * (F16, BF16 and F64 are converted exactly / round-to-nearest into an owned
 * f32 buffer) and exactly the expected shape; the error names the file and
 * the tensor.
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "model/config_file.h"
#include "model/keymap.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "nn/params.h"

static clipc_status model_alloc_params(clipc_model *m) {
    m->params = mem_alloc(m->tab.total * sizeof(float), "model parameters");
    if (!m->params) return CLIPC_ERR_NOMEM;
    m->owns_params = 1;
    return CLIPC_OK;
}

/* Non-finite weights: a diverged training run's file.  Refused, naming the
 * first tensor that holds any (in table order), unless allow_nonfinite,
 * when each such tensor gets a warning instead.  One pass over the data
 * (model_count_nonfinite: memory speed, 0.1-0.5 s for a ViT-B's 150 M floats;
 * it also reads in the pages of a mapped file, which encoding does anyway). */
static clipc_status check_finite(const clipc_model *m, const char *path, const clipc_load_opts *opts) {
    for (int i = 0; i < m->tab.n; i++) {
        size_t bad = model_count_nonfinite(m->params + m->tab.p[i].offset, m->tab.p[i].numel);
        if (!bad) continue;
        if (!(opts && opts->allow_nonfinite))
            return clipc_error(CLIPC_ERR_FORMAT,
                               "%s: tensor '%s' holds %zu non-finite values (nan/inf); refusing to load "
                               "(--allow-nonfinite to load it anyway, for forensics)",
                               path, m->tab.p[i].name, bad);
        warnf(opts->warn, opts->warn_ud, "%s: tensor '%s' holds %zu non-finite values (nan/inf); loaded anyway "
              "(--allow-nonfinite): its outputs may be nan", path, m->tab.p[i].name, bad);
    }
    return CLIPC_OK;
}

/* ---- the tutorial's family (seed 002).  The seed keeps its temperature
 * as a plain attribute (0.07), so its state dict has no logit_scale: the
 * only tensor that may be absent, filled with ln(1/0.07). */
static int tutorial_default(const clipc_model *m, const param_info *p) {
    return clipc_config_is_tutorial(&m->cfg) && !strcmp(p->name, "logit_scale");
}

/* Its WordPiece vocabulary: the file's `wordpiece_vocab` metadata (clipc's
 * files), else a vocab.txt beside the file (the seed's best.pt kept in the
 * Hugging Face folder it was trained from), else none: tokenising then
 * fails with an error saying so (clipc_model_tokenizer). */
static clipc_status tutorial_vocab(clipc_model *m, const char *path) {
    if (!clipc_config_is_tutorial(&m->cfg) || m->vocab) return CLIPC_OK;
    const char *v = st_meta(&m->file, "wordpiece_vocab");
    if (v) {
        m->vocab = strdup(v);
        return m->vocab ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory copying the vocabulary");
    }
    char side[4096];
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) : 0;
    snprintf(side, sizeof side, "%.*s%svocab.txt", dir, path, slash ? "/" : "");
    size_t n;
    char *buf;
    if (access(side, R_OK) == 0 && !clipc_read_file(side, &buf, &n)) m->vocab = buf;
    return CLIPC_OK;
}
/* ---- end of the tutorial's family */

clipc_status clipc_model_load(const char *path, const clipc_load_opts *opts, clipc_model **out) {
    *out = NULL;
    clipc_model *m = mem_calloc(1, sizeof *m, "model");
    if (!m) return CLIPC_ERR_NOMEM;
    clipc_status s = tf_open(path, &m->file);
    if (s) goto fail;
    s = model_config_from_file(&m->file, path, opts, &m->cfg, &m->origin);
    if (!s) s = transform_from_meta(&m->file, path, &m->cfg, &m->transform);
    if (s) goto fail;
    s = param_table_init(&m->cfg, &m->tab);
    if (s) goto fail;
    if (m->origin.layout == CLIPC_LAYOUT_HF) { /* other names and layouts: copied (keymap.c) */
        if ((s = model_alloc_params(m)) || (s = keymap_hf_gather(&m->file, path, &m->tab, m->params, opts)))
            goto fail;
        st_close(&m->file);
        goto bind;
    }
    /* Every expected tensor, a float dtype, exact shape; contiguous in table order? */
    int contiguous = 1;
    const uint8_t *expect = NULL;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        const st_tensor *t = st_get(&m->file, p->name);
        if (!t && tutorial_default(m, p)) { /* the seed's fixed temperature: filled in below */
            contiguous = 0;
            continue;
        }
        if (!t) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing", path, p->name);
            goto fail;
        }
        if (!tf_float_dtype(t->dtype)) {
            s = clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; weights must be F32, F16, BF16 or F64",
                            path, p->name, st_dtype_name(t->dtype));
            goto fail;
        }
        if (t->dtype != ST_F32) contiguous = 0;
        int ok = t->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
        if (!ok) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < p->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? ", " : "", p->shape[d]);
            for (int d = 0; d < t->ndim && d < ST_MAX_DIMS; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                         (long long)t->shape[d]);
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", path, p->name, got,
                            want);
            goto fail;
        }
        const uint8_t *d = t->data;
        if (expect && d != expect) contiguous = 0;
        expect = d + t->nbytes;
    }
    /* BatchNorm's num_batches_tracked (I64) matters only to train-mode BN
     * momentum; eval mode never reads it, so skipping it is no news. */
    int unused = m->file.n_tensors - m->tab.n;
    for (int i = 0; i < m->file.n_tensors; i++) {
        const char *n = m->file.tensors[i].name, *dot = strrchr(n, '.');
        /* ... and OpenAI's TorchScript archives keep each block's causal mask
         * (attn_mask) as a tensor attribute; clipc builds its own. */
        if (dot && (!strcmp(dot, ".num_batches_tracked") || !strcmp(dot, ".attn_mask"))) unused--;
    }
    if (unused > 0)
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL,
                    "%s: %d tensor(s) not used by the model were ignored", path, unused);
    if (contiguous && !(opts && opts->copy) && ((uintptr_t)st_get(&m->file, m->tab.p[0].name)->data % 4) == 0) {
        /* Zero-copy: the file's data section is exactly our flat buffer. */
        m->params = (float *)st_get(&m->file, m->tab.p[0].name)->data;
        m->owns_params = 0;
    } else {
        s = model_alloc_params(m);
        if (s) goto fail;
        for (int i = 0; i < m->tab.n; i++) {
            const st_tensor *t = st_get(&m->file, m->tab.p[i].name);
            if (t) tf_to_f32(t, m->params + m->tab.p[i].offset);
            else m->params[m->tab.p[i].offset] = logf(1.0f / 0.07f); /* tutorial_default */
        }
        if ((s = tutorial_vocab(m, path))) goto fail;
        st_close(&m->file);
    }
    if ((s = tutorial_vocab(m, path))) goto fail; /* (a no-op when already read above) */
bind:
    s = check_finite(m, path, opts);
    if (s) goto fail;
    s = clip_weights_bind(&m->w, &m->cfg, &m->tab, m->params);
    if (s) goto fail;
    m->source = strdup(path);
    if (opts && opts->precision != CLIPC_PRECISION_F32) {
        s = clipc_model_set_precision(m, opts->precision, opts->warn, opts->warn_ud);
        if (s) goto fail;
    }
    m->weights_fixed = 1; /* until model_make_writable (training) */
    *out = m;
    return CLIPC_OK;
fail:
    clipc_model_free(m);
    return s;
}
