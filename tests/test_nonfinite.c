/*
 * test_nonfinite.c — NaN is never passed on: a model file holding nan/inf
 * is refused at load (naming the tensor) unless --allow-nonfinite, and then
 * `encode` still writes valid JSON (null), `classify` and `search` fail with
 * a message; a diverging training run stops with an error after a few
 * non-finite steps, every checkpoint it leaves (and `best`) is finite, and
 * metrics.jsonl is valid JSON line by line.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "model/model.h"
#include "nn/params.h"
#include "train/metrics_log.h"
#include "harness.h"

#define IMG "tests/data/images/bilevel_30x22.png"

/* A small random model with 3 NaN and 1 inf in 'visual.proj'. */
static void make_nan_model(const char *path) {
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 3, &m));
    const param_info *p = NULL;
    for (int i = 0; i < m->tab.n; i++)
        if (!strcmp(m->tab.p[i].name, "visual.proj")) p = &m->tab.p[i];
    REQUIRE(p && p->numel >= 8);
    float *x = m->params + p->offset;
    x[0] = x[3] = x[7] = NAN;
    x[5] = -INFINITY;
    REQUIRE_OK(clipc_model_save(m, path));
    clipc_model_free(m);
}

static void count_warn(const char *msg, void *ud) {
    if (strstr(msg, "visual.proj")) ++*(int *)ud;
}

/* Every line of text parses as a JSON object; returns the number of lines. */
static int all_lines_json(char *text) {
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(l);
        CHECKF(j && cJSON_IsObject(j), "not a JSON object: %s", l);
        cJSON_Delete(j);
        n++;
    }
    return n;
}

TEST(nonfinite_model_refused_naming_the_tensor) {
    char mp[512];
    snprintf(mp, sizeof mp, "%s/nan.safetensors", test_tmpdir());
    make_nan_model(mp);
    clipc_model *m = NULL;
    CHECK(clipc_model_load(mp, NULL, &m) == CLIPC_ERR_FORMAT && !m);
    CHECKF(strstr(clipc_last_error(), "tensor 'visual.proj' holds 4 non-finite values") &&
               strstr(clipc_last_error(), "--allow-nonfinite"),
           "message: %s", clipc_last_error());
    int warned = 0;
    clipc_load_opts lo = {.allow_nonfinite = 1, .warn = count_warn, .warn_ud = &warned};
    REQUIRE_OK(clipc_model_load(mp, &lo, &m));
    CHECK(warned == 1);
    clipc_model_free(m);
    /* Every command that takes --model refuses it, naming the tensor. */
    char db[600];
    snprintf(db, sizeof db, "--db %s/x.db tests/data/images", test_tmpdir());
    const char *cmds[] = {"encode --text hi", "classify --labels a,b " IMG, db};
    for (int i = 0; i < 3; i++) {
        char cmd[2048], *out = NULL;
        snprintf(cmd, sizeof cmd, "clipc %s %s --model %s 2>&1", i < 2 ? "" : "index", cmds[i], mp);
        int rc = run_capture(cmd, &out);
        CHECKF(rc == 1 && strstr(out, "tensor 'visual.proj'") && strstr(out, "refusing to load"), "%s: rc %d: %s",
               cmds[i], rc, out);
        free(out);
    }
}

TEST(nonfinite_allowed_outputs_stay_valid) {
    const char *tmp = test_tmpdir();
    char mp[512], cmd[4096], *out = NULL;
    snprintf(mp, sizeof mp, "%s/nan.safetensors", tmp);
    make_nan_model(mp);
    /* encode: the image's embedding is all nan -> null; the text's is finite. */
    snprintf(cmd, sizeof cmd, "clipc encode --model %s --allow-nonfinite --image %s --text hi 2>/dev/null", mp,
             IMG);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "encode: rc %d", rc);
    CHECKF(!strstr(out, "nan") && !strstr(out, "inf"), "bare nan/inf: %s", out);
    CHECK(strstr(out, "null") != NULL);
    char *copy = strdup(out);
    CHECK(all_lines_json(copy) == 2);
    free(copy);
    free(out);
    /* classify: an error naming the image, never "nan%". */
    snprintf(cmd, sizeof cmd, "clipc classify --model %s --allow-nonfinite --labels a,b %s 2>&1", mp, IMG);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && !strstr(out, "nan%") && strstr(out, IMG) && strstr(out, "nan"), "classify: rc %d: %s", rc,
           out);
    free(out);
    /* search: the image query's embedding is nan: an error, not 0 results. */
    char db[600];
    snprintf(db, sizeof db, "%s/x.db", tmp);
    snprintf(cmd, sizeof cmd, "clipc index --model %s --allow-nonfinite --db %s tests/data/images >/dev/null 2>&1",
             mp, db);
    REQUIRE(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "clipc search --db %s --allow-nonfinite --image %s 2>&1", db, IMG);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "nan/inf"), "search: rc %d: %s", rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "clipc search --db %s --image %s 2>&1", db, IMG);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "visual.proj"), "search without --allow-nonfinite: rc %d: %s", rc, out);
    free(out);
}

TEST(nonfinite_metrics_step_line_is_json) {
    metrics_log ml = {0};
    metrics_log_step(&ml, 3, 0, NAN, 1e-3, INFINITY, 10.0);
    metrics_log_step(&ml, 4, 0, 2.5, 1e-3, NAN, NAN);
    REQUIRE(ml.buf);
    CHECKF(!strstr(ml.buf, "nan") && !strstr(ml.buf, "inf"), "%s", ml.buf);
    CHECK(all_lines_json(ml.buf) == 2);
    metrics_log_free(&ml);
}

/* The diverging run of the issue (--lr 1e4 --warmup 0 --grad-clip 0) on 32
 * emoji: an error after 3 non-finite steps, exit 1, nothing nan left. */
TEST(nonfinite_diverging_training_stops) {
    struct stat st;
    if (stat("data/emoji-mini/dataset_emoji.json", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    const char *tmp = test_tmpdir();
    char data[600], out_dir[600], cmd[4096], p[1200], *out = NULL;
    snprintf(data, sizeof data, "%s/e.json", tmp);
    snprintf(out_dir, sizeof out_dir, "%s/run", tmp);
    clipc_dataset *ds;
    clipc_dataset_opts dopt = {.split = "train"};
    REQUIRE_OK(clipc_dataset_load("data/emoji-mini/dataset_emoji.json", &dopt, &ds));
    FILE *f = fopen(data, "w");
    REQUIRE(f);
    fprintf(f, "{\"images\": [");
    for (int i = 0; i < 32; i++) {
        int first;
        clipc_dataset_image_captions(ds, i, &first);
        fprintf(f, "%s{\"filename\": \"%s\", \"imgid\": %d, \"sentences\": [{\"raw\": \"%s\"}]}", i ? ", " : "",
                clipc_dataset_image_path(ds, i), i, clipc_dataset_caption(ds, first));
    }
    fprintf(f, "]}\n");
    fclose(f);
    clipc_dataset_free(ds);
    snprintf(cmd, sizeof cmd,
             "clipc train --data %s --image-root data/emoji-mini --out %s --recipe cpu-tiny --config emoji "
             "--lr 1e4 --warmup 0 --grad-clip 0 --epochs 6 --batch 16 --threads 2 --log-every 1 2>&1",
             data, out_dir);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "for 3 steps in a row; the run diverged") && strstr(out, "last finite checkpoint"),
           "train: rc %d: %s", rc, out);
    free(out);
    /* Every checkpoint left, `best` and `last` among them, loads: finite. */
    const char *ptr[] = {"best", "last"};
    for (int k = 0; k < 2; k++) {
        char *name = NULL;
        size_t len;
        snprintf(p, sizeof p, "%s/%s", out_dir, ptr[k]);
        if (clipc_read_file(p, &name, &len)) {
            clipc_error_clear();
            continue;
        }
        name[strcspn(name, "\n")] = 0;
        snprintf(p, sizeof p, "%s/%s/model.safetensors", out_dir, name);
        clipc_model *m = NULL;
        clipc_status s = clipc_model_load(p, NULL, &m);
        CHECKF(s == CLIPC_OK, "%s -> %s: %s", ptr[k], name, clipc_last_error());
        clipc_model_free(m);
        free(name);
    }
    char *metrics = NULL;
    size_t len;
    snprintf(p, sizeof p, "%s/metrics.jsonl", out_dir);
    REQUIRE_OK(clipc_read_file(p, &metrics, &len));
    CHECKF(!strstr(metrics, "nan") && !strstr(metrics, "inf"), "%s", metrics);
    CHECK(all_lines_json(metrics) >= 3);
    free(metrics);
}
