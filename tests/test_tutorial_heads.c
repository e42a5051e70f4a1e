/*
 * test_tutorial_heads.c — the tutorial model's projection heads
 * (nn/proj_head.c) and losses (nn/loss.c at a fixed temperature: seed 002;
 * nn/loss_soft.c: the notebook's soft targets) against PyTorch:
 * tests/data/goldens/tutorial_heads.safetensors from
 * tools/make_tutorial_goldens.py (the tutorial's modules re-written at small
 * widths, eval mode).  Tolerance: max|a - ref| <= 2e-5 * max(1, max|ref|)
 * for outputs and gradients (float32 both sides, a different summation
 * order), 1e-5 for losses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "nn/loss.h"
#include "nn/loss_soft.h"
#include "nn/proj_head.h"
#include "harness.h"

#define GOLD "tests/data/goldens/tutorial_heads.safetensors"

static const float *gold(const st_file *f, const char *prefix, const char *name, size_t numel) {
    char n[128];
    snprintf(n, sizeof n, "%s%s", prefix, name);
    const st_tensor *t = st_get(f, n);
    if (!t) {
        CHECKF(0, "golden %s missing", n);
        return NULL;
    }
    CHECKF(t->numel == numel, "golden %s has %zu values, want %zu", n, (size_t)t->numel, numel);
    return t->numel == numel ? t->data : NULL;
}

static void check_close(const st_file *f, const char *prefix, const char *name, const float *a, size_t n) {
    const float *r = gold(f, prefix, name, n);
    if (!r) return;
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - r[i])), m = fmax(m, fabs(r[i]));
    CHECKF(m > 0 && d <= 2e-5 * fmax(1.0, m), "%s%s: max|diff| %.3g (max|ref| %.3g)", prefix, name, d, m);
}

/* Runs one head case: forward, backward of sum(y * dout), all compared. */
static void head_case(const st_file *f, const char *pre, clipc_head kind) {
    enum { B = 4, D = 12, E = 6 };
    proj_head_weights w = {0}, g = {0};
    float gp[E * D], gpb[E], gfw[E * E], gfb[E], glw[E], glb[E], y[B * E], dx[B * D];
    memset(gp, 0, sizeof gp), memset(gpb, 0, sizeof gpb), memset(gfw, 0, sizeof gfw);
    memset(gfb, 0, sizeof gfb), memset(glw, 0, sizeof glw), memset(glb, 0, sizeof glb);
    w.proj_w = (float *)gold(f, pre, "projection.weight", E * D), g.proj_w = gp;
    if (kind == CLIPC_HEAD_MLP) {
        w.proj_b = (float *)gold(f, pre, "projection.bias", E), g.proj_b = gpb;
        w.fc_w = (float *)gold(f, pre, "fc.weight", E * E), g.fc_w = gfw;
        w.fc_b = (float *)gold(f, pre, "fc.bias", E), g.fc_b = gfb;
        w.ln_w = (float *)gold(f, pre, "layer_norm.weight", E), g.ln_w = glw;
        w.ln_b = (float *)gold(f, pre, "layer_norm.bias", E), g.ln_b = glb;
    }
    const float *x = gold(f, pre, "x", B * D), *dout = gold(f, pre, "dout", B * E);
    REQUIRE(x && dout && w.proj_w);
    proj_head_acts a;
    REQUIRE_OK(proj_head_acts_alloc(&a, kind, B, D, E));
    proj_head_forward(&a, y, x, &w, B);
    check_close(f, pre, "y", y, B * E);
    proj_head_backward(&a, dx, &g, dout, x, &w, B);
    check_close(f, pre, "grad.x", dx, B * D);
    check_close(f, pre, "grad.projection.weight", gp, E * D);
    if (kind == CLIPC_HEAD_MLP) {
        check_close(f, pre, "grad.projection.bias", gpb, E);
        check_close(f, pre, "grad.fc.weight", gfw, E * E);
        check_close(f, pre, "grad.fc.bias", gfb, E);
        check_close(f, pre, "grad.layer_norm.weight", glw, E);
        check_close(f, pre, "grad.layer_norm.bias", glb, E);
    }
    proj_head_acts_free(&a);
}

TEST(tutorial_heads_linear_and_mlp_match_pytorch) {
    st_file f;
    REQUIRE_OK(st_open(GOLD, &f));
    head_case(&f, "lin.", CLIPC_HEAD_LINEAR);
    head_case(&f, "mlp.", CLIPC_HEAD_MLP);
    st_close(&f);
}

TEST(tutorial_hard_loss_matches_pytorch) {
    /* Seed 002's loss is CLIP's loss with the scale fixed at 1 / 0.07. */
    enum { B = 5, E = 6 };
    st_file f;
    REQUIRE_OK(st_open(GOLD, &f));
    const float *img = gold(&f, "hard.", "img", B * E), *txt = gold(&f, "hard.", "txt", B * E);
    const float *ref = gold(&f, "hard.", "loss", 1);
    REQUIRE(img && txt && ref);
    float *mem = malloc(clip_loss_cache_floats(B, E) * sizeof(float)), di[B * E], dt[B * E], ds = 0;
    clip_loss_cache c;
    clip_loss_cache_bind(&c, mem, B, E);
    float s = logf(1.0f / 0.07f);
    float loss = clip_loss_forward(&c, img, txt, s, B, E);
    CHECK_NEAR(loss, ref[0], 1e-5 * fmax(1.0, fabs(ref[0])));
    clip_loss_backward(di, dt, &ds, &c, s, B, E);
    check_close(&f, "hard.", "grad.img", di, B * E);
    check_close(&f, "hard.", "grad.txt", dt, B * E);
    free(mem);
    st_close(&f);
}

TEST(tutorial_soft_loss_matches_pytorch) {
    enum { B = 5, E = 6 };
    st_file f;
    REQUIRE_OK(st_open(GOLD, &f));
    const char *pre[2] = {"soft1.", "soft05."};
    const float temp[2] = {1.0f, 0.5f};
    float *mem = malloc(soft_loss_cache_floats(B) * sizeof(float)), di[B * E], dt[B * E];
    soft_loss_cache c;
    soft_loss_cache_bind(&c, mem, B);
    for (int k = 0; k < 2; k++) {
        const float *img = gold(&f, pre[k], "img", B * E), *txt = gold(&f, pre[k], "txt", B * E);
        const float *ref = gold(&f, pre[k], "loss", 1);
        REQUIRE(img && txt && ref);
        float loss = soft_loss_forward(&c, img, txt, temp[k], B, E);
        CHECKF(fabs(loss - ref[0]) <= 1e-5 * fmax(1.0, fabs(ref[0])), "%sloss %.8g vs %.8g", pre[k], loss, ref[0]);
        soft_loss_backward(di, dt, &c, img, txt, temp[k], B, E);
        check_close(&f, pre[k], "grad.img", di, B * E);
        check_close(&f, pre[k], "grad.txt", dt, B * E);
    }
    free(mem);
    st_close(&f);
}
