/*
 * test_train_minutes.c — the wall-clock budget of clipc train (--minutes):
 * the run stops near its budget, the learning-rate schedule (warm-up, then
 * cosine on elapsed / budget) reaches its end, metrics.jsonl records the
 * steps done, and --steps N replays that many steps.  Also the crop-without-
 * flip and shift augmentations of augment.h.  Runs on the Twemoji training
 * images of data/emoji-mini with the tiny config, about 3 s in all.
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
    double first_lr, max_lr, last_lr;
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
            if (l->steps++ == 0) l->first_lr = lr;
            if (lr > l->max_lr) l->max_lr = lr;
            l->last_lr = lr;
        }
        sscanf(line, "{\"type\":\"end\",\"step\":%lld,\"epoch\":%*d,\"minutes\":%*g,\"train_seconds\":%lg", end_step,
               train_s);
    }
    free(txt);
}

/* Through the CLI: it sets OMP_WAIT_POLICY=PASSIVE (cli/main.c), without
 * which a spinning OpenMP team on a loaded 2-core machine makes step times
 * erratic, and a timed run is only as good as its step times. */
TEST(train_minutes_stops_at_budget_and_schedule_ends) {
    struct stat st;
    if (stat("data/emoji-mini/dataset_emoji.json", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    REQUIRE(n > 0);
    exe[n] = 0;
    char *sl = strrchr(exe, '/');
    REQUIRE(sl);
    strcpy(sl + 1, "clipc");
    char out[1024], out2[1024], cmd[4096], p[1200];
    snprintf(out, sizeof out, "%s/timed", test_tmpdir());
    snprintf(out2, sizeof out2, "%s/replay", test_tmpdir());
    const char *common = "--data data/emoji-mini/dataset_emoji.json --recipe cpu-tiny --val-split '' --batch 16 "
                         "--threads 2 --lr 1e-3 --warmup-frac 0.4 --log-every 1";
#if defined(__SANITIZE_ADDRESS__)
    const double budget = 4.0; /* seconds; ASan makes a step several times slower */
#else
    const double budget = 1.5;
#endif
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --minutes %.6f 2>/dev/null", exe, common, out, budget / 60);
    double t0 = clipc_now();
    CHECK(system(cmd) == 0);
    double wall = clipc_now() - t0;
    lr_log l;
    long long steps;
    double train_s;
    read_metrics(out, &l, &steps, &train_s);
    printf("  %lld steps, training loop %.2f s of %.2f s (wall %.2f s), lr %.2g .. %.2g .. %.2g\n", steps, train_s,
           budget, wall, l.first_lr, l.max_lr, l.last_lr);
    CHECKF(steps >= 3 && l.steps == steps, "%lld steps (%d logged)", steps, l.steps);
    /* Stops near the budget: not after it (the mean step time predicts the
     * next step's end; slack for a step slowed by a loaded CI machine: a run
     * that ignored the budget would go on for its epochs), and not much before. */
    CHECKF(train_s <= budget * 1.5 + 0.25, "loop %.3f s over the %.2f s budget", train_s, budget);
    CHECKF(train_s >= budget * 0.6, "loop %.3f s: stopped well before the %.2f s budget", train_s, budget);
    /* Warm-up starts low, the peak is reached, the cosine ends near 0. */
    CHECKF(l.first_lr < 0.9 * l.max_lr, "first lr %g: no warm-up", l.first_lr);
    CHECKF(l.max_lr > 0.7e-3, "peak lr %g never reached", l.max_lr);
    CHECKF(l.last_lr < 0.35e-3, "last lr %g: the cosine did not reach its end", l.last_lr);
    snprintf(p, sizeof p, "%s/ckpt-%lld/model.safetensors", out, steps);
    CHECK(stat(p, &st) == 0);
    /* A timed run cannot be resumed. */
    char *txt = NULL;
    snprintf(cmd, sizeof cmd, "%s train --resume %s 2>&1", exe, out);
    CHECK(run_capture(cmd, &txt) == 1);
    CHECKF(txt && strstr(txt, "a --minutes run cannot be resumed"), "got: %s", txt ? txt : "");
    free(txt);

    /* --steps N replays it: exactly N steps, the same schedule by step. */
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --steps %lld 2>/dev/null", exe, common, out2, steps);
    CHECK(system(cmd) == 0);
    lr_log l2;
    long long steps2;
    read_metrics(out2, &l2, &steps2, &train_s);
    CHECKF(steps2 == steps && l2.steps == steps, "replay did %lld (%d logged) of %lld steps", steps2, l2.steps, steps);
    long warm = (long)floor(0.4 * (double)steps + 0.5);
    CHECK_NEAR(l2.first_lr, 1e-3 / (double)warm, 1e-9);
    CHECK_NEAR(l2.max_lr, 1e-3, 1e-9);
    CHECKF(l2.last_lr < 0.35e-3, "replay's last lr %g", l2.last_lr);
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
