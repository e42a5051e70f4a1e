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
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "model/keymap_tutorial.h"
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
