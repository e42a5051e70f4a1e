/*
 * test_train_options.c — the training options' table and checks
 * (src/train/options.c): every out-of-range value is refused with a message
 * naming the option, every recipe passes the checks, and the table covers
 * the stored options exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "harness.h"
#include "train/options.h"

static void base_opts(clipc_train_opts *o) {
    clipc_train_opts_default(o);
    o->data = "data.csv";
    o->out_dir = "runs/x";
}

TEST(train_options_out_of_range_refused) {
    static const struct {
        const char *what;
        const char *msg; /* a part of the expected message */
    } cases[] = {
        {"beta1 1.5", "beta1"},        {"beta2 -1", "beta2"},           {"grad_clip -1", "grad-clip"},
        {"warmup -5", "warmup"},       {"min_lr 5", "min-lr"},          {"threads -1", "threads"},
        {"threads 100000", "threads"}, {"keep_last -1", "keep-last"},   {"save_every -2", "save-every"},
        {"freeze_layers -1", "freeze-layers"}, {"max_memory_gb -1", "max-memory-gb"}, {"eps 0", "eps"},
        {"log_every 0", "log-every"},  {"workers -1", "workers"},       {"plateau_factor 0", "plateau-factor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clipc_train_opts o;
        base_opts(&o);
        REQUIRE_OK(train_opts_check(&o));
        char field[32];
        double v;
        REQUIRE(sscanf(cases[i].what, "%31s %lf", field, &v) == 2);
        int n;
        const clipc_option *t = clipc_train_options(&n), *d = NULL;
        for (int k = 0; k < n; k++)
            if (!strcmp(t[k].field, field)) d = &t[k];
        REQUIRE(d);
        char *p = (char *)&o + d->offset;
        if (d->type == CLIPC_OPT_INT) *(int *)p = (int)v;
        else if (d->type == CLIPC_OPT_DOUBLE) *(double *)p = v;
        if (!strcmp(field, "plateau_factor")) o.plateau = 1;
        clipc_status s = train_opts_check(&o);
        CHECKF(s == CLIPC_ERR_INVALID && strstr(clipc_last_error(), cases[i].msg),
               "%s: status %d, message '%s'", cases[i].what, (int)s, clipc_last_error());
    }
}

TEST(train_options_recipes_pass_checks_and_table_is_complete) {
    char names[256];
    snprintf(names, sizeof names, "%s", clipc_train_recipe_names());
    for (char *r = strtok(names, " "); r; r = strtok(NULL, " ")) {
        clipc_train_opts o;
        base_opts(&o);
        REQUIRE_OK(clipc_train_recipe(r, &o));
        CHECKF(train_opts_check(&o) == CLIPC_OK, "recipe %s: %s", r, clipc_last_error());
    }
    int n;
    const clipc_option *t = clipc_train_options(&n);
    CHECK(n >= 50);
    for (int i = 0; i < n; i++) {
        CHECKF(t[i].name && t[i].field && t[i].help && *t[i].help, "entry %d incomplete", i);
        for (int j = 0; j < i; j++)
            CHECKF(strcmp(t[i].name, t[j].name) && strcmp(t[i].field, t[j].field), "%s twice", t[i].name);
    }
    /* what a run stores comes back from its JSON unchanged */
    clipc_train_opts a, b;
    base_opts(&a);
    REQUIRE_OK(clipc_train_recipe("emoji", &a));
    a.seed = 18446744073709551615ull;
    char *json = train_opts_to_json(&a, NULL);
    REQUIRE(json);
    memset(&b, 0, sizeof b);
    cJSON *keep = NULL;
    REQUIRE_OK(train_opts_from_json(json, "test", &b, &keep));
    for (int i = 0; i < n; i++) {
        if (!t[i].stored) continue;
        const char *pa = (const char *)&a + t[i].offset, *pb = (const char *)&b + t[i].offset;
        if (t[i].type == CLIPC_OPT_STR) {
            const char *sa = *(const char *const *)pa, *sb = *(const char *const *)pb;
            CHECKF((!sa && !sb) || (sa && sb && !strcmp(sa, sb)), "%s: '%s' vs '%s'", t[i].field, sa ? sa : "",
                   sb ? sb : "");
        } else {
            size_t sz = t[i].type == CLIPC_OPT_INT ? sizeof(int) : 8;
            CHECKF(!memcmp(pa, pb, sz), "%s differs after the JSON round trip", t[i].field);
        }
    }
    cJSON_Delete(keep);
    free(json);
}

/* A training set of one image made 0-step epochs: `--steps N` never ended
 * (rewriting a checkpoint each time) and `--epochs N` ended untrained with
 * loss nan.  Now it is refused before training starts. */
TEST(train_refuses_data_without_a_batch) {
    const char *dir = test_tmpdir();
    char csv[512], cmd[1400], *out = NULL;
    snprintf(csv, sizeof csv, "%s/one.csv", dir);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fputs("image,caption\ntwemoji/1f600.png,grinning face\n", f);
    fclose(f);
    const char *runs[] = {"--steps 2", "--epochs 3"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "timeout 60 clipc train --data '%s' --image-root data/emoji-mini --config tiny %s "
                 "--out '%s/run%d' 2>&1",
                 csv, runs[i], dir, i);
        int rc = run_capture(cmd, &out);
        CHECKF(rc == 1 && out && strstr(out, "1 training image(s) make no batch"), "%s: rc %d: %s", runs[i], rc,
               out ? out : "");
        free(out);
    }
}
