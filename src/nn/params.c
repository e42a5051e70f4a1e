/*
 * params.c — builds the parameter table of a config and binds typed views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/params.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

typedef struct {
    param_info *p;
    int n, cap;
} table_builder;

static int add(table_builder *b, param_group g, int layer, int decay, int ndim, int d0, int d1, int d2,
               int d3, const char *fmt, ...) __attribute__((format(printf, 10, 11)));

#include <stdarg.h>
static int add(table_builder *b, param_group g, int layer, int decay, int ndim, int d0, int d1, int d2,
               int d3, const char *fmt, ...) {
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        param_info *p = realloc(b->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    param_info *e = &b->p[b->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = d[i];
        e->numel *= (size_t)d[i];
    }
    e->group = g;
    e->layer = layer;
    e->decay = decay;
    return 0;
}

static int add_blocks(table_builder *b, const char *prefix, param_group g, int layers, int C) {
    int rc = 0;
    for (int l = 0; l < layers; l++) {
        rc |= add(b, g, l, 0, 1, 3 * C, 0, 0, 0, "%sresblocks.%d.attn.in_proj_bias", prefix, l);
        rc |= add(b, g, l, 1, 2, 3 * C, C, 0, 0, "%sresblocks.%d.attn.in_proj_weight", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.attn.out_proj.bias", prefix, l);
        rc |= add(b, g, l, 1, 2, C, C, 0, 0, "%sresblocks.%d.attn.out_proj.weight", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.ln_1.bias", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.ln_1.weight", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.ln_2.bias", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.ln_2.weight", prefix, l);
        rc |= add(b, g, l, 0, 1, 4 * C, 0, 0, 0, "%sresblocks.%d.mlp.c_fc.bias", prefix, l);
        rc |= add(b, g, l, 1, 2, 4 * C, C, 0, 0, "%sresblocks.%d.mlp.c_fc.weight", prefix, l);
        rc |= add(b, g, l, 0, 1, C, 0, 0, 0, "%sresblocks.%d.mlp.c_proj.bias", prefix, l);
        rc |= add(b, g, l, 1, 2, C, 4 * C, 0, 0, "%sresblocks.%d.mlp.c_proj.weight", prefix, l);
    }
    return rc;
}

/* ---- ModifiedResNet parameters (OpenAI's names).  BatchNorm running
 * statistics are table entries, so they load and save with the rest, but
 * flagged `buffer`: never trained.  Convolutions and linear weights decay
 * by default, BatchNorm affine maps, biases and the positional embedding
 * do not (the ViT's rule: matrices only). */
static int add_bn(table_builder *b, int C, const char *prefix) {
    int rc = 0;
    rc |= add(b, PG_VISION, -1, 0, 1, C, 0, 0, 0, "%s.bias", prefix);
    rc |= add(b, PG_VISION, -1, 0, 1, C, 0, 0, 0, "%s.running_mean", prefix);
    rc |= add(b, PG_VISION, -1, 0, 1, C, 0, 0, 0, "%s.running_var", prefix);
    rc |= add(b, PG_VISION, -1, 0, 1, C, 0, 0, 0, "%s.weight", prefix);
    if (!rc) b->p[b->n - 2].buffer = b->p[b->n - 3].buffer = 1;
    return rc;
}

static int add_resnet(table_builder *b, const clipc_config *c) {
    int w = c->vision_width, E = c->embed_dim, D = 32 * w, S = c->image_resolution / 32, rc = 0;
    char n[80];
    rc |= add(b, PG_VISION, -1, 1, 4, w / 2, 3, 3, 3, "visual.conv1.weight");
    rc |= add(b, PG_VISION, -1, 1, 4, w / 2, w / 2, 3, 3, "visual.conv2.weight");
    rc |= add(b, PG_VISION, -1, 1, 4, w, w / 2, 3, 3, "visual.conv3.weight");
    rc |= add_bn(b, w / 2, "visual.bn1") | add_bn(b, w / 2, "visual.bn2") | add_bn(b, w, "visual.bn3");
    int inpl = w;
    for (int l = 0; l < 4; l++) {
        int P = w << l;
        for (int k = 0; k < c->vision_blocks[l]; k++) {
            const char *f = "visual.layer%d.%d.%s";
            rc |= add(b, PG_VISION, -1, 1, 4, P, inpl, 1, 1, f, l + 1, k, "conv1.weight");
            rc |= add(b, PG_VISION, -1, 1, 4, P, P, 3, 3, f, l + 1, k, "conv2.weight");
            rc |= add(b, PG_VISION, -1, 1, 4, 4 * P, P, 1, 1, f, l + 1, k, "conv3.weight");
            for (int i = 1; i <= 3; i++) {
                snprintf(n, sizeof n, "visual.layer%d.%d.bn%d", l + 1, k, i);
                rc |= add_bn(b, i == 3 ? 4 * P : P, n);
            }
            if (k == 0 && (l > 0 || inpl != 4 * P)) { /* stride > 1 or channels change */
                rc |= add(b, PG_VISION, -1, 1, 4, 4 * P, inpl, 1, 1, f, l + 1, k, "downsample.0.weight");
                snprintf(n, sizeof n, "visual.layer%d.%d.downsample.1", l + 1, k);
                rc |= add_bn(b, 4 * P, n);
            }
            inpl = 4 * P;
        }
    }
    rc |= add(b, PG_VISION, -1, 0, 2, S * S + 1, D, 0, 0, "visual.attnpool.positional_embedding");
    for (const char *q = "qkv"; *q; q++) {
        rc |= add(b, PG_VISION, -1, 1, 2, D, D, 0, 0, "visual.attnpool.%c_proj.weight", *q);
        rc |= add(b, PG_VISION, -1, 0, 1, D, 0, 0, 0, "visual.attnpool.%c_proj.bias", *q);
    }
    rc |= add(b, PG_PROJ, -1, 1, 2, E, D, 0, 0, "visual.attnpool.c_proj.weight");
    rc |= add(b, PG_PROJ, -1, 0, 1, E, 0, 0, 0, "visual.attnpool.c_proj.bias");
    return rc;
}

/* ---- torchvision's/timm's ResNet (the tutorial's image tower) under
 * image_encoder.model.: torchvision's names without fc.* (the pooled
 * features are the output) and without num_batches_tracked (an int64
 * counter PyTorch uses only when momentum is None).  Decay as above. */
#define TV "image_encoder.model."
static int add_tv_resnet(table_builder *b, const clipc_config *c) {
    int w = c->vision_width, rc = 0, inpl = w;
    char n[80];
    rc |= add(b, PG_VISION, -1, 1, 4, w, 3, 7, 7, TV "conv1.weight");
    rc |= add_bn(b, w, TV "bn1");
    for (int l = 0; l < 4; l++) {
        int P = w << l;
        for (int k = 0; k < c->vision_blocks[l]; k++) {
            const char *f = TV "layer%d.%d.%s";
            rc |= add(b, PG_VISION, -1, 1, 4, P, inpl, 1, 1, f, l + 1, k, "conv1.weight");
            rc |= add(b, PG_VISION, -1, 1, 4, P, P, 3, 3, f, l + 1, k, "conv2.weight");
            rc |= add(b, PG_VISION, -1, 1, 4, 4 * P, P, 1, 1, f, l + 1, k, "conv3.weight");
            for (int i = 1; i <= 3; i++) {
                snprintf(n, sizeof n, TV "layer%d.%d.bn%d", l + 1, k, i);
                rc |= add_bn(b, i == 3 ? 4 * P : P, n);
            }
            if (k == 0 && (l > 0 || inpl != 4 * P)) { /* stride > 1 or channels change */
                rc |= add(b, PG_VISION, -1, 1, 4, 4 * P, inpl, 1, 1, f, l + 1, k, "downsample.0.weight");
                snprintf(n, sizeof n, TV "layer%d.%d.downsample.1", l + 1, k);
                rc |= add_bn(b, 4 * P, n);
            }
            inpl = 4 * P;
        }
    }
    return rc;
}

/* ---- DistilBERT text tower (Hugging Face DistilBertModel's names under
 * text_encoder.model., as the tutorial's CLIPModel.state_dict() has them).
 * Linear weights decay, embeddings, biases and LayerNorms do not. */
#define DB_PREFIX "text_encoder.model."
static int add_distilbert(table_builder *b, const clipc_config *c) {
    int C = c->transformer_width, rc = 0;
    rc |= add(b, PG_TEXT, -1, 0, 2, c->vocab_size, C, 0, 0, DB_PREFIX "embeddings.word_embeddings.weight");
    rc |= add(b, PG_TEXT, -1, 0, 2, c->text_positions, C, 0, 0, DB_PREFIX "embeddings.position_embeddings.weight");
    rc |= add(b, PG_TEXT, -1, 0, 1, C, 0, 0, 0, DB_PREFIX "embeddings.LayerNorm.weight");
    rc |= add(b, PG_TEXT, -1, 0, 1, C, 0, 0, 0, DB_PREFIX "embeddings.LayerNorm.bias");
    for (int l = 0; l < c->transformer_layers; l++) {
        const char *f = DB_PREFIX "transformer.layer.%d.%s";
        static const char *const lin[] = {"q", "k", "v", "out"};
        for (int i = 0; i < 4; i++) {
            char n[32];
            snprintf(n, sizeof n, "attention.%s_lin.weight", lin[i]);
            rc |= add(b, PG_TEXT, l, 1, 2, C, C, 0, 0, f, l, n);
            snprintf(n, sizeof n, "attention.%s_lin.bias", lin[i]);
            rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, n);
        }
        rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, "sa_layer_norm.weight");
        rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, "sa_layer_norm.bias");
        rc |= add(b, PG_TEXT, l, 1, 2, 4 * C, C, 0, 0, f, l, "ffn.lin1.weight");
        rc |= add(b, PG_TEXT, l, 0, 1, 4 * C, 0, 0, 0, f, l, "ffn.lin1.bias");
        rc |= add(b, PG_TEXT, l, 1, 2, C, 4 * C, 0, 0, f, l, "ffn.lin2.weight");
        rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, "ffn.lin2.bias");
        rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, "output_layer_norm.weight");
        rc |= add(b, PG_TEXT, l, 0, 1, C, 0, 0, 0, f, l, "output_layer_norm.bias");
    }
    return rc;
}

/* ---- the tutorial's projection heads (seed 002 / the notebook), under the
 * seed's CLIPModel.state_dict() names.  Every head tensor decays: the seed's
 * AdamW group for the heads has weight_decay 1e-3 on all of them. */
static int add_head(table_builder *b, const char *prefix, clipc_head kind, int D, int E) {
    int rc = add(b, PG_PROJ, -1, 1, 2, E, D, 0, 0, "%s.projection.weight", prefix);
    if (kind != CLIPC_HEAD_MLP) return rc;
    rc |= add(b, PG_PROJ, -1, 1, 1, E, 0, 0, 0, "%s.projection.bias", prefix);
    rc |= add(b, PG_PROJ, -1, 1, 2, E, E, 0, 0, "%s.fc.weight", prefix);
    rc |= add(b, PG_PROJ, -1, 1, 1, E, 0, 0, 0, "%s.fc.bias", prefix);
    rc |= add(b, PG_PROJ, -1, 1, 1, E, 0, 0, 0, "%s.layer_norm.weight", prefix);
    rc |= add(b, PG_PROJ, -1, 1, 1, E, 0, 0, 0, "%s.layer_norm.bias", prefix);
    return rc;
}

static int add_heads(table_builder *b, const clipc_config *c) {
    if (c->head == CLIPC_HEAD_OPENAI) return 0;
    return add_head(b, "image_projection", c->head, 32 * c->vision_width, c->embed_dim) |
           add_head(b, "text_projection", c->head, c->transformer_width, c->embed_dim);
}

static float *at(const param_table *t, float *base, const char *name);
static void bind_head(proj_head_weights *h, const param_table *t, float *base, const char *prefix) {
    char n[128];
    snprintf(n, sizeof n, "%s.projection.weight", prefix), h->proj_w = at(t, base, n);
    snprintf(n, sizeof n, "%s.projection.bias", prefix), h->proj_b = at(t, base, n);
    snprintf(n, sizeof n, "%s.fc.weight", prefix), h->fc_w = at(t, base, n);
    snprintf(n, sizeof n, "%s.fc.bias", prefix), h->fc_b = at(t, base, n);
    snprintf(n, sizeof n, "%s.layer_norm.weight", prefix), h->ln_w = at(t, base, n);
    snprintf(n, sizeof n, "%s.layer_norm.bias", prefix), h->ln_b = at(t, base, n);
}
/* ---- end of the tutorial's heads */

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const param_info *)a)->name, ((const param_info *)b)->name);
}

clipc_status param_table_init(const clipc_config *c, param_table *t) {
    memset(t, 0, sizeof *t);
    clipc_status s = clipc_config_validate(c);
    if (s) return s;
    table_builder b = {0};
    int W = c->vision_width, P = c->vision_patch_size, G = P > 0 ? c->image_resolution / P : 0;
    int C = c->transformer_width, E = c->embed_dim;
    int rc = 0;
    /* Text tower. */
    if (c->text_arch == CLIPC_TEXT_DISTILBERT) {
        rc |= add_distilbert(&b, c);
    } else {
        rc |= add(&b, PG_TEXT, -1, 0, 2, c->vocab_size, C, 0, 0, "token_embedding.weight");
        rc |= add(&b, PG_TEXT, -1, 0, 2, c->context_length, C, 0, 0, "positional_embedding");
        rc |= add_blocks(&b, "transformer.", PG_TEXT, c->transformer_layers, C);
        rc |= add(&b, PG_TEXT, -1, 0, 1, C, 0, 0, 0, "ln_final.bias");
        rc |= add(&b, PG_TEXT, -1, 0, 1, C, 0, 0, 0, "ln_final.weight");
        rc |= add(&b, PG_PROJ, -1, 1, 2, C, E, 0, 0, "text_projection");
    }
    rc |= add(&b, PG_LOGIT_SCALE, -1, 0, 0, 0, 0, 0, 0, "logit_scale");
    rc |= add_heads(&b, c); /* the tutorial's projection heads, if any */
    /* Vision tower. */
    if (c->vision_arch == CLIPC_VISION_TV_RESNET) { /* tvresnet: the tower only; the head is added apart */
        rc |= add_tv_resnet(&b, c);
        goto sort;
    }
    if (c->vision_arch == CLIPC_VISION_RESNET) {
        rc |= add_resnet(&b, c);
        goto sort;
    }
    rc |= add(&b, PG_VISION, -1, 1, 4, W, 3, P, P, "visual.conv1.weight");
    rc |= add(&b, PG_VISION, -1, 0, 1, W, 0, 0, 0, "visual.class_embedding");
    rc |= add(&b, PG_VISION, -1, 0, 2, G * G + 1, W, 0, 0, "visual.positional_embedding");
    rc |= add(&b, PG_VISION, -1, 0, 1, W, 0, 0, 0, "visual.ln_pre.bias");
    rc |= add(&b, PG_VISION, -1, 0, 1, W, 0, 0, 0, "visual.ln_pre.weight");
    rc |= add_blocks(&b, "visual.transformer.", PG_VISION, c->vision_layers, W);
    rc |= add(&b, PG_VISION, -1, 0, 1, W, 0, 0, 0, "visual.ln_post.bias");
    rc |= add(&b, PG_VISION, -1, 0, 1, W, 0, 0, 0, "visual.ln_post.weight");
    rc |= add(&b, PG_PROJ, -1, 1, 2, W, E, 0, 0, "visual.proj");
sort:
    if (rc) {
        free(b.p);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory building the parameter table");
    }
    qsort(b.p, (size_t)b.n, sizeof *b.p, cmp_name);
    size_t off = 0;
    for (int i = 0; i < b.n; i++) {
        b.p[i].offset = off;
        off += b.p[i].numel;
    }
    t->p = b.p;
    t->n = b.n;
    t->total = off;
    return CLIPC_OK;
}

void param_table_free(param_table *t) {
    free(t->p);
    memset(t, 0, sizeof *t);
}

int param_table_find(const param_table *t, const char *name) {
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(t->p[mid].name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

size_t clipc_config_param_count(const clipc_config *cfg) {
    param_table t;
    if (param_table_init(cfg, &t)) return 0;
    size_t n = t.total;
    param_table_free(&t);
    return n;
}

/* Looks a name up; the table was built from the same config, so a miss is a bug. */
static float *at(const param_table *t, float *base, const char *name) {
    int i = param_table_find(t, name);
    return i < 0 ? NULL : base + t->p[i].offset;
}

static void bind_blocks(block_weights *bw, int layers, const param_table *t, float *base, const char *prefix) {
    char n[128];
    for (int l = 0; l < layers; l++) {
        block_weights *w = &bw[l];
#define B(field, suffix)                                                     \
    snprintf(n, sizeof n, "%sresblocks.%d.%s", prefix, l, suffix);           \
    w->field = at(t, base, n)
        B(ln_1_w, "ln_1.weight");
        B(ln_1_b, "ln_1.bias");
        B(in_proj_w, "attn.in_proj_weight");
        B(in_proj_b, "attn.in_proj_bias");
        B(out_proj_w, "attn.out_proj.weight");
        B(out_proj_b, "attn.out_proj.bias");
        B(ln_2_w, "ln_2.weight");
        B(ln_2_b, "ln_2.bias");
        B(fc_w, "mlp.c_fc.weight");
        B(fc_b, "mlp.c_fc.bias");
        B(proj_w, "mlp.c_proj.weight");
        B(proj_b, "mlp.c_proj.bias");
#undef B
    }
}

static void bind_bn(bn_weights *bn, const param_table *t, float *base, const char *prefix) {
    char n[128];
    snprintf(n, sizeof n, "%s.weight", prefix), bn->w = at(t, base, n);
    snprintf(n, sizeof n, "%s.bias", prefix), bn->b = at(t, base, n);
    snprintf(n, sizeof n, "%s.running_mean", prefix), bn->mean = at(t, base, n);
    snprintf(n, sizeof n, "%s.running_var", prefix), bn->var = at(t, base, n);
}

static clipc_status bind_resnet(resnet_weights *r, const clipc_config *c, const param_table *t, float *base) {
    int nb = c->vision_blocks[0] + c->vision_blocks[1] + c->vision_blocks[2] + c->vision_blocks[3];
    r->blocks = mem_calloc((size_t)nb, sizeof(bottleneck_weights), "resnet blocks");
    if (!r->blocks) return CLIPC_ERR_NOMEM;
    char n[128];
    r->conv1 = at(t, base, "visual.conv1.weight");
    r->conv2 = at(t, base, "visual.conv2.weight");
    r->conv3 = at(t, base, "visual.conv3.weight");
    bind_bn(&r->bn1, t, base, "visual.bn1");
    bind_bn(&r->bn2, t, base, "visual.bn2");
    bind_bn(&r->bn3, t, base, "visual.bn3");
    for (int l = 0, i = 0; l < 4; l++)
        for (int k = 0; k < c->vision_blocks[l]; k++, i++) {
            bottleneck_weights *bw = &r->blocks[i];
            snprintf(n, sizeof n, "visual.layer%d.%d.conv1.weight", l + 1, k), bw->conv1 = at(t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.conv2.weight", l + 1, k), bw->conv2 = at(t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.conv3.weight", l + 1, k), bw->conv3 = at(t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.bn1", l + 1, k), bind_bn(&bw->bn1, t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.bn2", l + 1, k), bind_bn(&bw->bn2, t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.bn3", l + 1, k), bind_bn(&bw->bn3, t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.downsample.0.weight", l + 1, k), bw->ds_conv = at(t, base, n);
            snprintf(n, sizeof n, "visual.layer%d.%d.downsample.1", l + 1, k), bind_bn(&bw->ds_bn, t, base, n);
        }
    r->pos_emb = at(t, base, "visual.attnpool.positional_embedding");
    r->q_w = at(t, base, "visual.attnpool.q_proj.weight"), r->q_b = at(t, base, "visual.attnpool.q_proj.bias");
    r->k_w = at(t, base, "visual.attnpool.k_proj.weight"), r->k_b = at(t, base, "visual.attnpool.k_proj.bias");
    r->v_w = at(t, base, "visual.attnpool.v_proj.weight"), r->v_b = at(t, base, "visual.attnpool.v_proj.bias");
    r->c_w = at(t, base, "visual.attnpool.c_proj.weight"), r->c_b = at(t, base, "visual.attnpool.c_proj.bias");
    return CLIPC_OK;
}

static clipc_status bind_tv_resnet(tv_resnet_weights *r, const clipc_config *c, const param_table *t,
                                   float *base) {
    int nb = c->vision_blocks[0] + c->vision_blocks[1] + c->vision_blocks[2] + c->vision_blocks[3];
    r->blocks = mem_calloc((size_t)nb, sizeof(bottleneck_weights), "resnet blocks");
    if (!r->blocks) return CLIPC_ERR_NOMEM;
    char n[128];
    r->conv1 = at(t, base, TV "conv1.weight");
    bind_bn(&r->bn1, t, base, TV "bn1");
    for (int l = 0, i = 0; l < 4; l++)
        for (int k = 0; k < c->vision_blocks[l]; k++, i++) {
            bottleneck_weights *bw = &r->blocks[i];
            snprintf(n, sizeof n, TV "layer%d.%d.conv1.weight", l + 1, k), bw->conv1 = at(t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.conv2.weight", l + 1, k), bw->conv2 = at(t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.conv3.weight", l + 1, k), bw->conv3 = at(t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.bn1", l + 1, k), bind_bn(&bw->bn1, t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.bn2", l + 1, k), bind_bn(&bw->bn2, t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.bn3", l + 1, k), bind_bn(&bw->bn3, t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.downsample.0.weight", l + 1, k), bw->ds_conv = at(t, base, n);
            snprintf(n, sizeof n, TV "layer%d.%d.downsample.1", l + 1, k), bind_bn(&bw->ds_bn, t, base, n);
        }
    return CLIPC_OK;
}

static clipc_status bind_distilbert(distilbert_weights *d, const clipc_config *c, const param_table *t,
                                    float *base) {
    d->layers = mem_calloc((size_t)c->transformer_layers, sizeof(distilbert_layer_weights), "DistilBERT layers");
    if (!d->layers) return CLIPC_ERR_NOMEM;
    d->word_emb = at(t, base, DB_PREFIX "embeddings.word_embeddings.weight");
    d->pos_emb = at(t, base, DB_PREFIX "embeddings.position_embeddings.weight");
    d->emb_ln_w = at(t, base, DB_PREFIX "embeddings.LayerNorm.weight");
    d->emb_ln_b = at(t, base, DB_PREFIX "embeddings.LayerNorm.bias");
    char n[128];
    for (int l = 0; l < c->transformer_layers; l++) {
        distilbert_layer_weights *w = &d->layers[l];
#define L(field, suffix)                                                                     \
    snprintf(n, sizeof n, DB_PREFIX "transformer.layer.%d.%s", l, suffix);                  \
    w->field = at(t, base, n)
        L(q_w, "attention.q_lin.weight"); L(q_b, "attention.q_lin.bias");
        L(k_w, "attention.k_lin.weight"); L(k_b, "attention.k_lin.bias");
        L(v_w, "attention.v_lin.weight"); L(v_b, "attention.v_lin.bias");
        L(o_w, "attention.out_lin.weight"); L(o_b, "attention.out_lin.bias");
        L(ln1_w, "sa_layer_norm.weight"); L(ln1_b, "sa_layer_norm.bias");
        L(fc1_w, "ffn.lin1.weight"); L(fc1_b, "ffn.lin1.bias");
        L(fc2_w, "ffn.lin2.weight"); L(fc2_b, "ffn.lin2.bias");
        L(ln2_w, "output_layer_norm.weight"); L(ln2_b, "output_layer_norm.bias");
#undef L
    }
    return CLIPC_OK;
}

clipc_status clip_weights_bind(clip_weights *w, const clipc_config *c, const param_table *t, float *base) {
    memset(w, 0, sizeof *w);
    int rn = c->vision_arch == CLIPC_VISION_RESNET, tv = c->vision_arch == CLIPC_VISION_TV_RESNET;
    int db = c->text_arch == CLIPC_TEXT_DISTILBERT;
    w->v.blocks = rn || tv ? NULL : mem_calloc((size_t)c->vision_layers, sizeof(block_weights), "vision blocks");
    w->t.blocks = db ? NULL : mem_calloc((size_t)c->transformer_layers, sizeof(block_weights), "text blocks");
    if ((!rn && !tv && !w->v.blocks) || (!db && !w->t.blocks) || (rn && bind_resnet(&w->v.rn, c, t, base)) ||
        (tv && bind_tv_resnet(&w->v.tv, c, t, base)) || (db && bind_distilbert(&w->t.db, c, t, base))) {
        clip_weights_free(w);
        return CLIPC_ERR_NOMEM;
    }
    if (rn || tv) goto text;
    w->v.conv1 = at(t, base, "visual.conv1.weight");
    w->v.class_emb = at(t, base, "visual.class_embedding");
    w->v.pos_emb = at(t, base, "visual.positional_embedding");
    w->v.ln_pre_w = at(t, base, "visual.ln_pre.weight");
    w->v.ln_pre_b = at(t, base, "visual.ln_pre.bias");
    w->v.ln_post_w = at(t, base, "visual.ln_post.weight");
    w->v.ln_post_b = at(t, base, "visual.ln_post.bias");
    w->v.proj = at(t, base, "visual.proj");
    bind_blocks(w->v.blocks, c->vision_layers, t, base, "visual.transformer.");
text:
    if (db) goto done;
    w->t.tok_emb = at(t, base, "token_embedding.weight");
    w->t.pos_emb = at(t, base, "positional_embedding");
    w->t.ln_final_w = at(t, base, "ln_final.weight");
    w->t.ln_final_b = at(t, base, "ln_final.bias");
    w->t.proj = at(t, base, "text_projection");
    bind_blocks(w->t.blocks, c->transformer_layers, t, base, "transformer.");
done:
    w->logit_scale = at(t, base, "logit_scale");
    if (c->head != CLIPC_HEAD_OPENAI) { /* the tutorial's projection heads */
        bind_head(&w->img_head, t, base, "image_projection");
        bind_head(&w->txt_head, t, base, "text_projection");
    }
    return CLIPC_OK;
}

void clip_weights_free(clip_weights *w) {
    free(w->v.blocks);
    free(w->t.blocks);
    free(w->v.rn.blocks);
    free(w->v.tv.blocks);
    free(w->t.db.layers);
    w->t.db.layers = NULL;
    w->v.blocks = w->t.blocks = NULL;
    w->v.rn.blocks = NULL;
    w->v.tv.blocks = NULL;
}
