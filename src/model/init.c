/*
 * init.c — initial weights for a model trained from scratch.
 *
 * The text tower gets OpenAI's initialize_parameters() (normal with the
 * stds of clip/model.py).  OpenAI's code leaves the ViT to PyTorch's module
 * defaults, and so does this file, distribution for distribution (we do not
 * claim "OpenAI init" for the vision tower — see pitfalls.md #11):
 *   conv1, nn.Linear weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform, a=sqrt(5));
 *   nn.Linear biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 *   MultiheadAttention in_proj: xavier_uniform, its biases 0;
 *   class/positional embedding, proj: width^-0.5 * N(0, 1);
 *   LayerNorm: weight 1, bias 0;  logit_scale: ln(1/0.07).
 * A ModifiedResNet image tower: see init_resnet_tensor; torchvision's
 * ResNet (the tutorial's): init_tv_resnet_tensor; a DistilBERT text tower:
 * init_distilbert_tensor; the tutorial's heads: init_head_tensor.
 * Every tensor draws from its own stream derived from (seed, tensor index),
 * so the result does not depend on the order tensors are filled in.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "base/error.h"
#include "base/rng.h"
#include "model/model.h"
#include "nn/params.h"

static void fill_normal(float *p, size_t n, double std, rng_state *r) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(std * rng_normal(r));
}
static void fill_uniform(float *p, size_t n, double bound, rng_state *r) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((2.0 * rng_double(r) - 1.0) * bound);
}
static void fill_const(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}
static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ModifiedResNet (OpenAI's initialize_parameters for RN, PyTorch defaults
 * elsewhere): attnpool q/k/v/c_proj weights N(0, D^-0.5) with D the pool's
 * width, their biases nn.Linear's U(+-1/sqrt(D)); positional embedding
 * N(0, 1) / sqrt(D); convolutions U(+-1/sqrt(fan_in)) (kaiming_uniform,
 * a = sqrt(5)); BatchNorm weight 1, bias 0, running mean 0, var 1, except
 * every bottleneck's bn3.weight, which OpenAI zeroes (each block starts as
 * its shortcut). */
static void init_resnet_tensor(const param_info *p, float *x, const clipc_config *c, rng_state *r) {
    const char *n = p->name;
    double D = 32.0 * c->vision_width;
    if (!strcmp(n, "visual.attnpool.positional_embedding")) fill_normal(x, p->numel, pow(D, -0.5), r);
    else if (strstr(n, ".attnpool.") && ends_with(n, ".weight")) fill_normal(x, p->numel, pow(D, -0.5), r);
    else if (strstr(n, ".attnpool.")) fill_uniform(x, p->numel, 1.0 / sqrt(D), r);
    else if (ends_with(n, "running_mean") || ends_with(n, ".bias")) fill_const(x, p->numel, 0.0f);
    else if (ends_with(n, "running_var")) fill_const(x, p->numel, 1.0f);
    else if (p->ndim == 1) fill_const(x, p->numel, !strncmp(n, "visual.layer", 12) && ends_with(n, "bn3.weight") ? 0.0f : 1.0f);
    else fill_uniform(x, p->numel, 1.0 / sqrt((double)p->numel / p->shape[0]), r);
}

/* tvresnet: torchvision's ResNet.__init__ (zero_init_residual False):
 * convolutions kaiming_normal_(mode='fan_out', nonlinearity='relu'), i.e.
 * N(0, sqrt(2 / (out_channels * k * k))); BatchNorm weight 1, bias 0,
 * running mean 0, var 1. */
static void init_tv_resnet_tensor(const param_info *p, float *x, rng_state *r) {
    const char *n = p->name;
    if (p->ndim == 4) fill_normal(x, p->numel, sqrt(2.0 / ((double)p->shape[0] * p->shape[2] * p->shape[3])), r);
    else if (ends_with(n, "running_var") || ends_with(n, ".weight")) fill_const(x, p->numel, 1.0f);
    else fill_const(x, p->numel, 0.0f); /* bias, running_mean */
}

/* ---- the tutorial's projection heads: PyTorch's nn.Linear and
 * nn.LayerNorm defaults (weights and biases U(+-1/sqrt(fan_in)) with the
 * fan-in of the Linear they belong to; LayerNorm 1, 0).  1 if p is one. */
static int init_head_tensor(const param_table *t, const param_info *p, float *x, rng_state *r) {
    const char *n = p->name;
    if (strncmp(n, "image_projection.", 17) && strncmp(n, "text_projection.", 16)) return 0;
    if (strstr(n, ".layer_norm.")) {
        fill_const(x, p->numel, ends_with(n, ".weight") ? 1.0f : 0.0f);
    } else { /* the weight of this Linear: its fan-in is shape[1] */
        char w[96];
        snprintf(w, sizeof w, "%.*s.weight", (int)(strrchr(n, '.') - n), n);
        int i = param_table_find(t, w);
        fill_uniform(x, p->numel, 1.0 / sqrt(i >= 0 ? (double)t->p[i].shape[1] : 1.0), r);
    }
    return 1;
}

/* DistilBERT (HF's DistilBertPreTrainedModel._init_weights): nn.Linear
 * weights and both embeddings N(0, 0.02), biases 0, LayerNorm weight 1 and
 * bias 0; the word embedding's padding row ([PAD] = 0) zero. */
static void init_distilbert_tensor(const param_info *p, float *x, rng_state *r) {
    const char *n = p->name;
    if (strstr(n, "LayerNorm.") || strstr(n, "layer_norm.")) fill_const(x, p->numel, ends_with(n, ".weight") ? 1.0f : 0.0f);
    else if (ends_with(n, ".bias")) fill_const(x, p->numel, 0.0f);
    else fill_normal(x, p->numel, 0.02, r);
    if (ends_with(n, "embeddings.word_embeddings.weight")) fill_const(x, (size_t)p->shape[1], 0.0f);
}

static void init_tensor(const param_info *p, float *x, const clipc_config *c, rng_state *r) {
    const char *n = p->name;
    if (c->vision_arch == CLIPC_VISION_TV_RESNET && !strncmp(n, "image_encoder.model.", 20)) {
        init_tv_resnet_tensor(p, x, r);
        return;
    }
    if (c->text_arch == CLIPC_TEXT_DISTILBERT && !strncmp(n, "text_encoder.model.", 19)) {
        init_distilbert_tensor(p, x, r);
        return;
    }
    if (c->vision_arch == CLIPC_VISION_RESNET && !strncmp(n, "visual.", 7)) {
        init_resnet_tensor(p, x, c, r);
        return;
    }
    int text = p->group == PG_TEXT || !strcmp(n, "text_projection");
    double fan_in = p->ndim >= 2 ? (double)p->numel / p->shape[0] : 1.0;
    if (ends_with(n, "ln_1.weight") || ends_with(n, "ln_2.weight") || ends_with(n, "ln_final.weight") ||
        ends_with(n, "ln_pre.weight") || ends_with(n, "ln_post.weight")) {
        fill_const(x, p->numel, 1.0f);
    } else if (strstr(n, ".ln_") || strstr(n, "ln_final.")) {
        fill_const(x, p->numel, 0.0f);
    } else if (!strcmp(n, "logit_scale")) {
        x[0] = (float)log(1.0 / 0.07);
    } else if (ends_with(n, "attn.in_proj_bias") || ends_with(n, "attn.out_proj.bias")) {
        fill_const(x, p->numel, 0.0f);
    } else if (text) {
        double w = c->transformer_width, L = c->transformer_layers;
        double attn_std = pow(w, -0.5), proj_std = pow(w, -0.5) * pow(2 * L, -0.5), fc_std = pow(2 * w, -0.5);
        if (!strcmp(n, "token_embedding.weight")) fill_normal(x, p->numel, 0.02, r);
        else if (!strcmp(n, "positional_embedding")) fill_normal(x, p->numel, 0.01, r);
        else if (ends_with(n, "attn.in_proj_weight")) fill_normal(x, p->numel, attn_std, r);
        else if (ends_with(n, "attn.out_proj.weight")) fill_normal(x, p->numel, proj_std, r);
        else if (ends_with(n, "mlp.c_fc.weight")) fill_normal(x, p->numel, fc_std, r);
        else if (ends_with(n, "mlp.c_proj.weight")) fill_normal(x, p->numel, proj_std, r);
        else if (!strcmp(n, "text_projection")) fill_normal(x, p->numel, attn_std, r);
        else if (ends_with(n, "c_fc.bias")) fill_uniform(x, p->numel, 1.0 / sqrt(w), r); /* nn.Linear default */
        else fill_uniform(x, p->numel, 1.0 / sqrt(4 * w), r);                            /* c_proj.bias */
    } else {
        double scale = pow(c->vision_width, -0.5);
        if (!strcmp(n, "visual.class_embedding") || !strcmp(n, "visual.positional_embedding") ||
            !strcmp(n, "visual.proj"))
            fill_normal(x, p->numel, scale, r);
        else if (ends_with(n, "attn.in_proj_weight"))
            fill_uniform(x, p->numel, sqrt(6.0 / (p->shape[0] / 3 + p->shape[1])), r); /* xavier, per q/k/v */
        else if (p->ndim >= 2)
            fill_uniform(x, p->numel, 1.0 / sqrt(fan_in), r);
        else /* MLP biases: fan_in of the layer they belong to */
            fill_uniform(x, p->numel, 1.0 / sqrt(ends_with(n, "c_fc.bias") ? c->vision_width : 4.0 * c->vision_width), r);
    }
}

clipc_status clipc_model_create(const clipc_config *cfg, uint64_t seed, clipc_model **out) {
    *out = NULL;
    clipc_model *m = mem_calloc(1, sizeof *m, "model");
    if (!m) return CLIPC_ERR_NOMEM;
    clipc_status s = param_table_init(cfg, &m->tab);
    if (s) goto fail;
    m->cfg = *cfg;
    m->origin.layout = CLIPC_LAYOUT_CLIPC;
    m->params = mem_alloc(m->tab.total * sizeof(float), "model parameters");
    if (!m->params) {
        s = CLIPC_ERR_NOMEM;
        goto fail;
    }
    m->owns_params = 1;
    for (int i = 0; i < m->tab.n; i++) {
        rng_state r;
        rng_seed(&r, rng_derive(seed, (uint64_t)i));
        if (!init_head_tensor(&m->tab, &m->tab.p[i], m->params + m->tab.p[i].offset, &r))
            init_tensor(&m->tab.p[i], m->params + m->tab.p[i].offset, cfg, &r);
    }
    s = clip_weights_bind(&m->w, cfg, &m->tab, m->params);
    if (s) goto fail;
    *out = m;
    return CLIPC_OK;
fail:
    clipc_model_free(m);
    return s;
}
