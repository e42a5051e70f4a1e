/*
 * test_tutorial_model.c — the tutorial's model (seed 002) end to end:
 * tutorial-tiny made, saved and loaded back with its architecture and
 * WordPiece vocabulary inside the file; encoding equal to the training
 * graph in eval mode; every tensor's gradient through the whole graph
 * against finite differences; and training on an emoji-mini slice that
 * retrieves unseen-style images well above chance and above a
 * shuffled-caption control.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/params.h"
#include "harness.h"

#define VOCAB "tests/data/wordpiece/vocab.txt"

static clipc_model *tiny_model(clipc_head head, uint64_t seed) {
    clipc_config c;
    if (clipc_config_named("tutorial-tiny", &c)) return NULL;
    clipc_tutorial_init ti = {NULL, NULL, VOCAB, head};
    clipc_model *m = NULL;
    if (clipc_model_create_tutorial(&c, seed, &ti, &m)) return NULL;
    return m;
}

static void fill_pixels(float *px, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) px[i] = (float)(((i * 2654435761u + seed * 40503u) >> 7) % 1000) / 500.0f - 1.0f;
}

TEST(tutorial_tiny_save_load_encode_round_trip) {
    clipc_model *m = tiny_model(CLIPC_HEAD_MLP, 3);
    REQUIRE(m);
    const clipc_config *c = clipc_model_config(m);
    CHECK(c->vocab_size == 233 && c->head == CLIPC_HEAD_MLP && c->text_arch == CLIPC_TEXT_DISTILBERT);
    char p[600];
    snprintf(p, sizeof p, "%s/tutorial.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, p));
    clipc_model *l;
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    const clipc_config *lc = clipc_model_config(l);
    CHECK(lc->vision_arch == CLIPC_VISION_TV_RESNET && lc->text_arch == CLIPC_TEXT_DISTILBERT &&
          lc->head == CLIPC_HEAD_MLP && lc->vocab_size == 233 && lc->text_positions == 64 &&
          lc->context_length == 32 && lc->transformer_heads == 2 && lc->image_resolution == 32 &&
          lc->embed_dim == 32 && !memcmp(lc->vision_blocks, c->vision_blocks, sizeof c->vision_blocks));
    REQUIRE(clipc_model_vocab(l) && !strcmp(clipc_model_vocab(l), clipc_model_vocab(m)));
    /* The tokenizer comes from the file: WordPiece ids, [CLS] first, [SEP] kept. */
    clipc_tokenizer *tok;
    REQUIRE_OK(clipc_model_tokenizer(l, &tok));
    int32_t ids[2 * 32];
    REQUIRE_OK(clipc_tokenize_context(tok, "a dog runs", 10, 32, 1, ids));
    REQUIRE_OK(clipc_tokenize_context(tok, "Héllo, WORLD!", 14, 32, 1, ids + 32));
    CHECK(ids[0] == 2 && ids[32] == 2 && ids[63] == 0);
    clipc_tokenizer_free(tok);
    enum { N = 2 };
    float px[N * 3 * 32 * 32], a[N * 32], b[N * 32], ta[N * 32], tb[N * 32];
    fill_pixels(px, sizeof px / sizeof px[0], 1);
    REQUIRE_OK(clipc_encode_image(m, px, N, a));
    REQUIRE_OK(clipc_encode_image(l, px, N, b));
    REQUIRE_OK(clipc_encode_text(m, ids, N, ta));
    REQUIRE_OK(clipc_encode_text(l, ids, N, tb));
    CHECK(!memcmp(a, b, sizeof a) && !memcmp(ta, tb, sizeof ta));
    /* Encoding is the training graph in eval mode (no dropout, running BN). */
    clip_workspace ws;
    REQUIRE_OK(clip_workspace_alloc(&ws, c, N));
    ws.eval = 1;
    clip_forward(&ws, &m->w, px, ids, N, 0);
    double d = 0;
    for (int i = 0; i < N * 32; i++) d = fmax(d, fabs(ws.img_feat[i] - a[i])) + fabs(ws.txt_feat[i] - ta[i]);
    CHECKF(d < 1e-4, "training graph (eval) vs encode: max diff %.3g", d);
    clip_workspace_free(&ws);
    /* An id outside the vocabulary is refused. */
    ids[1] = 233;
    CHECK(clipc_encode_text(l, ids, 1, ta) != CLIPC_OK);
    clipc_model_free(l);
    clipc_model_free(m);
}

/* Every tensor of the whole tutorial graph (train-mode BatchNorm, MLP
 * heads, dropout 0.2 with a fixed seed) against central differences of
 * the loss, on a sample of coordinates. */
typedef struct { clip_workspace *ws; clipc_model *m; float *px; int32_t *ids; int B; } gctx;
static double loss_at(gctx *g) { return clip_forward(g->ws, &g->m->w, g->px, g->ids, g->B, 0); }

static void gradcheck_model(clipc_head head, int soft) {
    clipc_model *m = tiny_model(head, 9);
    REQUIRE(m);
    const clipc_config *c = clipc_model_config(m);
    enum { B = 3 };
    float px[B * 3 * 32 * 32];
    fill_pixels(px, sizeof px / sizeof px[0], 7);
    int32_t ids[B * 32];
    clipc_tokenizer *tok;
    REQUIRE_OK(clipc_model_tokenizer(m, &tok));
    const char *caps[B] = {"a red dog", "two cats, sleeping", "the blue sea!"};
    for (int i = 0; i < B; i++) REQUIRE_OK(clipc_tokenize_context(tok, caps[i], strlen(caps[i]), 32, 1, ids + i * 32));
    clipc_tokenizer_free(tok);
    clip_workspace ws;
    REQUIRE_OK(clip_workspace_alloc(&ws, c, B));
    ws.dropout = 0.2f, ws.dropout_seed = 5, ws.soft = soft;
    float *grad = calloc(m->tab.total, sizeof(float));
    clip_weights gw;
    REQUIRE_OK(clip_weights_bind(&gw, c, &m->tab, grad));
    gctx g = {&ws, m, px, ids, B};
    loss_at(&g);
    clip_backward(&ws, &gw, &m->w, ids, B);
    int checked = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (p->buffer || (soft && !strcmp(p->name, "logit_scale"))) continue;
        float *x = m->params + p->offset, *gx = grad + p->offset;
        double gmax = 0, worst = 0;
        for (size_t k = 0; k < p->numel; k++) gmax = fmax(gmax, fabs(gx[k]));
        /* a sample of the tensors (every kind of layer, both towers, heads) */
        if (!strstr(p->name, "layer1.0.") && !strstr(p->name, "layer.1.") && strncmp(p->name, "image_projection", 16) &&
            strncmp(p->name, "text_projection", 15) && !strstr(p->name, "embeddings.") && strcmp(p->name, "logit_scale") &&
            strncmp(p->name, "image_encoder.model.conv1", 25) && strncmp(p->name, "image_encoder.model.bn1", 23))
            continue;
        size_t probes = p->numel < 2 ? p->numel : 2;
        for (size_t k = 0; k < probes; k++) {
            size_t j = p->numel <= 2 ? k : (k * 2654435761u + 17) % p->numel;
            float keep = x[j], eps = 1e-3f;
            x[j] = keep + eps;
            double lp = loss_at(&g);
            x[j] = keep - eps;
            double lm = loss_at(&g);
            x[j] = keep;
            worst = fmax(worst, fabs((lp - lm) / (2 * eps) - gx[j]));
        }
        /* Float32 forwards through batch statistics: the loss moves by a
         * few ulps for eps 1e-3, so a central difference has about 5e-4 of
         * noise (more through BatchNorm).  A tensor whose true gradient is
         * near zero (the stem's bn1.bias: everything after the max pool is a
         * 1x1 convolution into a train-mode BatchNorm, which cancels a
         * per-channel shift) is held to that noise floor instead. */
        double tol = gmax < 1e-4 ? 5e-3 : 5e-2 * gmax + 5e-4;
        CHECKF(worst <= tol, "%s: max|num - analytic| %.3g vs max|g| %.3g", p->name, worst, gmax);
        checked++;
    }
    CHECK(checked > 30);
    clip_weights_free(&gw);
    free(grad);
    clip_workspace_free(&ws);
    clipc_model_free(m);
}

TEST(tutorial_tiny_gradcheck_linear_head_clip_loss) { gradcheck_model(CLIPC_HEAD_LINEAR, 0); }
TEST(tutorial_tiny_gradcheck_mlp_head_soft_loss) { gradcheck_model(CLIPC_HEAD_MLP, 1); }

/* ------------------------------------------------- training on emoji-mini */

typedef struct { double first_loss, last_loss, r10_t2i, r10_i2t; int steps; } tlog;
static void on_progress(const clipc_train_progress *p, void *ud) {
    tlog *l = ud;
    if (p->kind == CLIPC_TRAIN_STEP && l->steps++ == 0) l->first_loss = p->loss;
    if (p->kind == CLIPC_TRAIN_EPOCH) l->last_loss = p->train_loss, l->r10_t2i = p->t2i[2], l->r10_i2t = p->i2t[2];
}
static void quiet(const char *m, void *ud) { (void)m, (void)ud; }

/* A Karpathy JSON of the first n training concepts of emoji-mini: Twemoji
 * images to train on, the Noto images of the same concepts to validate
 * (an art style never trained on).  shuffle: each training image gets the
 * caption of the image n/2 away.  Also a word-level WordPiece vocab.txt of
 * the captions' words (and single letters, for anything else). */
static int emoji_slice(const char *json, const char *vocab, int n, int shuffle) {
    clipc_dataset *ds;
    clipc_dataset_opts dopt = {.split = "train"};
    if (clipc_dataset_load("data/emoji-mini/dataset_emoji.json", &dopt, &ds)) return 0;
    FILE *f = fopen(json, "w"), *v = fopen(vocab, "w");
    if (!f || !v) return 0;
    fprintf(v, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (char ch = 'a'; ch <= 'z'; ch++) fprintf(v, "%c\n##%c\n", ch, ch);
    fprintf(f, "{\"images\": [");
    n = n < clipc_dataset_n_images(ds) ? n : clipc_dataset_n_images(ds);
    char seen[65536] = "|";
    for (int style = 0; style < 2; style++)
        for (int i = 0; i < n; i++) {
            int first, cap_img = style == 0 && shuffle ? (i + n / 2) % n : i;
            clipc_dataset_image_captions(ds, cap_img, &first);
            const char *cap = clipc_dataset_caption(ds, first), *file = clipc_dataset_image_path(ds, i);
            fprintf(f, "%s{\"filename\": \"%s/%s\", \"imgid\": %d, \"split\": \"%s\", \"sentences\": [{\"raw\": \"%s\"}]}",
                    style || i ? ", " : "", style ? "noto" : "twemoji", strchr(file, '/') + 1, style * n + i,
                    style ? "val" : "train", cap);
            char w[64];
            for (const char *q = cap; *q;) { /* lower-case ASCII words, each once */
                int k = 0;
                while (*q && !((*q | 32) >= 'a' && (*q | 32) <= 'z')) q++;
                while (*q && ((*q | 32) >= 'a' && (*q | 32) <= 'z') && k < 60) w[k++] = (char)(*q++ | 32);
                w[k] = 0;
                char key[70];
                snprintf(key, sizeof key, "|%s|", w);
                if (k > 1 && !strstr(seen, key) && strlen(seen) + k + 2 < sizeof seen) {
                    strcat(seen, w), strcat(seen, "|");
                    fprintf(v, "%s\n", w);
                }
            }
        }
    fprintf(f, "]}\n");
    fclose(f), fclose(v);
    clipc_dataset_free(ds);
    return n;
}

static void emoji_run(int shuffle, tlog *l) {
    char data[1024], vocab[1024], out[1024];
    snprintf(data, sizeof data, "%s/tut_emoji_%d.json", test_tmpdir(), shuffle);
    snprintf(vocab, sizeof vocab, "%s/tut_vocab_%d.txt", test_tmpdir(), shuffle);
    snprintf(out, sizeof out, "%s/tut_run_%d", test_tmpdir(), shuffle);
    REQUIRE(emoji_slice(data, vocab, 120, shuffle) == 120);
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    REQUIRE_OK(clipc_train_recipe("tutorial-resnet", &o));
    /* seed 002's optimiser and loss on tutorial-tiny from scratch; a tiny
     * model from scratch learns faster with larger steps than pretrained
     * towers are given */
    o.config = "tutorial-tiny", o.vocab = vocab, o.data = data, o.out_dir = out;
    o.image_root = "data/emoji-mini";
    o.epochs = 15, o.batch_size = 24, o.augment = 1, o.threads = 2, o.keep_last = 1;
    o.lr = 2e-3, o.lr_image = 2e-3, o.lr_text = 2e-3, o.lr_proj = 2e-3;
    o.progress = on_progress, o.warn = quiet, o.ud = l;
    memset(l, 0, sizeof *l);
    REQUIRE_OK(clipc_train_run(&o, NULL));
    printf("  tutorial-tiny, %s captions: loss %.3f -> %.3f, Noto R@10 t2i %.3f i2t %.3f (chance %.3f)\n",
           shuffle ? "shuffled" : "true", l->first_loss, l->last_loss, l->r10_t2i, l->r10_i2t, 10.0 / 120);
}

TEST(tutorial_train_emoji_beats_chance_and_shuffled_control) {
    struct stat st;
    if (stat("data/emoji-mini/dataset_emoji.json", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    tlog a, b;
    emoji_run(0, &a);
    emoji_run(1, &b);
    double chance = 10.0 / 120; /* t2i R@10 over 120 Noto images */
    CHECKF(a.last_loss < a.first_loss, "training loss did not fall: %.3f -> %.3f", a.first_loss, a.last_loss);
    CHECKF(a.r10_t2i >= 3 * chance, "Noto R@10 %.3f < 3x chance %.3f", a.r10_t2i, chance);
    CHECKF(a.r10_t2i >= 2 * b.r10_t2i, "R@10 %.3f is not well above the shuffled control's %.3f", a.r10_t2i,
           b.r10_t2i);
}

/* ---------------------------------------- the whole model vs PyTorch */

#include "formats/safetensors.h"
#include "train/step.h"

/* tools/make_tutorial_model_golden.py: seed 002's CLIPModel at reduced
 * widths (torchvision's Bottleneck ResNet at stem width 4, the DistilBERT
 * golden's module, bias-free heads to 16), its loss in train mode and the
 * state after one step of the seed's AdamW (image lr 1e-4, text 1e-5, heads
 * 1e-3 with weight decay 1e-3), running statistics included. */
TEST(tutorial_model_loss_and_adamw_step_match_pytorch) {
    st_file f;
    REQUIRE_OK(st_open("tests/data/goldens/tutorial_model.safetensors", &f));
    clipc_config c;
    REQUIRE_OK(clipc_config_named("tutorial-tiny", &c));
    c.vision_width = 4, c.embed_dim = 16, c.vocab_size = 64, c.context_length = 12, c.text_positions = 16;
    c.transformer_width = 32, c.transformer_heads = 4, c.transformer_layers = 2;
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&c, 1, &m));
    char n[160];
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (!strcmp(p->name, "logit_scale")) continue; /* the seed's temperature: a constant 0.07 */
        snprintf(n, sizeof n, "w.%s", p->name);
        const st_tensor *t = st_get(&f, n);
        REQUIREF(t && t->numel == p->numel, "golden %s missing or of another size", n);
        memcpy(m->params + p->offset, t->data, p->numel * sizeof(float));
    }
    CHECK_NEAR(m->w.logit_scale[0], logf(1.0f / 0.07f), 1e-7);
    const st_tensor *px = st_get(&f, "pixel_values"), *idf = st_get(&f, "input_ids"), *rl = st_get(&f, "loss");
    REQUIRE(px && idf && rl && idf->numel == 4 * 12);
    int32_t ids[4 * 12];
    for (int i = 0; i < 4 * 12; i++) ids[i] = (int32_t)((const float *)idf->data)[i];
    trainer t;
    trainer_hparams h = {0};
    h.kind = OPT_ADAMW, h.beta1 = 0.9, h.beta2 = 0.999, h.eps = 1e-8;
    double glr[4] = {1.0, 0.1, 10.0, 0.0}, gwd[4] = {0, 0, 1e-3, 0};
    for (int g = 0; g < 4; g++) h.group_lr[g] = glr[g], h.group_wd[g] = gwd[g];
    h.decay_all = 1;
    REQUIRE_OK(trainer_init(&t, m, 4, &h));
    float loss = trainer_micro(&t, px->data, ids, 4, 0);
    CHECKF(fabs(loss - ((const float *)rl->data)[0]) <= 1e-5, "loss %.7f vs PyTorch %.7f", loss,
           ((const float *)rl->data)[0]);
    trainer_apply(&t, 1e-4);
    /* After the step: each tensor within 2 % of its group's lr of PyTorch's
     * (Adam's first step is about lr * sign(g), so that is the scale of a
     * wrong gradient sign or a missed decay); the running statistics (the
     * forward's momentum update) within 1e-5.  DistilBERT's k_lin.bias has
     * a true gradient of 0 (clipc keeps it exactly; PyTorch's rounding noise
     * moves it by up to lr): it must not have moved here. */
    int checked = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (!strcmp(p->name, "logit_scale")) continue;
        snprintf(n, sizeof n, "step.%s", p->name);
        const st_tensor *r = st_get(&f, n);
        snprintf(n, sizeof n, "w.%s", p->name);
        const float *w0 = st_get(&f, n)->data, *ref = r->data, *x = m->params + p->offset;
        double lr = 1e-4 * glr[p->group], d = 0, dk = 0;
        size_t bad = 0;
        for (size_t k = 0; k < p->numel; k++) {
            d = fmax(d, fabs(x[k] - ref[k])), dk = fmax(dk, fabs(x[k] - w0[k]));
            bad += fabs(x[k] - ref[k]) > 0.02 * lr + 1e-7;
        }
        if (strstr(p->name, "k_lin.bias")) CHECKF(dk == 0, "%s moved by %.3g", p->name, dk);
        else if (p->buffer) CHECKF(d <= 1e-5, "%s: running statistic off by %.3g", p->name, d);
        else /* a gradient that is float noise around 0 on both sides (ResNet's last stage sees 1x1 maps of
              * 4 images through batch statistics) may take the other sign: one element in 500 at most */
            CHECKF(bad * 500 <= p->numel, "%s: %zu of %zu values off by up to %.3g after the step (lr %.0e)",
                   p->name, bad, p->numel, d, lr);
        checked++;
    }
    CHECK(checked == m->tab.n - 1);
    trainer_free(&t);
    clipc_model_free(m);
    st_close(&f);
}
