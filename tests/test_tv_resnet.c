/*
 * test_tv_resnet.c — the tutorial's torchvision ResNet image tower
 * (nn/tv_resnet_tower.c, tv_bottleneck.c, maxpool.c, train-mode BatchNorm)
 * against torchvision's own ResNet/Bottleneck code run by
 * tools/make_tv_resnet_goldens.py (stem width 4, blocks [1, 2, 1, 1],
 * 2 x 3 x 64 x 64 pixels, random weights and BatchNorm statistics):
 *   - pooled features in eval mode and in train mode, the running statistics
 *     after one train-mode forward, the gradient of every parameter for a
 *     linear loss of the pooled features;
 *   - the loader key map on torchvision .pt, timm safetensors and the
 *     tutorial's CLIPModel .pt layouts, and its errors;
 *   - config validation, parameter names, init.
 * Tolerances: forward max|diff| <= 2e-5 * max(1, max|ref|); gradients
 * 2e-5 * max|ref| per tensor (measured: see the verbose output); running
 * statistics 1e-6 * max(1, |ref|).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "model/keymap_tutorial.h"
#include "model/model.h"
#include "nn/params.h"
#include "nn/tv_resnet_tower.h"
#include "harness.h"

#define GOLD "tests/data/goldens/tv_resnet/"

/* The golden model's config.  The head: OpenAI's if this branch's
 * validation takes it with a torchvision tower, else the linear head (the
 * tutorial's), so the test does not depend on which heads exist. */
static void tv_cfg(clipc_config *c) {
    clipc_config t = {16, 64, 0, 4, 0, 0, 8, 100, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_TV_RESNET,
                      {1, 2, 1, 1}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    *c = t;
    if (clipc_config_validate(c)) c->head = CLIPC_HEAD_LINEAR;
}

typedef struct {
    clipc_config cfg;
    param_table tab;
    float *params, *grads;
    clip_weights w, g;
    st_file gold;
} tv_model;

/* The golden weights (w.<name>) into a fresh table; every tower tensor of
 * the table must be in the file, and every w.* of the file in the table. */
static void tv_model_load(tv_model *m) {
    memset(m, 0, sizeof *m);
    tv_cfg(&m->cfg);
    REQUIRE_OK(st_open(GOLD "golden.safetensors", &m->gold));
    REQUIRE_OK(param_table_init(&m->cfg, &m->tab));
    m->params = calloc(m->tab.total, sizeof(float));
    m->grads = calloc(m->tab.total, sizeof(float));
    REQUIRE(m->params && m->grads);
    int n = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (strncmp(p->name, "image_encoder.model.", 20)) continue;
        char k[128];
        snprintf(k, sizeof k, "w.%s", p->name);
        const st_tensor *t = st_get(&m->gold, k);
        REQUIREF(t, "golden has no %s", k);
        REQUIREF(t->numel == p->numel && t->ndim == p->ndim, "%s: shape differs from the golden", p->name);
        for (int d = 0; d < p->ndim; d++) REQUIREF(t->shape[d] == p->shape[d], "%s: dim %d differs", p->name, d);
        memcpy(m->params + p->offset, t->data, p->numel * sizeof(float));
        n++;
    }
    int nw = 0;
    for (int i = 0; i < m->gold.n_tensors; i++) nw += !strncmp(m->gold.tensors[i].name, "w.", 2);
    CHECKF(n == nw, "table has %d tower tensors, the golden %d", n, nw);
    REQUIRE_OK(clip_weights_bind(&m->w, &m->cfg, &m->tab, m->params));
    REQUIRE_OK(clip_weights_bind(&m->g, &m->cfg, &m->tab, m->grads));
}

static void tv_model_free(tv_model *m) {
    clip_weights_free(&m->w);
    clip_weights_free(&m->g);
    free(m->params);
    free(m->grads);
    param_table_free(&m->tab);
    st_close(&m->gold);
}

/* max|a - ref| <= rel * max(floor, max|ref|); returns max|diff| / max|ref|. */
static double check_near(const char *name, const float *a, const st_tensor *ref, size_t n, double rel,
                         double floor) {
    REQUIREF(ref, "reference for %s missing", name);
    REQUIREF(ref->numel == n, "%s: %zu values, reference %zu", name, n, ref->numel);
    const float *r = ref->data;
    double d = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - r[i]);
        if (!(e <= d)) d = isnan(e) ? INFINITY : e;
        if (fabs(r[i]) > mr) mr = fabs(r[i]);
    }
    double tol = rel * (mr > floor ? mr : floor);
    CHECKF(d <= tol, "%s: max|diff| %.3g > tol %.3g (max|ref| %.3g)", name, d, tol, mr);
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    %-52s max|diff| %.3g  max|ref| %.3g\n", name, d, mr);
    return mr > 0 ? d / mr : d;
}

TEST(tv_resnet_golden_eval_forward) {
    tv_model m;
    tv_model_load(&m);
    const st_tensor *px = st_get(&m.gold, "pixels");
    REQUIRE(px && px->numel == 2 * 3 * 64 * 64);
    int D = tv_resnet_feat_dim(&m.cfg);
    CHECK(D == 128);
    float pooled[2 * 128];
    /* Inference activations (blocks share two regions) and training
     * activations with bn_train = 0 give model.eval()'s output. */
    for (int training = 0; training <= 1; training++) {
        tv_resnet_acts a;
        REQUIRE_OK(tv_resnet_acts_alloc(&a, &m.cfg, 2, training));
        CHECK(a.bn_train == training);
        a.bn_train = 0;
        tv_resnet_forward(&a, pooled, px->data, &m.w.v.tv, 2);
        check_near("pooled_eval", pooled, st_get(&m.gold, "pooled_eval"), 2 * 128, 2e-5, 1.0);
        /* A smaller batch than the capacity is laid out again: image 1 alone. */
        float one[128];
        tv_resnet_forward(&a, one, (const float *)px->data + 3 * 64 * 64, &m.w.v.tv, 1);
        for (int i = 0; i < 128; i++) CHECK_NEAR(one[i], pooled[128 + i], 1e-5);
        tv_resnet_acts_free(&a);
    }
    /* Eval mode leaves the running statistics alone. */
    const st_tensor *rv = st_get(&m.gold, "w.image_encoder.model.layer2.1.bn2.running_var");
    REQUIRE(rv);
    CHECK(!memcmp(m.w.v.tv.blocks[2].bn2.var, rv->data, rv->nbytes));
    tv_model_free(&m);
}

TEST(tv_resnet_golden_train_forward_running_stats_and_gradients) {
    tv_model m;
    tv_model_load(&m);
    const st_tensor *px = st_get(&m.gold, "pixels"), *dp = st_get(&m.gold, "dpooled");
    REQUIRE(px && dp && dp->numel == 2 * 128);
    tv_resnet_acts a;
    REQUIRE_OK(tv_resnet_acts_alloc(&a, &m.cfg, 2, 1));
    float pooled[2 * 128];
    tv_resnet_forward(&a, pooled, px->data, &m.w.v.tv, 2);
    check_near("pooled_train", pooled, st_get(&m.gold, "pooled_train"), 2 * 128, 2e-5, 1.0);
    tv_resnet_backward(&a, &m.g.v.tv, dp->data, &m.w.v.tv, 2);
    int nrun = 0, ngrad = 0;
    double worst = 0;
    char k[160];
    for (int i = 0; i < m.tab.n; i++) {
        const param_info *p = &m.tab.p[i];
        if (strncmp(p->name, "image_encoder.model.", 20)) continue;
        if (p->buffer) {
            snprintf(k, sizeof k, "running.%s", p->name);
            check_near(k, m.params + p->offset, st_get(&m.gold, k), p->numel, 1e-6, 1.0);
            nrun++;
            /* buffers get no gradient */
            for (size_t j = 0; j < p->numel; j++) CHECK(m.grads[p->offset + j] == 0.0f);
            continue;
        }
        snprintf(k, sizeof k, "grad.%s", p->name);
        double r = check_near(k, m.grads + p->offset, st_get(&m.gold, k), p->numel, 2e-5, 0.0);
        if (r > worst) worst = r;
        ngrad++;
    }
    CHECK(nrun == 2 * 20); /* 20 BatchNorms: the stem, 5 blocks x 3, 4 downsamples */
    CHECK(ngrad == 2 * 20 + 1 + 5 * 3 + 4); /* their affine maps, every convolution */
    CHECK(ngrad > 0);
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    %d gradients, worst max|diff| / max|ref| %.3g\n", ngrad, worst);
    tv_resnet_acts_free(&a);
    tv_model_free(&m);
}

/* The tower's tensors gathered from `file` equal the golden's w.* exactly. */
static void check_loaded(tv_model *m, const char *file, const char *want_prefix) {
    st_file f;
    REQUIRE_OK(tf_open(file, &f));
    const char *pre = keymap_tv_resnet_prefix(&f);
    REQUIREF(pre && !strcmp(pre, want_prefix), "%s: prefix '%s', expected '%s'", file, pre ? pre : "(none)",
             want_prefix);
    clipc_config c = m->cfg;
    c.vision_width = 0;
    memset(c.vision_blocks, 0, sizeof c.vision_blocks);
    REQUIRE_OK(keymap_tv_resnet_shapes(&f, file, &c));
    CHECK(c.vision_width == 4);
    CHECK(c.vision_blocks[0] == 1 && c.vision_blocks[1] == 2 && c.vision_blocks[2] == 1 && c.vision_blocks[3] == 1);
    float *dst = calloc(m->tab.total, sizeof(float));
    REQUIRE(dst);
    int unused = -1;
    REQUIRE_OK(keymap_tv_resnet_gather(&f, file, &m->tab, dst, &unused));
    CHECK(unused == 0);
    int n = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        if (strncmp(p->name, "image_encoder.model.", 20)) continue;
        CHECKF(!memcmp(dst + p->offset, m->params + p->offset, p->numel * sizeof(float)), "%s: %s differs", file,
               p->name);
        n++;
    }
    CHECK(n == 20 + 20 * 4); /* 20 convolutions, 20 BatchNorms */
    free(dst);
    st_close(&f);
}

TEST(tv_resnet_keymap_torchvision_timm_and_tutorial_files) {
    tv_model m;
    tv_model_load(&m);
    check_loaded(&m, GOLD "torchvision.pt", "");     /* torch.save(state_dict), with fc and counters */
    check_loaded(&m, GOLD "timm.safetensors", "");   /* timm's names in safetensors, I64 counters */
    check_loaded(&m, GOLD "tutorial.pt", "image_encoder.model.");
    char out[128];
    CHECK(keymap_tv_resnet_name("layer1.0.downsample.0.weight", out, sizeof out) == 1);
    CHECK(!strcmp(out, "image_encoder.model.layer1.0.downsample.0.weight"));
    CHECK(keymap_tv_resnet_name("fc.weight", out, sizeof out) == 0);
    CHECK(keymap_tv_resnet_name("bn1.num_batches_tracked", out, sizeof out) == 0);
    CHECK(keymap_tv_resnet_name("head.fc.weight", out, sizeof out) == -1);
    tv_model_free(&m);
}

/* Writes the golden's tower tensors (torchvision names) to path, leaving
 * out `drop` and giving `bad` the wrong shape (NULL: none). */
static void write_variant(tv_model *m, const char *path, const char *drop, const char *bad) {
    st_out_tensor t[128];
    int n = 0;
    for (int i = 0; i < m->gold.n_tensors && n < 128; i++) {
        const st_tensor *s = &m->gold.tensors[i];
        if (strncmp(s->name, "w.image_encoder.model.", 22)) continue;
        const char *name = s->name + 22;
        if (drop && !strcmp(name, drop)) continue;
        st_out_tensor *o = &t[n++];
        o->name = name, o->dtype = s->dtype, o->ndim = s->ndim, o->data = s->data;
        for (int d = 0; d < s->ndim; d++) o->shape[d] = s->shape[d];
        if (bad && !strcmp(name, bad)) { /* same bytes, other shape: [O, C, k, k] -> [O, C * k * k] */
            o->ndim = 2;
            o->shape[1] = s->shape[1] * s->shape[2] * s->shape[3];
        }
    }
    REQUIRE_OK(st_write(path, t, n, NULL));
}

TEST(tv_resnet_keymap_errors_name_file_and_tensor) {
    tv_model m;
    tv_model_load(&m);
    char p[512], want[800];
    float *dst = calloc(m.tab.total, sizeof(float));
    REQUIRE(dst);
    st_file f;

    snprintf(p, sizeof p, "%s/missing.safetensors", test_tmpdir());
    write_variant(&m, p, "layer3.0.bn2.running_var", NULL);
    REQUIRE_OK(tf_open(p, &f));
    CHECK(keymap_tv_resnet_gather(&f, p, &m.tab, dst, NULL) == CLIPC_ERR_FORMAT);
    snprintf(want, sizeof want,
             "%s (torchvision/timm ResNet layout): tensor 'layer3.0.bn2.running_var' is missing", p);
    CHECKF(!strcmp(clipc_last_error(), want), "got: %s", clipc_last_error());
    st_close(&f);

    snprintf(p, sizeof p, "%s/misshaped.safetensors", test_tmpdir());
    write_variant(&m, p, NULL, "layer2.1.conv2.weight");
    REQUIRE_OK(tf_open(p, &f));
    CHECK(keymap_tv_resnet_gather(&f, p, &m.tab, dst, NULL) == CLIPC_ERR_FORMAT);
    snprintf(want, sizeof want,
             "%s (torchvision/timm ResNet layout): tensor 'layer2.1.conv2.weight' has shape [8, 72], "
             "expected [8, 8, 3, 3]", p);
    CHECKF(!strcmp(clipc_last_error(), want), "got: %s", clipc_last_error());
    st_close(&f);

    /* A file with no stem at all is not taken for a ResNet. */
    snprintf(p, sizeof p, "%s/nostem.safetensors", test_tmpdir());
    write_variant(&m, p, "conv1.weight", NULL);
    REQUIRE_OK(tf_open(p, &f));
    CHECK(keymap_tv_resnet_gather(&f, p, &m.tab, dst, NULL) == CLIPC_ERR_FORMAT);
    snprintf(want, sizeof want,
             "%s: not a torchvision/timm ResNet state dict (no tensor 'conv1.weight', bare or under "
             "'image_encoder.model.', 'model.' or 'module.')", p);
    CHECKF(!strcmp(clipc_last_error(), want), "got: %s", clipc_last_error());
    st_close(&f);

    /* A deeper file than the config: the extra blocks are counted. */
    clipc_config small = m.cfg;
    small.vision_blocks[1] = 1;
    param_table t2;
    REQUIRE_OK(param_table_init(&small, &t2));
    float *d2 = calloc(t2.total, sizeof(float));
    REQUIRE(d2);
    REQUIRE_OK(tf_open(GOLD "torchvision.pt", &f));
    int unused = -1;
    REQUIRE_OK(keymap_tv_resnet_gather(&f, GOLD "torchvision.pt", &t2, d2, &unused));
    CHECK(unused == 3 + 3 * 4); /* layer2.1: three convolutions, three BatchNorms of 4 tensors */
    st_close(&f);
    free(d2);
    param_table_free(&t2);
    free(dst);
    tv_model_free(&m);
}

TEST(tv_resnet_config_validation) {
    clipc_config c;
    tv_cfg(&c);
    REQUIRE_OK(clipc_config_validate(&c));
    clipc_config b = c;
    b.vision_width = 5;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
    CHECK(!strcmp(clipc_last_error(), "config: ResNet vision_width 5 must be even and in [2, 4096]"));
    b = c, b.vision_blocks[2] = 0;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
    CHECK(!strcmp(clipc_last_error(), "config: vision_layers[2] = 0 is out of range [1, 256]"));
    b = c, b.vision_blocks[3] = 257;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
    b = c, b.image_resolution = 80;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
    CHECK(!strcmp(clipc_last_error(),
                  "config: ResNet image_resolution 80 is not a multiple of 32 (the tower's stride)"));
    b = c, b.vision_heads = 2;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
    CHECK(!strcmp(clipc_last_error(), "config: a torchvision ResNet has no vision_layers, vision_patch_size or "
                                      "vision_heads (got 0, 0, 2; they must be 0)"));
    b = c, b.vision_patch_size = 16;
    CHECK(clipc_config_validate(&b) == CLIPC_ERR_INVALID);
}

/* ResNet-50's shapes, counted on torchvision's resnet50().state_dict():
 * 320 entries, minus fc (2) and the 53 num_batches_tracked counters = 265;
 * 25,557,032 - 2,049,000 (fc) = 23,508,032 parameters, plus 2 x 26,560
 * running statistics. */
TEST(tv_resnet_resnet50_table_and_init) {
    clipc_config c;
    tv_cfg(&c);
    c.image_resolution = 224, c.vision_width = 64;
    c.vision_blocks[0] = 3, c.vision_blocks[1] = 4, c.vision_blocks[2] = 6, c.vision_blocks[3] = 3;
    param_table t;
    REQUIRE_OK(param_table_init(&c, &t));
    int n = 0, nbuf = 0;
    size_t floats = 0, bufs = 0;
    for (int i = 0; i < t.n; i++) {
        if (strncmp(t.p[i].name, "image_encoder.model.", 20)) continue;
        n++;
        floats += t.p[i].numel;
        if (t.p[i].buffer) nbuf++, bufs += t.p[i].numel;
        CHECK(t.p[i].group == PG_VISION);
    }
    CHECK(n == 265);
    CHECK(nbuf == 2 * 53);
    CHECK(floats - bufs == 23508032);
    CHECK(bufs == 2 * 26560);
    CHECK(tv_resnet_feat_dim(&c) == 2048);
    param_table_free(&t);

    /* Init: kaiming-normal fan_out convolutions, BatchNorm 1/0, stats 0/1. */
    clipc_model *m;
    clipc_config s;
    tv_cfg(&s);
    s.vision_width = 16;
    REQUIRE_OK(clipc_model_create(&s, 7, &m));
    int i = param_table_find(&m->tab, "image_encoder.model.layer4.0.conv2.weight");
    REQUIRE(i >= 0);
    const param_info *p = &m->tab.p[i];
    CHECK(p->shape[0] == 128 && p->shape[1] == 128 && p->shape[2] == 3);
    double sum = 0, sq = 0;
    for (size_t j = 0; j < p->numel; j++) {
        double v = m->params[p->offset + j];
        sum += v, sq += v * v;
    }
    double mean = sum / p->numel, sd = sqrt(sq / p->numel - mean * mean), want = sqrt(2.0 / (128 * 9));
    CHECKF(fabs(sd - want) < 0.01 * want && fabs(mean) < 0.01 * want, "std %.5g (want %.5g), mean %.3g", sd, want,
           mean);
    const char *one[] = {"bn1.weight", "layer1.0.bn3.weight", "layer3.0.downsample.1.running_var"};
    const char *zero[] = {"bn1.bias", "layer1.0.bn3.running_mean", "layer4.0.downsample.1.bias"};
    char k[128];
    for (int r = 0; r < 3; r++) {
        snprintf(k, sizeof k, "image_encoder.model.%s", one[r]);
        int a = param_table_find(&m->tab, k);
        snprintf(k, sizeof k, "image_encoder.model.%s", zero[r]);
        int z = param_table_find(&m->tab, k);
        REQUIRE(a >= 0 && z >= 0);
        for (size_t j = 0; j < m->tab.p[a].numel; j++) CHECK(m->params[m->tab.p[a].offset + j] == 1.0f);
        for (size_t j = 0; j < m->tab.p[z].numel; j++) CHECK(m->params[m->tab.p[z].offset + j] == 0.0f);
    }
    CHECK(m->w.v.tv.blocks && m->w.v.tv.conv1 == m->params + m->tab.p[param_table_find(&m->tab,
                                                    "image_encoder.model.conv1.weight")].offset);
    clipc_model_free(m);
}

/* Training bits do not depend on the thread count: a random-init tower
 * big enough for the parallel regions, forward and backward on 1 and 2
 * threads. */
TEST(tv_resnet_train_step_independent_of_thread_count) {
    clipc_config c;
    tv_cfg(&c);
    c.vision_width = 16;
    c.vision_blocks[1] = 1;
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&c, 3, &m));
    int B = 4, D = tv_resnet_feat_dim(&c), keep = clipc_get_threads();
    size_t npx = (size_t)B * 3 * 64 * 64;
    float *px = malloc(npx * sizeof(float)), *dp = malloc((size_t)B * D * sizeof(float));
    float *start = malloc(m->tab.total * sizeof(float)), *out[2], *grad[2], *params[2];
    REQUIRE(px && dp && start);
    for (size_t i = 0; i < npx; i++) px[i] = (float)sin(0.37 * (double)i) * 1.5f;
    for (int i = 0; i < B * D; i++) dp[i] = (float)cos(0.11 * i);
    memcpy(start, m->params, m->tab.total * sizeof(float));
    for (int r = 0; r < 2; r++) {
        clipc_set_threads(r + 1);
        memcpy(m->params, start, m->tab.total * sizeof(float));
        out[r] = malloc((size_t)B * D * sizeof(float));
        grad[r] = calloc(m->tab.total, sizeof(float));
        REQUIRE(out[r] && grad[r]);
        clip_weights g;
        REQUIRE_OK(clip_weights_bind(&g, &c, &m->tab, grad[r]));
        tv_resnet_acts a;
        REQUIRE_OK(tv_resnet_acts_alloc(&a, &c, B, 1));
        tv_resnet_forward(&a, out[r], px, &m->w.v.tv, B);
        tv_resnet_backward(&a, &g.v.tv, dp, &m->w.v.tv, B);
        params[r] = malloc(m->tab.total * sizeof(float));
        REQUIRE(params[r]);
        memcpy(params[r], m->params, m->tab.total * sizeof(float)); /* the updated running statistics */
        tv_resnet_acts_free(&a);
        clip_weights_free(&g);
    }
    clipc_set_threads(keep);
    CHECK(!memcmp(out[0], out[1], (size_t)B * D * sizeof(float)));
    CHECK(!memcmp(grad[0], grad[1], m->tab.total * sizeof(float)));
    CHECK(!memcmp(params[0], params[1], m->tab.total * sizeof(float)));
    CHECK(memcmp(params[0], start, m->tab.total * sizeof(float))); /* the running statistics moved */
    double gs = 0;
    for (size_t i = 0; i < m->tab.total; i++) gs += fabs(grad[0][i]);
    CHECK(gs > 0 && isfinite(gs));
    for (int r = 0; r < 2; r++) free(out[r]), free(grad[r]), free(params[r]);
    free(px), free(dp), free(start);
    clipc_model_free(m);
}

/* Full-size ResNet-50 against torchvision (tools/compare_tv_resnet50.py
 * writes the 100 MB reference outside the repository; the test SKIPs
 * without it): the weights through the key map (torchvision names, fc and
 * counters skipped), pooled features in eval and train mode, two running
 * statistics; then the memory of batch 64 at 224 px and the time of one
 * training forward + backward at batch 8 (printed). */
TEST_SLOW(tv_resnet50_full_size_vs_torchvision) {
    const char *dir = getenv("CLIPC_TV_RESNET50_DIR");
    if (!dir) SKIP("set CLIPC_TV_RESNET50_DIR to the output of tools/compare_tv_resnet50.py");
    char wp[512], iop[512];
    snprintf(wp, sizeof wp, "%s/resnet50.safetensors", dir);
    snprintf(iop, sizeof iop, "%s/io.safetensors", dir);
    clipc_config c;
    tv_cfg(&c);
    c.image_resolution = 224, c.vision_width = 64;
    c.vision_blocks[0] = 3, c.vision_blocks[1] = 4, c.vision_blocks[2] = 6, c.vision_blocks[3] = 3;
    st_file f, io;
    REQUIRE_OK(tf_open(wp, &f));
    REQUIRE_OK(st_open(iop, &io));
    clipc_config fc = c;
    REQUIRE_OK(keymap_tv_resnet_shapes(&f, wp, &fc));
    CHECK(fc.vision_width == 64 && fc.vision_blocks[2] == 6);
    param_table t;
    REQUIRE_OK(param_table_init(&c, &t));
    float *params = calloc(t.total, sizeof(float)), *grads = calloc(t.total, sizeof(float));
    REQUIRE(params && grads);
    int unused = -1;
    REQUIRE_OK(keymap_tv_resnet_gather(&f, wp, &t, params, &unused));
    CHECK(unused == 0);
    clip_weights w, g;
    REQUIRE_OK(clip_weights_bind(&w, &c, &t, params));
    REQUIRE_OK(clip_weights_bind(&g, &c, &t, grads));
    const st_tensor *px = st_get(&io, "pixels");
    REQUIRE(px && px->numel == 2 * 3 * 224 * 224);
    float *pooled = malloc(8 * 2048 * sizeof(float));
    REQUIRE(pooled);
    tv_resnet_acts a;
    REQUIRE_OK(tv_resnet_acts_alloc(&a, &c, 2, 0));
    double t0 = clipc_now();
    tv_resnet_forward(&a, pooled, px->data, &w.v.tv, 2);
    double te = clipc_now() - t0;
    double re = check_near("pooled_eval (ResNet-50)", pooled, st_get(&io, "pooled_eval"), 2 * 2048, 2e-5, 1.0);
    a.bn_train = 1;
    tv_resnet_forward(&a, pooled, px->data, &w.v.tv, 2);
    /* 53 train-mode BatchNorms in float32: 5e-5 (measured 1.9e-5 relative) */
    double rt = check_near("pooled_train (ResNet-50)", pooled, st_get(&io, "pooled_train"), 2 * 2048, 5e-5, 1.0);
    tv_resnet_acts_free(&a);
    int im = param_table_find(&t, "image_encoder.model.layer4.2.bn3.running_mean");
    int iv = param_table_find(&t, "image_encoder.model.layer4.2.bn3.running_var");
    REQUIRE(im >= 0 && iv >= 0);
    check_near("running_mean layer4.2.bn3", params + t.p[im].offset,
               st_get(&io, "running.layer4.2.bn3.running_mean"), 2048, 1e-6, 1.0);
    check_near("running_var layer4.2.bn3", params + t.p[iv].offset, st_get(&io, "running.layer4.2.bn3.running_var"),
               2048, 1e-6, 1.0);
    printf("    ResNet-50 2 x 224: max|diff|/max|ref| eval %.3g train %.3g; eval forward %.2f s\n", re, rt, te);
    printf("    activations: batch 64 training %.2f GiB, inference %.2f GiB; batch 8 training %.2f GiB\n",
           tv_resnet_acts_floats(&c, 64, 1) * 4.0 / (1 << 30), tv_resnet_acts_floats(&c, 64, 0) * 4.0 / (1 << 30),
           tv_resnet_acts_floats(&c, 8, 1) * 4.0 / (1 << 30));
    /* One training step of the tower at batch 8 (pixels repeated). */
    float *x8 = malloc((size_t)8 * 3 * 224 * 224 * sizeof(float)), *dp = malloc(8 * 2048 * sizeof(float));
    REQUIRE(x8 && dp);
    for (int b = 0; b < 8; b++) memcpy(x8 + (size_t)b * 3 * 224 * 224, (const float *)px->data + (size_t)(b % 2) * 3 * 224 * 224, 3 * 224 * 224 * sizeof(float));
    for (int i = 0; i < 8 * 2048; i++) dp[i] = (float)((i * 37) % 11 - 5) / 5.0f;
    REQUIRE_OK(tv_resnet_acts_alloc(&a, &c, 8, 1));
    t0 = clipc_now();
    tv_resnet_forward(&a, pooled, x8, &w.v.tv, 8);
    double tf = clipc_now() - t0;
    tv_resnet_backward(&a, &g.v.tv, dp, &w.v.tv, 8);
    double ts = clipc_now() - t0;
    printf("    batch 8 training step (forward + backward, %d threads): %.2f s (forward %.2f s)\n", clipc_get_threads(),
           ts, tf);
    for (size_t i = 0; i < t.total; i++) REQUIRE(isfinite(grads[i]));
    tv_resnet_acts_free(&a);
    free(x8), free(dp), free(pooled), free(params), free(grads);
    clip_weights_free(&w), clip_weights_free(&g);
    param_table_free(&t);
    st_close(&f), st_close(&io);
}
