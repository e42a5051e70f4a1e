/*
 * test_plateau.c — clipc's ReduceLROnPlateau rule (src/train/schedule.c)
 * against PyTorch's own: tests/data/goldens/plateau_lrs.json holds the
 * learning rates torch.optim.lr_scheduler.ReduceLROnPlateau (mode min,
 * threshold 1e-4 relative, cooldown 0, min_lr 0) sets after each epoch for
 * fixed loss sequences (tools/goldens/make_plateau_lrs.py).  The training
 * loop's lr is the schedule's times plateau_lr's factor (run.c); with the
 * constant schedule the plateau recipe uses, that must be torch's rate bit
 * for bit, epoch after epoch.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "clipc_util.h"
#include "harness.h"
#include "train/schedule.h"

TEST(plateau_matches_torch_reduce_lr_on_plateau) {
    char *text = NULL;
    size_t n;
    REQUIRE_OK(clipc_read_file("tests/data/goldens/plateau_lrs.json", &text, &n));
    cJSON *root = cJSON_Parse(text);
    free(text);
    REQUIRE(root);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    REQUIRE(cJSON_GetArraySize(cases) == 7);
    int checked = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        double base = cJSON_GetObjectItem(c, "lr")->valuedouble;
        double factor = cJSON_GetObjectItem(c, "factor")->valuedouble;
        int patience = cJSON_GetObjectItem(c, "patience")->valueint;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *losses = cJSON_GetObjectItem(c, "losses"), *lrs = cJSON_GetObjectItem(c, "lrs");
        REQUIRE(cJSON_GetArraySize(losses) == cJSON_GetArraySize(lrs) && cJSON_GetArraySize(lrs) > 10);
        plateau p;
        plateau_init(&p, 1, 0, factor, patience);
        int reductions = 0;
        for (int e = 0; e < cJSON_GetArraySize(losses); e++) {
            reductions += plateau_update(&p, cJSON_GetArrayItem(losses, e)->valuedouble);
            double want = cJSON_GetArrayItem(lrs, e)->valuedouble, got = plateau_lr(&p, base);
            CHECKF(got == want, "%s (lr %g, factor %g, patience %d), epoch %d: lr %.17g, torch %.17g", name, base,
                   factor, patience, e, got, want);
            checked++;
        }
        CHECKF(reductions > 0, "%s: no reduction: the case tests nothing", name);
    }
    CHECK(checked > 100);
    cJSON_Delete(root);
}
