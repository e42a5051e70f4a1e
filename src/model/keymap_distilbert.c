/*
 * keymap_distilbert.c — Hugging Face DistilBERT names onto the tutorial
 * model's text tower.  The tower's parameter names are DistilBertModel's
 * own under `text_encoder.model.` (the tutorial's CLIPModel.state_dict()),
 * so the map is a prefix change: `embeddings.*` and `transformer.*` of a
 * DistilBertModel file, the same under `distilbert.` in a task model's
 * (DistilBertForMaskedLM: vocab_transform, vocab_layer_norm and
 * vocab_projector; the classifiers' pre_classifier/classifier/qa_outputs
 * are ignored).  Shapes need no change: both sides are nn.Linear's
 * (out, in).  Loading copies (F16/BF16 widened), one tensor at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/keymap_distilbert.h"
#include "model/half.h"
#include "model/model.h"
#include "clipc.h"
#include "base/error.h"

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

int keymap_distilbert_name(const char *hf, char *out, size_t n) {
    const char *rest = hf;
    if (starts(rest, KM_DB_PREFIX)) rest += strlen(KM_DB_PREFIX);
    else if (starts(rest, "distilbert.")) rest += strlen("distilbert.");
    else {
        static const char *const heads[] = {"vocab_transform.", "vocab_layer_norm.", "vocab_projector.",
                                            "pre_classifier.", "classifier.", "qa_outputs."};
        for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
            if (starts(hf, heads[i])) return 0;
    }
    if (!strcmp(rest, "embeddings.position_ids")) return 0;
    if (!starts(rest, "embeddings.") && !starts(rest, "transformer.layer.")) return -1;
    if (snprintf(out, n, KM_DB_PREFIX "%s", rest) >= (int)n) return -1;
    return 1;
}

static const st_tensor *find_either(const st_file *f, const char *name) {
    char n[160];
    const st_tensor *t = st_get(f, name);
    if (t) return t;
    snprintf(n, sizeof n, "distilbert.%s", name);
    if ((t = st_get(f, n))) return t;
    snprintf(n, sizeof n, KM_DB_PREFIX "%s", name);
    return st_get(f, n);
}

int keymap_is_distilbert(const st_file *f) {
    return find_either(f, "embeddings.word_embeddings.weight") &&
           find_either(f, "transformer.layer.0.attention.q_lin.weight");
}

clipc_status keymap_distilbert_shapes(const st_file *f, const char *path, clipc_config *c) {
    const st_tensor *w = find_either(f, "embeddings.word_embeddings.weight");
    const st_tensor *p = find_either(f, "embeddings.position_embeddings.weight");
    if (!w || !p || w->ndim != 2 || p->ndim != 2 || w->shape[1] != p->shape[1] || w->shape[0] > (1 << 24) ||
        w->shape[1] > (1 << 15) || p->shape[0] > (1 << 16))
        return clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face DistilBERT layout): no 2-D word and position "
                           "embeddings of the same width", path);
    char n[96];
    int l = 0;
    for (; l < 256; l++) {
        snprintf(n, sizeof n, "transformer.layer.%d.attention.q_lin.weight", l);
        if (!find_either(f, n)) break;
    }
    c->text_arch = CLIPC_TEXT_DISTILBERT;
    c->vocab_size = (int)w->shape[0];
    c->transformer_width = (int)w->shape[1];
    c->text_positions = (int)p->shape[0];
    c->transformer_layers = l;
    return CLIPC_OK;
}

static float elem(const st_tensor *t, size_t i) {
    if (t->dtype == ST_F16) return half_to_f32(((const uint16_t *)t->data)[i]);
    if (t->dtype == ST_BF16) return bf16_to_f32(((const uint16_t *)t->data)[i]);
    return ((const float *)t->data)[i];
}

static clipc_status copy_one(const st_tensor *t, const char *path, const param_info *p, float *out) {
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s (Hugging Face DistilBERT layout): tensor '%s' is %s; F32, "
                           "F16 and BF16 are supported", path, t->name, st_dtype_name(t->dtype));
    int ok = t->ndim == p->ndim;
    for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
    if (!ok) {
        char want[64] = "", got[64] = "";
        for (int d = 0; d < p->ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? ", " : "", p->shape[d]);
        for (int d = 0; d < t->ndim && d < ST_MAX_DIMS; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        return clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face DistilBERT layout): tensor '%s' has shape [%s], "
                           "expected [%s]", path, t->name, got, want);
    }
    for (size_t i = 0; i < p->numel; i++) out[i] = elem(t, i);
    return CLIPC_OK;
}

clipc_status keymap_distilbert_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                                      const clipc_load_opts *opts) {
    char *seen = mem_calloc((size_t)tab->n + 1, 1, "key map");
    if (!seen) return CLIPC_ERR_NOMEM;
    clipc_status s = CLIPC_OK;
    int ignored = 0;
    char name[192];
    for (int k = 0; k < f->n_tensors && !s; k++) {
        const st_tensor *t = &f->tensors[k];
        int r = keymap_distilbert_name(t->name, name, sizeof name);
        int i = r > 0 ? param_table_find(tab, name) : -1;
        if (i < 0) {
            ignored += r != 0; /* task heads and position_ids are expected, anything else is counted */
            continue;
        }
        if (seen[i]) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face DistilBERT layout): tensor '%s' appears twice "
                            "(with and without a prefix)", path, name);
            break;
        }
        seen[i] = 1;
        const param_info *p = &tab->p[i];
        if ((s = copy_one(t, path, p, dst + p->offset))) break;
        size_t bad = model_count_nonfinite(dst + p->offset, p->numel);
        if (!bad) continue;
        if (!(opts && opts->allow_nonfinite)) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' holds %zu non-finite values (nan/inf); refusing "
                            "to load (--allow-nonfinite to load it anyway, for forensics)", path, t->name, bad);
            break;
        }
        warnf(opts->warn, opts->warn_ud, "%s: tensor '%s' holds %zu non-finite values (nan/inf); loaded anyway "
              "(--allow-nonfinite): its outputs may be nan", path, t->name, bad);
    }
    for (int i = 0; i < tab->n && !s; i++)
        if (starts(tab->p[i].name, KM_DB_PREFIX) && !seen[i])
            s = clipc_error(CLIPC_ERR_FORMAT, "%s (Hugging Face DistilBERT layout): tensor '%s' is missing", path,
                            tab->p[i].name + strlen(KM_DB_PREFIX));
    free(seen);
    if (!s && ignored)
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL,
              "%s: %d tensor(s) not used by the text tower were ignored", path, ignored);
    return s;
}
