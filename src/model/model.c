/*
 * model.c — the clipc_model handle: loading a safetensors file with OpenAI's
 * state-dict names (zero-copy when the file's layout allows), saving, and
 * the inference API (encode images / texts).
 *
 * Loading is where outside files meet the engine, so everything is checked
 * here: the config is read from metadata or inferred from tensor shapes,
 * and every tensor the config implies must be present, F32 and exactly the
 * expected shape; the error names the file and the tensor.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "kernels/gemm_bf16.h"
#include "nn/params.h"
#include "nn/text_tower.h"
#include "nn/vision_tower.h"

/* OpenBLAS (OpenMP build) entry point; not in every cblas.h. */
extern void openblas_set_num_threads(int);

void clipc_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int clipc_get_threads(void) { return omp_get_max_threads(); }

const clipc_config *clipc_model_config(const clipc_model *m) { return &m->cfg; }

/* --------------------------------------------------------------- config */

/* Metadata values are JSON-encoded strings ("64", "null", "[2, 1, 1, 1]"). */
static int meta_int(const st_file *f, const char *key, int *out, int *is_list) {
    const char *v = st_meta(f, key);
    if (!v) return 0;
    cJSON *j = cJSON_Parse(v);
    int ok = 0;
    if (j && cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) && j->valuedouble > 0 &&
        j->valuedouble < 1e9) {
        *out = (int)j->valuedouble;
        ok = 1;
    } else if (j && cJSON_IsArray(j) && is_list) {
        *is_list = 1;
    }
    cJSON_Delete(j);
    return ok;
}

static const st_tensor *need(const st_file *f, const char *name, int ndim, clipc_status *s) {
    const st_tensor *t = st_get(f, name);
    if (!t) {
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing (not an OpenAI CLIP ViT state dict?)",
                         f->path, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        *s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", f->path, name,
                         t->ndim, ndim);
        return NULL;
    }
    return t;
}

static int count_blocks(const st_file *f, const char *prefix) {
    char n[128];
    int l = 0;
    for (;; l++) {
        snprintf(n, sizeof n, "%sresblocks.%d.attn.in_proj_weight", prefix, l);
        if (!st_get(f, n)) break;
    }
    return l;
}

/* Heads from a config.json in the same directory as the model, if any. */
static void heads_from_config_json(const char *path, int *vh, int *th) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *p = malloc(dl + 16);
    if (!p) return;
    memcpy(p, path, dl);
    strcpy(p + dl, "config.json");
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(p, &data, &len);
    free(p);
    if (s) {
        clipc_error_clear();
        return;
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    free(data);
    if (!j) return;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "transformer_heads");
    if (cJSON_IsNumber(t) && t->valuedouble >= 1 && t->valuedouble < 1e6) *th = (int)t->valuedouble;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vision_heads");
    cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "derived");
    if (!cJSON_IsNumber(v) && d) v = cJSON_GetObjectItemCaseSensitive(d, "vision_heads");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e6) *vh = (int)v->valuedouble;
    cJSON_Delete(j);
}


clipc_status model_config_from_file(const st_file *f, const char *path, const clipc_load_opts *opts,
                                    clipc_config *c) {
    memset(c, 0, sizeof *c);
    clipc_status s = CLIPC_OK;
    int is_list = 0, tmp;
    if (meta_int(f, "vision_layers", &tmp, &is_list), is_list || st_get(f, "visual.attnpool.c_proj.weight"))
        return clipc_error(CLIPC_ERR_UNSUPPORTED,
                           "%s: ModifiedResNet image towers (RN50 etc.) are not supported yet; only ViT models",
                           path);
    /* Shapes from the tensors: authoritative, the metadata must agree. */
    const st_tensor *conv = need(f, "visual.conv1.weight", 4, &s);
    const st_tensor *vpos = conv ? need(f, "visual.positional_embedding", 2, &s) : NULL;
    const st_tensor *tproj = vpos ? need(f, "text_projection", 2, &s) : NULL;
    const st_tensor *tpos = tproj ? need(f, "positional_embedding", 2, &s) : NULL;
    const st_tensor *tok = tpos ? need(f, "token_embedding.weight", 2, &s) : NULL;
    if (!tok) return s;
    c->vision_width = (int)conv->shape[0];
    c->vision_patch_size = (int)conv->shape[3];
    long tokens = (long)vpos->shape[0] - 1;
    long grid = lround(sqrt((double)(tokens > 0 ? tokens : 0)));
    if (tokens <= 0 || grid * grid != tokens || grid > 4096 || conv->shape[3] > 4096)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor 'visual.positional_embedding' has %lld rows, not a square grid + 1",
                           path, (long long)vpos->shape[0]);
    c->image_resolution = (int)(grid * c->vision_patch_size);
    c->vision_layers = count_blocks(f, "visual.transformer.");
    c->embed_dim = (int)tproj->shape[1];
    c->transformer_width = (int)tproj->shape[0];
    c->context_length = (int)tpos->shape[0];
    c->vocab_size = (int)tok->shape[0];
    c->transformer_layers = count_blocks(f, "transformer.");
    c->act = CLIPC_ACT_QUICKGELU;
    const char *act = st_meta(f, "act");
    if (act && (strstr(act, "gelu") && !strstr(act, "quick"))) c->act = CLIPC_ACT_GELU;
    /* Metadata, where present, must agree with the tensors. */
    struct { const char *key; int *field; } chk[] = {
        {"embed_dim", &c->embed_dim},           {"image_resolution", &c->image_resolution},
        {"vision_layers", &c->vision_layers},   {"vision_width", &c->vision_width},
        {"vision_patch_size", &c->vision_patch_size}, {"context_length", &c->context_length},
        {"vocab_size", &c->vocab_size},         {"transformer_width", &c->transformer_width},
        {"transformer_layers", &c->transformer_layers},
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++) {
        int v;
        if (meta_int(f, chk[i].key, &v, NULL) && v != *chk[i].field)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata says %s = %d but the tensors say %d", path,
                               chk[i].key, v, *chk[i].field);
    }
    /* Heads are not in the weights: metadata, config.json, options, then OpenAI's rule. */
    int vh = 0, th = 0;
    meta_int(f, "vision_heads", &vh, NULL);
    meta_int(f, "transformer_heads", &th, NULL);
    if (!vh || !th) {
        int cvh = 0, cth = 0;
        heads_from_config_json(path, &cvh, &cth);
        if (!vh) vh = cvh;
        if (!th) th = cth;
    }
    if (!vh && opts) vh = opts->vision_heads;
    if (!th && opts) th = opts->text_heads;
    if (!vh) {
        vh = c->vision_width / 64 > 0 ? c->vision_width / 64 : 1;
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL, "%s: vision heads not recorded; using OpenAI's width/64 rule: %d (override with --vision-heads)",
              path, vh);
    }
    if (!th) {
        th = c->transformer_width / 64 > 0 ? c->transformer_width / 64 : 1;
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL, "%s: text heads not recorded; using OpenAI's width/64 rule: %d (override with --text-heads)",
              path, th);
    }
    c->vision_heads = vh;
    c->transformer_heads = th;
    s = clipc_config_validate(c);
    if (s) clipc_error_prefix("%s", path);
    return s;
}

/* ----------------------------------------------------------------- load */

static clipc_status model_alloc_params(clipc_model *m) {
    m->params = mem_alloc(m->tab.total * sizeof(float), "model parameters");
    if (!m->params) return CLIPC_ERR_NOMEM;
    m->owns_params = 1;
    return CLIPC_OK;
}

/* Files are recognised by content: name the formats people hand us by
 * mistake instead of reporting a confusing safetensors parse error. */
static clipc_status check_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return CLIPC_OK; /* st_open reports the I/O error */
    unsigned char b[8] = {0};
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 4 && !memcmp(b, "PK\x03\x04", 4))
        return clipc_error(CLIPC_ERR_UNSUPPORTED,
                           "%s: a zip archive (PyTorch .pt / TorchScript checkpoint?); clipc reads safetensors "
                           "files (convert with safetensors.torch.save_file)", path);
    if (n >= 4 && !memcmp(b, "GGUF", 4))
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: a GGUF file; clipc reads safetensors files", path);
    if ((n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) || (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: an image, not a model file", path);
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: a Python pickle (legacy PyTorch checkpoint); clipc reads "
                           "safetensors files", path);
    return CLIPC_OK;
}

clipc_status clipc_model_load(const char *path, const clipc_load_opts *opts, clipc_model **out) {
    *out = NULL;
    clipc_status s = check_magic(path);
    if (s) return s;
    clipc_model *m = mem_calloc(1, sizeof *m, "model");
    if (!m) return CLIPC_ERR_NOMEM;
    s = st_open(path, &m->file);
    if (s) goto fail;
    s = model_config_from_file(&m->file, path, opts, &m->cfg);
    if (s) goto fail;
    s = param_table_build(&m->cfg, &m->tab);
    if (s) goto fail;
    /* Every expected tensor, F32, exact shape; contiguous in table order? */
    int contiguous = 1;
    const uint8_t *expect = NULL;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        const st_tensor *t = st_get(&m->file, p->name);
        if (!t) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s' is missing", path, p->name);
            goto fail;
        }
        if (t->dtype != ST_F32) {
            s = clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; only F32 weights are supported yet",
                            path, p->name, st_dtype_name(t->dtype));
            goto fail;
        }
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
    if (m->file.n_tensors > m->tab.n)
        warnf(opts ? opts->warn : NULL, opts ? opts->warn_ud : NULL,
                    "%s: %d tensor(s) not used by the model were ignored", path, m->file.n_tensors - m->tab.n);
    if (contiguous && !(opts && opts->copy) && ((uintptr_t)st_get(&m->file, m->tab.p[0].name)->data % 4) == 0) {
        /* Zero-copy: the file's data section is exactly our flat buffer. */
        m->params = (float *)st_get(&m->file, m->tab.p[0].name)->data;
        m->owns_params = 0;
    } else {
        s = model_alloc_params(m);
        if (s) goto fail;
        for (int i = 0; i < m->tab.n; i++) {
            const st_tensor *t = st_get(&m->file, m->tab.p[i].name);
            memcpy(m->params + m->tab.p[i].offset, t->data, t->nbytes);
        }
        st_close(&m->file);
    }
    s = clip_weights_bind(&m->w, &m->cfg, &m->tab, m->params);
    if (s) goto fail;
    m->source = strdup(path);
    if (opts && opts->precision != CLIPC_PRECISION_F32) {
        s = clipc_model_set_precision(m, opts->precision, opts->warn, opts->warn_ud);
        if (s) goto fail;
    }
    *out = m;
    return CLIPC_OK;
fail:
    clipc_model_free(m);
    return s;
}

clipc_status model_make_writable(clipc_model *m) {
    gemm_bf16_free(m->bf16);
    m->bf16 = NULL;
    if (m->owns_params) return CLIPC_OK;
    float *p = mem_alloc(m->tab.total * sizeof(float), "model parameters");
    if (!p) return CLIPC_ERR_NOMEM;
    memcpy(p, m->params, m->tab.total * sizeof(float));
    m->params = p;
    m->owns_params = 1;
    st_close(&m->file);
    clip_weights_free(&m->w);
    return clip_weights_bind(&m->w, &m->cfg, &m->tab, m->params);
}

void clipc_model_free(clipc_model *m) {
    if (!m) return;
    gemm_bf16_free(m->bf16);
    if (m->owns_params) free(m->params);
    st_close(&m->file);
    clip_weights_free(&m->w);
    param_table_free(&m->tab);
    free(m->source);
    free(m);
}

/* ----------------------------------------------------------------- save */

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
    const char *meta[] = {"embed_dim", v[0], "image_resolution", v[1], "vision_layers", v[2], "vision_width", v[3],
                          "vision_patch_size", v[4], "context_length", v[5], "vocab_size", v[6],
                          "transformer_width", v[7], "transformer_heads", v[8], "transformer_layers", v[9],
                          "vision_heads", v[10], "vision_type", "VisionTransformer", "act",
                          c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu", "format", "pt", "model", "clipc",
                          NULL};
    clipc_status s = st_write(path, t, m->tab.n, meta);
    free(t);
    return s;
}

/* --------------------------------------------------------------- encode */

/* The oneDNN context encoding binds: the model's bf16 twin, else the
 * process-wide f32 one (NULL: OpenBLAS). */
static const gemm_bf16 *encode_context(const clipc_model *m) { return m->bf16 ? m->bf16 : gemm_f32_context(); }

/* Images or texts per forward: batch 64 at once keeps GEMMs tall for small
 * models; inference views are shared by all blocks, so memory stays modest. */
#define ENCODE_CHUNK 64

void clipc_l2_normalize(float *x, int n, int d) {
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        double nrm = sqrt(s);
        if (nrm < 1e-12) nrm = 1e-12;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] / nrm);
    }
}

/* ------------------------------------------------------------ precision */

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
    if (p == CLIPC_PRECISION_F32 || !gemm_bf16_available()) {
        if (p == CLIPC_PRECISION_BF16)
            warnf(warn, warn_ud, "bf16: this CPU has no AVX512_BF16; encoding in f32 instead");
        gemm_bf16_free(m->bf16);
        m->bf16 = NULL;
        return CLIPC_OK;
    }
    if (m->bf16) return CLIPC_OK;
    return gemm_bf16_create(&m->bf16, m->params, m->tab.total);
}

clipc_precision clipc_model_precision(const clipc_model *m) {
    return m->bf16 ? CLIPC_PRECISION_BF16 : CLIPC_PRECISION_F32;
}

/* --------------------------------------------------------------- encode */

clipc_status clipc_encode_image(const clipc_model *m, const float *pixels, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_image: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    vision_acts a;
    clipc_status s = vision_acts_alloc(&a, c, chunk, 0);
    if (s) return s;
    size_t img = (size_t)3 * c->image_resolution * c->image_resolution;
    const gemm_bf16 *g = encode_context(m), *prev = gemm_bf16_bind(g);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        vision_forward(&a, out + (size_t)i * c->embed_dim, pixels + (size_t)i * img, &m->w.v, c, b);
        if (gemm_bf16_take_failure()) { /* oneDNN failed halfway: this chunk again on OpenBLAS f32 */
            gemm_bf16_bind(NULL);
            vision_forward(&a, out + (size_t)i * c->embed_dim, pixels + (size_t)i * img, &m->w.v, c, b);
            gemm_bf16_bind(g);
        }
    }
    gemm_bf16_bind(prev);
    vision_acts_free(&a);
    return CLIPC_OK;
}

clipc_status clipc_encode_text(const clipc_model *m, const int32_t *ids, int n, float *out) {
    if (n < 0) return clipc_error(CLIPC_ERR_INVALID, "encode_text: negative count %d", n);
    if (n == 0) return CLIPC_OK;
    const clipc_config *c = &m->cfg;
    int ctx = c->context_length;
    for (size_t i = 0; i < (size_t)n * ctx; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return clipc_error(CLIPC_ERR_RANGE, "encode_text: token id %d (text %zu, position %zu) is outside the "
                               "vocabulary [0, %d)", ids[i], i / ctx, i % ctx, c->vocab_size);
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    /* Captions are packed up to their EOT (text.c): size the activations
     * for the most rows any chunk needs, not chunk x context. */
    int R = 1;
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk, r = text_packed_rows(ids + (size_t)i * ctx, b, ctx);
        if (r > R) R = r;
    }
    text_acts a;
    clipc_status s = text_acts_alloc(&a, c, chunk, R, 0);
    if (s) return s;
    const gemm_bf16 *g = encode_context(m), *prev = gemm_bf16_bind(g);
    for (int i = 0; i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        text_forward(&a, out + (size_t)i * c->embed_dim, ids + (size_t)i * ctx, &m->w.t, c, b, 0);
        if (gemm_bf16_take_failure()) { /* as for images */
            gemm_bf16_bind(NULL);
            text_forward(&a, out + (size_t)i * c->embed_dim, ids + (size_t)i * ctx, &m->w.t, c, b, 0);
            gemm_bf16_bind(g);
        }
    }
    gemm_bf16_bind(prev);
    text_acts_free(&a);
    return CLIPC_OK;
}
