/*
 * params.h — the parameters of a CLIP model: one table of named tensors
 * (OpenAI's state-dict names, sorted by name) laid out back to back in one
 * flat float buffer, and typed views (clip_weights) into such a buffer.
 *
 * The same table describes the parameters, their gradients and the Adam
 * moments, so each is a single allocation: one memset to zero the grads, one
 * allreduce later for data parallelism.  Sorting by name makes the flat
 * buffer byte-identical to the data section of a safetensors file written by
 * clipc, which is what lets a model be mmap'ed with no copy.
 */
#ifndef CLIPC_PARAMS_H
#define CLIPC_PARAMS_H

#include <stddef.h>
#include "clipc.h"
#include "nn/proj_head.h"

/* Which optimiser group a parameter belongs to (per-group learning rates). */
typedef enum { PG_VISION = 0, PG_TEXT = 1, PG_PROJ = 2, PG_LOGIT_SCALE = 3 } param_group;

typedef struct {
    char name[80];
    int ndim;
    int shape[4];
    size_t numel;
    size_t offset;     /* in floats from the start of the flat buffer */
    param_group group;
    int layer;         /* transformer block index, -1 when not in a block */
    int decay;         /* 1 if weight decay applies by default (matrices, not embeddings) */
    int buffer;        /* 1 = a BatchNorm running statistic: stored, loaded and saved like a
                        * parameter, but never trained: backward gives it no gradient and
                        * the trainer leaves it out of Adam and weight decay altogether */
} param_info;

typedef struct {
    param_info *p;
    int n;
    size_t total;      /* floats */
} param_table;

clipc_status param_table_init(const clipc_config *cfg, param_table *t);
void param_table_free(param_table *t);
int param_table_find(const param_table *t, const char *name); /* index or -1 */

/* One residual attention block (pre-LN): x += attn(ln_1(x)); x += mlp(ln_2(x)). */
typedef struct {
    float *ln_1_w, *ln_1_b;         /* (C) */
    float *in_proj_w, *in_proj_b;   /* (3C, C), (3C): q, k, v stacked by rows */
    float *out_proj_w, *out_proj_b; /* (C, C), (C) */
    float *ln_2_w, *ln_2_b;         /* (C) */
    float *fc_w, *fc_b;             /* (4C, C), (4C) */
    float *proj_w, *proj_b;         /* (C, 4C), (C) */
} block_weights;

/* ---- ModifiedResNet (nn/resnet_tower.h); OpenAI's names in the comments. */
typedef struct { float *w, *b, *mean, *var; } bn_weights; /* bnX.{weight,bias,running_mean,running_var} */

typedef struct {
    float *conv1, *conv2, *conv3;   /* (P, Cin, 1, 1), (P, P, 3, 3), (4P, P, 1, 1) */
    bn_weights bn1, bn2, bn3;       /* (P), (P), (4P) */
    float *ds_conv;                 /* downsample.0.weight (4P, Cin, 1, 1); NULL: no downsample */
    bn_weights ds_bn;               /* downsample.1.* (4P) */
} bottleneck_weights;

typedef struct {
    float *conv1, *conv2, *conv3;   /* stem: (w/2, 3, 3, 3), (w/2, w/2, 3, 3), (w, w/2, 3, 3) */
    bn_weights bn1, bn2, bn3;
    bottleneck_weights *blocks;     /* layer1.0, layer1.1, ..., layer4.N: stage by stage */
    float *pos_emb;                 /* attnpool.positional_embedding (S*S+1, D), D = 32 w */
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* attnpool.{q,k,v}_proj (D, D), (D) */
    float *c_w, *c_b;               /* attnpool.c_proj (E, D), (E) */
} resnet_weights;

/* ---- torchvision's/timm's ResNet (nn/tv_resnet_tower.h), the tutorial's
 * image tower, under image_encoder.model.<torchvision name>.  Its blocks
 * have the ModifiedResNet's tensors (the stride sits on conv2 instead). */
typedef struct {
    float *conv1;                   /* stem (w, 3, 7, 7) */
    bn_weights bn1;                 /* (w) */
    bottleneck_weights *blocks;     /* layer1.0 ... layer4.N, stage by stage */
} tv_resnet_weights;

typedef struct {
    float *conv1;                   /* (W, 3, P, P), no bias */
    float *class_emb;               /* (W) */
    float *pos_emb;                 /* (G*G+1, W) */
    float *ln_pre_w, *ln_pre_b;     /* (W) */
    block_weights *blocks;          /* [vision_layers] */
    float *ln_post_w, *ln_post_b;   /* (W) */
    float *proj;                    /* (W, E): used as x @ proj */
    resnet_weights rn;              /* a ModifiedResNet's (cfg->vision_arch); the ViT fields are then NULL */
    tv_resnet_weights tv;           /* a torchvision ResNet's (CLIPC_VISION_TV_RESNET) */
} vision_weights;

/* ---- DistilBERT (nn/distilbert_tower.h): Hugging Face DistilBertModel's
 * names under `text_encoder.model.` in the comments (text_arch
 * CLIPC_TEXT_DISTILBERT).  Linear weights (OUT, IN) as nn.Linear. */
typedef struct {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* attention.{q,k,v}_lin (C, C), (C) */
    float *o_w, *o_b;               /* attention.out_lin (C, C), (C) */
    float *ln1_w, *ln1_b;           /* sa_layer_norm (C) */
    float *fc1_w, *fc1_b;           /* ffn.lin1 (4C, C), (4C) */
    float *fc2_w, *fc2_b;           /* ffn.lin2 (C, 4C), (C) */
    float *ln2_w, *ln2_b;           /* output_layer_norm (C) */
} distilbert_layer_weights;

typedef struct {
    float *word_emb;                /* embeddings.word_embeddings (V, C) */
    float *pos_emb;                 /* embeddings.position_embeddings (text_positions, C) */
    float *emb_ln_w, *emb_ln_b;     /* embeddings.LayerNorm (C) */
    distilbert_layer_weights *layers; /* transformer.layer.N [transformer_layers] */
} distilbert_weights;

typedef struct {
    float *tok_emb;                 /* (V, C) */
    float *pos_emb;                 /* (ctx, C) */
    block_weights *blocks;          /* [transformer_layers] */
    float *ln_final_w, *ln_final_b; /* (C) */
    float *proj;                    /* (C, E): text_projection, used as x @ proj */
    distilbert_weights db;          /* a DistilBERT's (cfg->text_arch); the fields above are then NULL */
} text_weights;

typedef struct {
    vision_weights v;
    text_weights t;
    float *logit_scale;             /* () log of the logit scale */
    /* the tutorial's projection heads (image_projection.*, text_projection.*);
     * NULL views for OpenAI's models, whose projections are v.proj / t.proj */
    proj_head_weights img_head, txt_head;
} clip_weights;

/* Points the views of *w into `base` (a flat buffer laid out by *t).
 * Allocates the block arrays; release with clip_weights_free. */
clipc_status clip_weights_bind(clip_weights *w, const clipc_config *cfg, const param_table *t, float *base);
void clip_weights_free(clip_weights *w);

#endif
