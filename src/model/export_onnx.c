/*
 * export_onnx.c — the encoders of a model as ONNX graphs (opset 17), each
 * its own file, in the folder layout of Immich's CLIP models:
 *   visual/model.onnx     pixel_values float32 [N,3,R,R] -> image_embeds [N,E]
 *   textual/model.onnx    input_ids int64 [N,ctx]        -> text_embeds [N,E]
 * plus the configs Immich reads beside them (export_onnx_cfg.c).
 *
 * The embeddings are NOT normalised: the graphs compute what
 * clipc_encode_image / clipc_encode_text (and `clipc encode` without
 * --normalize) give, op for op in OpenAI's order: conv patch embedding,
 * class token, positional embedding, ln_pre, the residual blocks, ln_post
 * on the class token, x @ proj; the text tower's blocks run under a causal
 * mask (a constant with -inf above the diagonal, as OpenAI's
 * build_attention_mask) and the EOT feature is taken at ArgMax(ids) with
 * GatherND, as OpenAI's x[arange(N), text.argmax(-1)].
 *
 * A ModifiedResNet image tower: the three-conv stem, BatchNormalization
 * with the running statistics, the bottlenecks' strided average pools, and
 * the attention pool (the grid's mean as the one query).
 *
 * With CLIPC_ONNX_IMMICH_IO the inputs are named as Immich feeds them:
 * `image` (float32) and `text` (int32 ids), the outputs unchanged.
 *
 * Only OpenAI's towers are built; the tutorial's (torchvision ResNet,
 * DistilBERT, projection heads) are refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/onnx_writer.h"
#include "model/export_onnx.h"
#include "model/model.h"
#include "nn/params.h"

#define OPSET 17

/* The shape constants every block reshapes with. */
typedef struct {
    const char *heads;   /* [0, 0, NH, D]: split the width into heads */
    const char *merge;   /* [0, 0, C]: merge them back */
    const char *scale;   /* 1/sqrt(D) */
    const char *mask;    /* [T, T] causal mask, or NULL */
} attn_consts;

static const char *nm(char *buf, size_t n, const char *pfx, const char *leaf) {
    if (snprintf(buf, n, "%s.%s", pfx, leaf) >= (int)n) buf[n - 1] = 0; /* names are short; never cut */
    return buf;
}

static const char *layer_norm(onnx_graph *g, const char *x, const float *w, const float *b, int C, const char *pfx) {
    char a[160], c[160];
    int64_t d = C;
    const char *W = onnx_init_f32(g, nm(a, sizeof a, pfx, "weight"), &d, 1, w);
    const char *B = onnx_init_f32(g, nm(c, sizeof c, pfx, "bias"), &d, 1, b);
    onnx_attr at[2] = {ONNX_I("axis", -1), ONNX_F("epsilon", 1e-5f)};
    return onnx_op(g, "LayerNormalization", at, 2, x, W, B, NULL);
}

/* x @ w^T + b for a PyTorch Linear weight w [out, in] (b may be NULL). */
static const char *linear(onnx_graph *g, const char *x, const float *w, const float *b, int out, int in,
                          const char *pfx) {
    char a[160], c[160];
    const char *W = onnx_init_f32_t(g, nm(a, sizeof a, pfx, "weight"), out, in, w);
    const char *y = onnx_op(g, "MatMul", NULL, 0, x, W, NULL);
    if (!b) return y;
    int64_t d = out;
    return onnx_op(g, "Add", NULL, 0, y, onnx_init_f32(g, nm(c, sizeof c, pfx, "bias"), &d, 1, b), NULL);
}

static const char *activation(onnx_graph *g, const char *x, clipc_act act) {
    if (act == CLIPC_ACT_GELU) { /* exact GELU: 0.5 x (1 + erf(x / sqrt 2)); Gelu itself is opset 20 */
        const char *e = onnx_op(g, "Erf", NULL, 0, onnx_op(g, "Mul", NULL, 0, x, onnx_const_f(g, 0.70710678118654752f),
                                                           NULL), NULL);
        const char *h = onnx_op(g, "Mul", NULL, 0, x, onnx_const_f(g, 0.5f), NULL);
        return onnx_op(g, "Mul", NULL, 0, h, onnx_op(g, "Add", NULL, 0, e, onnx_const_f(g, 1.0f), NULL), NULL);
    }
    /* QuickGELU: x * sigmoid(1.702 x) */
    const char *s = onnx_op(g, "Sigmoid", NULL, 0, onnx_op(g, "Mul", NULL, 0, x, onnx_const_f(g, 1.702f), NULL), NULL);
    return onnx_op(g, "Mul", NULL, 0, x, s, NULL);
}

/* The weights of one multi-head attention: q, k, v projections (D, D) and
 * the output projection (E, D). */
typedef struct {
    const float *qw, *qb, *kw, *kb, *vw, *vb, *ow, *ob;
    int E;
} attn_weights;

/* Multi-head attention of the queries xq [N, Tq, D] over xkv [N, T, D]:
 * q scaled by 1/sqrt(head dim) before q k^T (as PyTorch), softmax, @ v,
 * heads merged, the output projection.  Gives [N, Tq, E]. */
static const char *attention(onnx_graph *g, const char *xq, const char *xkv, const attn_weights *w, int D,
                             const attn_consts *k, const char *pfx) {
    static const int64_t p_q[4] = {0, 2, 1, 3}, p_kt[4] = {0, 2, 3, 1};
    char a[160];
    const char *q = linear(g, xq, w->qw, w->qb, D, D, nm(a, sizeof a, pfx, "q_proj"));
    const char *kk = linear(g, xkv, w->kw, w->kb, D, D, nm(a, sizeof a, pfx, "k_proj"));
    const char *v = linear(g, xkv, w->vw, w->vb, D, D, nm(a, sizeof a, pfx, "v_proj"));
    onnx_attr tq = ONNX_INTS("perm", p_q, 4), tk = ONNX_INTS("perm", p_kt, 4);
    q = onnx_op(g, "Transpose", &tq, 1, onnx_op(g, "Reshape", NULL, 0, q, k->heads, NULL), NULL);
    kk = onnx_op(g, "Transpose", &tk, 1, onnx_op(g, "Reshape", NULL, 0, kk, k->heads, NULL), NULL);
    v = onnx_op(g, "Transpose", &tq, 1, onnx_op(g, "Reshape", NULL, 0, v, k->heads, NULL), NULL);
    q = onnx_op(g, "Mul", NULL, 0, q, k->scale, NULL);
    const char *s = onnx_op(g, "MatMul", NULL, 0, q, kk, NULL); /* [N, NH, Tq, T] */
    if (k->mask) s = onnx_op(g, "Add", NULL, 0, s, k->mask, NULL);
    onnx_attr ax = ONNX_I("axis", -1);
    const char *o = onnx_op(g, "MatMul", NULL, 0, onnx_op(g, "Softmax", &ax, 1, s, NULL), v, NULL);
    o = onnx_op(g, "Reshape", NULL, 0, onnx_op(g, "Transpose", &tq, 1, o, NULL), k->merge, NULL);
    return linear(g, o, w->ow, w->ob, w->E, D, nm(a, sizeof a, pfx, w->E == D ? "out_proj" : "c_proj"));
}

/* OpenAI's ResidualAttentionBlock: x + attn(ln_1(x)), then + mlp(ln_2(.)). */
static const char *resblock(onnx_graph *g, const char *x, const block_weights *w, int C, clipc_act act,
                            const attn_consts *k, const char *pfx) {
    char a[160];
    size_t CC = (size_t)C * C;
    const attn_weights aw = {w->in_proj_w,          w->in_proj_b,     w->in_proj_w + CC, w->in_proj_b + C,
                             w->in_proj_w + 2 * CC, w->in_proj_b + 2 * C, w->out_proj_w,  w->out_proj_b, C};
    const char *h = layer_norm(g, x, w->ln_1_w, w->ln_1_b, C, nm(a, sizeof a, pfx, "ln_1"));
    x = onnx_op(g, "Add", NULL, 0, x, attention(g, h, h, &aw, C, k, nm(a, sizeof a, pfx, "attn")), NULL);
    h = layer_norm(g, x, w->ln_2_w, w->ln_2_b, C, nm(a, sizeof a, pfx, "ln_2"));
    h = linear(g, h, w->fc_w, w->fc_b, 4 * C, C, nm(a, sizeof a, pfx, "mlp.c_fc"));
    h = linear(g, activation(g, h, act), w->proj_w, w->proj_b, C, 4 * C, nm(a, sizeof a, pfx, "mlp.c_proj"));
    return onnx_op(g, "Add", NULL, 0, x, h, NULL);
}

static void attn_consts_init(onnx_graph *g, attn_consts *k, int C, int NH) {
    int64_t heads[4] = {0, 0, NH, C / NH}, merge[3] = {0, 0, C};
    k->heads = onnx_const_ints(g, heads, 4);
    k->merge = onnx_const_ints(g, merge, 3);
    k->scale = onnx_const_f(g, (float)(1.0 / sqrt((double)(C / NH))));
    k->mask = NULL;
}

static const char *transformer(onnx_graph *g, const char *x, const block_weights *blocks, int L, int C,
                               clipc_act act, const attn_consts *k, const char *pfx) {
    char a[160];
    for (int l = 0; l < L; l++) {
        if (snprintf(a, sizeof a, "%s.resblocks.%d", pfx, l) >= (int)sizeof a) a[0] = 0;
        x = resblock(g, x, &blocks[l], C, act, k, a);
    }
    return x;
}

/* Conv (no bias) -> BatchNormalization (running statistics) [-> Relu]. */
static const char *conv_bn(onnx_graph *g, const char *x, const float *cw, const bn_weights *bn, int O, int I, int K,
                           int stride, int relu, const char *conv_name, const char *bn_name) {
    char a[160], b[160], c[160], d[160];
    int64_t wd[4] = {O, I, K, K}, kk[2] = {K, K}, st[2] = {stride, stride}, pad = K / 2, pads[4] = {pad, pad, pad, pad};
    int64_t od = O;
    onnx_attr ca[3] = {ONNX_INTS("kernel_shape", kk, 2), ONNX_INTS("strides", st, 2), ONNX_INTS("pads", pads, 4)};
    x = onnx_op(g, "Conv", ca, 3, x, onnx_init_f32(g, nm(a, sizeof a, conv_name, "weight"), wd, 4, cw), NULL);
    onnx_attr eps = ONNX_F("epsilon", 1e-5f);
    x = onnx_op(g, "BatchNormalization", &eps, 1, x, onnx_init_f32(g, nm(a, sizeof a, bn_name, "weight"), &od, 1, bn->w),
                onnx_init_f32(g, nm(b, sizeof b, bn_name, "bias"), &od, 1, bn->b),
                onnx_init_f32(g, nm(c, sizeof c, bn_name, "running_mean"), &od, 1, bn->mean),
                onnx_init_f32(g, nm(d, sizeof d, bn_name, "running_var"), &od, 1, bn->var), NULL);
    return relu ? onnx_op(g, "Relu", NULL, 0, x, NULL) : x;
}

static const char *avg_pool(onnx_graph *g, const char *x, int k) {
    int64_t kk[2] = {k, k};
    onnx_attr pa[2] = {ONNX_INTS("kernel_shape", kk, 2), ONNX_INTS("strides", kk, 2)};
    return onnx_op(g, "AveragePool", pa, 2, x, NULL);
}

/* OpenAI's Bottleneck: the stride is taken by an average pool after conv2
 * (and before the shortcut's 1x1 conv). */
static const char *bottleneck(onnx_graph *g, const char *x, const bottleneck_weights *w, int Cin, int P, int stride,
                              const char *pfx) {
    char c[160], b[160];
    const char *y = conv_bn(g, x, w->conv1, &w->bn1, P, Cin, 1, 1, 1, nm(c, sizeof c, pfx, "conv1"),
                            nm(b, sizeof b, pfx, "bn1"));
    y = conv_bn(g, y, w->conv2, &w->bn2, P, P, 3, 1, 1, nm(c, sizeof c, pfx, "conv2"), nm(b, sizeof b, pfx, "bn2"));
    if (stride > 1) y = avg_pool(g, y, stride);
    y = conv_bn(g, y, w->conv3, &w->bn3, 4 * P, P, 1, 1, 0, nm(c, sizeof c, pfx, "conv3"), nm(b, sizeof b, pfx, "bn3"));
    const char *id = x;
    if (w->ds_conv)
        id = conv_bn(g, stride > 1 ? avg_pool(g, x, stride) : x, w->ds_conv, &w->ds_bn, 4 * P, Cin, 1, 1, 0,
                     nm(c, sizeof c, pfx, "downsample.0"), nm(b, sizeof b, pfx, "downsample.1"));
    return onnx_op(g, "Relu", NULL, 0, onnx_op(g, "Add", NULL, 0, y, id, NULL), NULL);
}

/* OpenAI's ModifiedResNet: three-conv stem, avgpool, four stages of
 * bottlenecks, then AttentionPool2d (the mean of the grid as the one query
 * over [mean, grid] + positional embedding). */
static void build_resnet(onnx_graph *g, const clipc_model *m, const char *in) {
    const clipc_config *c = &m->cfg;
    const resnet_weights *w = &m->w.v.rn;
    int W = c->vision_width, S = c->image_resolution / 32, D = 32 * W;
    const char *x = conv_bn(g, in, w->conv1, &w->bn1, W / 2, 3, 3, 2, 1, "visual.conv1", "visual.bn1");
    x = conv_bn(g, x, w->conv2, &w->bn2, W / 2, W / 2, 3, 1, 1, "visual.conv2", "visual.bn2");
    x = conv_bn(g, x, w->conv3, &w->bn3, W, W / 2, 3, 1, 1, "visual.conv3", "visual.bn3");
    x = avg_pool(g, x, 2);
    int Cin = W, i = 0;
    char pfx[96];
    for (int l = 0; l < 4; l++)
        for (int k = 0; k < c->vision_blocks[l]; k++, i++) {
            int P = W << l, stride = (l > 0 && k == 0) ? 2 : 1;
            if (snprintf(pfx, sizeof pfx, "visual.layer%d.%d", l + 1, k) >= (int)sizeof pfx) pfx[0] = 0;
            x = bottleneck(g, x, &w->blocks[i], Cin, P, stride, pfx);
            Cin = 4 * P;
        }
    /* [N, D, S, S] -> [N, S*S, D], the mean in front, + positional embedding */
    static const int64_t p021[3] = {0, 2, 1}, ax1[1] = {1};
    int64_t flat[3] = {0, D, -1}, pos_d[2] = {S * S + 1, D}, zero = 0, one = 1;
    onnx_attr t021 = ONNX_INTS("perm", p021, 3), cat = ONNX_I("axis", 1);
    onnx_attr rm[2] = {ONNX_INTS("axes", ax1, 1), ONNX_I("keepdims", 1)};
    x = onnx_op(g, "Transpose", &t021, 1, onnx_op(g, "Reshape", NULL, 0, x, onnx_const_ints(g, flat, 3), NULL), NULL);
    x = onnx_op(g, "Concat", &cat, 1, onnx_op(g, "ReduceMean", rm, 2, x, NULL), x, NULL);
    x = onnx_op(g, "Add", NULL, 0, x, onnx_init_f32(g, "visual.attnpool.positional_embedding", pos_d, 2, w->pos_emb),
                NULL);
    const char *q = onnx_op(g, "Slice", NULL, 0, x, onnx_const_ints(g, &zero, 1), onnx_const_ints(g, &one, 1),
                            onnx_const_ints(g, &one, 1), NULL); /* [N, 1, D] */
    attn_consts k;
    attn_consts_init(g, &k, D, c->vision_heads);
    const attn_weights aw = {w->q_w, w->q_b, w->k_w, w->k_b, w->v_w, w->v_b, w->c_w, w->c_b, c->embed_dim};
    x = attention(g, q, x, &aw, D, &k, "visual.attnpool"); /* [N, 1, E] */
    onnx_attr sq = ONNX_I("axis", 1);
    onnx_op_to(g, "image_embeds", "Gather", &sq, 1, x, onnx_init_i64(g, NULL, NULL, 0, &zero), NULL);
}

static void build_visual(onnx_graph *g, const clipc_model *m, unsigned flags) {
    const clipc_config *c = &m->cfg;
    const vision_weights *w = &m->w.v;
    int W = c->vision_width, P = c->vision_patch_size, R = c->image_resolution, E = c->embed_dim;
    const char *in = (flags & CLIPC_ONNX_IMMICH_IO) ? "image" : "pixel_values";
    int64_t in_dims[4] = {-1, 3, R, R}, out_dims[2] = {-1, E};
    onnx_graph_input(g, in, ONNX_FLOAT, in_dims, 4);
    if (c->vision_arch == CLIPC_VISION_RESNET) {
        build_resnet(g, m, in);
        onnx_graph_output(g, "image_embeds", ONNX_FLOAT, out_dims, 2);
        return;
    }
    int G = R / P;
    int64_t cd[4] = {W, 3, P, P}, kp[2] = {P, P};
    const char *cw = onnx_init_f32(g, "visual.conv1.weight", cd, 4, w->conv1);
    onnx_attr conv[2] = {ONNX_INTS("kernel_shape", kp, 2), ONNX_INTS("strides", kp, 2)};
    const char *x = onnx_op(g, "Conv", conv, 2, in, cw, NULL); /* [N, W, G, G] */
    int64_t flat[3] = {0, W, -1};
    static const int64_t p021[3] = {0, 2, 1};
    onnx_attr t021 = ONNX_INTS("perm", p021, 3);
    x = onnx_op(g, "Transpose", &t021, 1, onnx_op(g, "Reshape", NULL, 0, x, onnx_const_ints(g, flat, 3), NULL),
                NULL); /* [N, G*G, W] */
    /* The class token, broadcast to [N, 1, W] with the batch size of the input. */
    onnx_attr sh[2] = {ONNX_I("start", 0), ONNX_I("end", 1)};
    int64_t one_w[2] = {1, W}, cls_d[3] = {1, 1, W}, pos_d[2] = {G * G + 1, W};
    onnx_attr ax0 = ONNX_I("axis", 0), ax1 = ONNX_I("axis", 1);
    const char *shape = onnx_op(g, "Concat", &ax0, 1, onnx_op(g, "Shape", sh, 2, in, NULL),
                                onnx_const_ints(g, one_w, 2), NULL);
    const char *cls = onnx_op(g, "Expand", NULL, 0, onnx_init_f32(g, "visual.class_embedding", cls_d, 3, w->class_emb),
                              shape, NULL);
    x = onnx_op(g, "Concat", &ax1, 1, cls, x, NULL);
    x = onnx_op(g, "Add", NULL, 0, x, onnx_init_f32(g, "visual.positional_embedding", pos_d, 2, w->pos_emb), NULL);
    x = layer_norm(g, x, w->ln_pre_w, w->ln_pre_b, W, "visual.ln_pre");
    attn_consts k;
    attn_consts_init(g, &k, W, c->vision_heads);
    x = transformer(g, x, w->blocks, c->vision_layers, W, c->act, &k, "visual.transformer");
    int64_t zero = 0;
    x = onnx_op(g, "Gather", &ax1, 1, x, onnx_init_i64(g, NULL, NULL, 0, &zero), NULL); /* class token [N, W] */
    x = layer_norm(g, x, w->ln_post_w, w->ln_post_b, W, "visual.ln_post");
    int64_t pd[2] = {W, E};
    onnx_op_to(g, "image_embeds", "MatMul", NULL, 0, x, onnx_init_f32(g, "visual.proj", pd, 2, w->proj), NULL);
    onnx_graph_output(g, "image_embeds", ONNX_FLOAT, out_dims, 2);
}

static void build_textual(onnx_graph *g, const clipc_model *m, unsigned flags, float *mask) {
    const clipc_config *c = &m->cfg;
    const text_weights *w = &m->w.t;
    int C = c->transformer_width, T = c->context_length, E = c->embed_dim;
    int immich = (flags & CLIPC_ONNX_IMMICH_IO) != 0;
    const char *in = immich ? "text" : "input_ids";
    int64_t in_dims[2] = {-1, T}, out_dims[2] = {-1, E};
    onnx_graph_input(g, in, immich ? ONNX_INT32 : ONNX_INT64, in_dims, 2);
    int64_t tok_d[2] = {c->vocab_size, C}, pos_d[2] = {T, C}, mask_d[2] = {T, T};
    onnx_attr ax0 = ONNX_I("axis", 0);
    const char *x = onnx_op(g, "Gather", &ax0, 1, onnx_init_f32(g, "token_embedding.weight", tok_d, 2, w->tok_emb), in,
                            NULL);
    x = onnx_op(g, "Add", NULL, 0, x, onnx_init_f32(g, "positional_embedding", pos_d, 2, w->pos_emb), NULL);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[(size_t)i * T + j] = j > i ? -INFINITY : 0.0f;
    attn_consts k;
    attn_consts_init(g, &k, C, c->transformer_heads);
    k.mask = onnx_init_f32(g, "attn_mask", mask_d, 2, mask);
    x = transformer(g, x, w->blocks, c->transformer_layers, C, c->act, &k, "transformer");
    /* EOT pooling: the position of the largest id (EOT, 49407) of each row;
     * ArgMax runs on int32 (ORT's CPU ArgMax has no int64 kernel). */
    onnx_attr to32 = ONNX_I("to", ONNX_INT32), am[2] = {ONNX_I("axis", 1), ONNX_I("keepdims", 0)};
    const char *ids32 = immich ? in : onnx_op(g, "Cast", &to32, 1, in, NULL);
    int64_t one = 1;
    const char *eot = onnx_op(g, "ArgMax", am, 2, ids32, NULL); /* [N] int64 */
    const char *idx = onnx_op(g, "Unsqueeze", NULL, 0, eot, onnx_const_ints(g, &one, 1), NULL); /* [N, 1] */
    onnx_attr bd = ONNX_I("batch_dims", 1);
    x = onnx_op(g, "GatherND", &bd, 1, x, idx, NULL); /* [N, C] */
    x = layer_norm(g, x, w->ln_final_w, w->ln_final_b, C, "ln_final");
    int64_t pd[2] = {C, E};
    onnx_op_to(g, "text_embeds", "MatMul", NULL, 0, x, onnx_init_f32(g, "text_projection", pd, 2, w->proj), NULL);
    onnx_graph_output(g, "text_embeds", ONNX_FLOAT, out_dims, 2);
}

clipc_status export_onnx_check(const clipc_model *m) {
    const clipc_config *c = &m->cfg;
    if (c->vision_arch != CLIPC_VISION_VIT && c->vision_arch != CLIPC_VISION_RESNET)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "ONNX export: the image tower is the tutorial's torchvision "
                           "ResNet; only OpenAI's VisionTransformer and ModifiedResNet are exported");
    if (c->text_arch != CLIPC_TEXT_CLIP || c->head != CLIPC_HEAD_OPENAI)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "ONNX export: only OpenAI's text transformer and projections "
                           "are exported, not the tutorial's DistilBERT tower or projection heads");
    return CLIPC_OK;
}

clipc_status export_onnx_graph(const clipc_model *m, int textual, unsigned flags, const char *path, size_t max_bytes) {
    clipc_status s = export_onnx_check(m);
    if (s) return s;
    onnx_graph *g = onnx_graph_create(textual ? "clipc_textual" : "clipc_visual");
    if (!g) return CLIPC_ERR_NOMEM;
    float *mask = NULL;
    if (textual) {
        size_t T = (size_t)m->cfg.context_length;
        if (!(mask = malloc(T * T * sizeof(float)))) {
            onnx_graph_free(g);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory for the text tower's mask");
        }
        build_textual(g, m, flags, mask);
    } else {
        build_visual(g, m, flags);
    }
    char *cfg = clipc_config_json(&m->cfg);
    const char *meta[] = {"clipc.config", cfg ? cfg : "", "clipc.output",
                          "unnormalised embeddings: clipc encode's output without --normalize", NULL};
    s = onnx_graph_write(g, path, OPSET, meta, max_bytes);
    free(cfg);
    free(mask);
    onnx_graph_free(g);
    return s;
}
