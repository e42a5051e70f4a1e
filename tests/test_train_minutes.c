/*
 * test_train_minutes.c — the wall-clock budget of clipc train (--minutes):
 * on a fake clock, the run stops at exactly the step its budget allows, the
 * learning-rate schedule (warm-up, then cosine on elapsed / budget) follows
 * the clock step by step to its end, metrics.jsonl records the steps done,
 * and --steps N replays that many steps.  Also the crop-without-
 * flip and shift augmentations of augment.h.  Runs on the Twemoji training
 * images of data/emoji-mini with the tiny config, a few seconds in all.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "image/augment.h"
#include "harness.h"

typedef struct {
    int steps;
    double lr[64]; /* the first 64 steps' learning rates */
} lr_log;

/* The step records of metrics.jsonl (--log-every 1) and its end record. */
static void read_metrics(const char *dir, lr_log *l, long long *end_step, double *train_s) {
    char p[1200], *txt;
    size_t len;
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    REQUIRE_OK(clipc_read_file(p, &txt, &len));
    memset(l, 0, sizeof *l);
    *end_step = -1;
    *train_s = -1;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        double lr;
        long long st;
        if (sscanf(line, "{\"type\":\"step\",\"step\":%lld,\"epoch\":%*d,\"loss\":%*g,\"lr\":%lg", &st, &lr) == 2) {
            CHECKF(st == l->steps + 1, "step record %lld after %d steps", st, l->steps);
            if (l->steps < 64) l->lr[l->steps] = lr;
            l->steps++;
        }
        sscanf(line, "{\"type\":\"end\",\"step\":%lld,\"epoch\":%*d,\"minutes\":%*g,\"train_seconds\":%lg", end_step,
               train_s);
    }
    free(txt);
}

/* The budget of --minutes on a fake clock (CLIPC_TRAIN_CLOCK, honoured by
 * clipc-testhooks only): the loop's clock advances 5 s per optimizer step,
 * so a 1-minute budget buys exactly 12 steps whatever the machine's load.
 * Step k ends its forward/backward at 5k s: its learning rate is the
 * schedule at f = k/12 (warm-up to f = 0.4, then cosine to min-lr at f = 1),
 * and after step 12 the mean step time (5 s) says a 13th would end at 65 s,
 * past the budget. */
TEST(train_minutes_stops_at_budget_and_schedule_ends) {
    struct stat st;
    if (stat("data/emoji-mini/dataset_emoji.json", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    const char *exe = clipc_testhooks_exe();
    char out[1024], out2[1024], cmd[4096], p[1200];
    snprintf(out, sizeof out, "%s/timed", test_tmpdir());
    snprintf(out2, sizeof out2, "%s/replay", test_tmpdir());
    const double base = 1e-3, min_lr = 1e-5, wf = 0.4;
    const char *common = "--data data/emoji-mini/dataset_emoji.json --recipe cpu-tiny --val-split '' --batch 16 "
                         "--threads 2 --lr 1e-3 --min-lr 1e-5 --warmup-frac 0.4 --log-every 1";
    snprintf(cmd, sizeof cmd, "CLIPC_TRAIN_CLOCK=5 %s train %s --out %s --minutes 1 2>/dev/null", exe, common, out);
    CHECK(system(cmd) == 0);
    lr_log l;
    long long steps;
    double train_s;
    read_metrics(out, &l, &steps, &train_s);
    CHECKF(steps == 12 && l.steps == 12, "%lld steps (%d logged), expected exactly 12", steps, l.steps);
    for (int k = 1; k <= l.steps && k <= 12; k++) {
        double f = k / 12.0;
        double want = f < wf ? base * f / wf : min_lr + 0.5 * (base - min_lr) * (1 + cos(M_PI * (f - wf) / (1 - wf)));
        CHECKF(fabs(l.lr[k - 1] - want) <= 1e-5 * want, "step %d: lr %.7g, expected %.7g", k, l.lr[k - 1], want);
    }
    snprintf(p, sizeof p, "%s/ckpt-%lld/model.safetensors", out, steps);
    CHECK(stat(p, &st) == 0);
    /* A timed run cannot be resumed. */
    char *txt = NULL;
    snprintf(cmd, sizeof cmd, "%s train --resume %s 2>&1", exe, out);
    CHECK(run_capture(cmd, &txt) == 1);
    CHECKF(txt && strstr(txt, "a --minutes run cannot be resumed"), "got: %s", txt ? txt : "");
    free(txt);
    /* --steps N replays it: exactly N steps, the schedule by step (warm-up
     * round(0.4 N) = 5 steps, then cosine by step index). */
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --steps %lld 2>/dev/null", clipc_exe(), common, out2, steps);
    CHECK(system(cmd) == 0);
    lr_log l2;
    long long steps2;
    read_metrics(out2, &l2, &steps2, &train_s);
    CHECKF(steps2 == steps && l2.steps == steps, "replay did %lld (%d logged) of %lld steps", steps2, l2.steps, steps);
    long warm = (long)floor(wf * (double)steps + 0.5);
    CHECK(warm == 5);
    for (long k = 0; k < l2.steps && k < 12; k++) {
        double want = k < warm ? base * (double)(k + 1) / (double)warm
                               : min_lr + 0.5 * (base - min_lr) * (1 + cos(M_PI * (double)(k - warm) / (double)(steps - warm)));
        CHECKF(fabs(l2.lr[k] - want) <= 1e-5 * want, "replay step %ld: lr %.7g, expected %.7g", k + 1, l2.lr[k], want);
    }
}

TEST(augment_crop_without_flip_and_shift) {
    enum { W = 20, S = 16 };
    uint8_t src[W * W * 3];
    for (int i = 0; i < W * W; i++) src[3 * i] = (uint8_t)(i % W * 12), src[3 * i + 1] = 7, src[3 * i + 2] = 200;
    clipc_image img = {.width = W, .height = W, .channels = 3, .data = src};
    float px[3 * S * S], px2[3 * S * S];
    uint8_t a[S * S * 3], b[S * S * 3], c[S * S * 3];
    /* Mode 1 with shift 0 is augment_image, bit for bit. */
    for (uint64_t seed = 1; seed <= 8; seed++) {
        REQUIRE_OK(augment_image(&img, S, seed, px, a));
        REQUIRE_OK(augment_image_ex(&img, S, 1, 0, seed, px2, b));
        CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(px, px2, sizeof px) == 0);
    }
    /* Mode 2 never mirrors: the red ramp keeps rising left to right. */
    for (uint64_t seed = 1; seed <= 32; seed++) {
        REQUIRE_OK(augment_image_ex(&img, S, 2, 0, seed, px, a));
        CHECKF(a[0] <= a[(S - 1) * 3], "seed %llu: mirrored (%d > %d)", (unsigned long long)seed, a[0],
               a[(S - 1) * 3]);
    }
    /* Mode 0 + shift: the center crop translated, white fill, within 2 px. */
    REQUIRE_OK(clipc_preprocess(&img, S, px, c));
    int moved = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        REQUIRE_OK(augment_image_ex(&img, S, 0, 2, seed, px, a));
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                int ok = 1;
                for (int y = 0; y < S && ok; y++)
                    for (int x = 0; x < S && ok; x++) {
                        int sy = y - dy, sx = x - dx;
                        const uint8_t *q = a + (y * S + x) * 3;
                        if (sy < 0 || sy >= S || sx < 0 || sx >= S)
                            ok = q[0] == 255 && q[1] == 255 && q[2] == 255;
                        else
                            ok = memcmp(q, c + (sy * S + sx) * 3, 3) == 0;
                    }
                if (ok) found = 1, moved += dx || dy;
            }
        CHECKF(found, "seed %llu: not a translation of the center crop", (unsigned long long)seed);
    }
    CHECK(moved >= 8);
}
