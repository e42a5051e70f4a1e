/*
 * test_train_runs.c — `clipc train` as a whole run over its folder: a
 * finished run resumed does nothing, one run per folder (the lock), a run
 * resumed from another working directory, and the shipped CLI without the
 * crash tests' fault hook (CLIPC_TRAIN_FAULT), and a real SIGINT then
 * --resume giving the uninterrupted bits.  Tiny runs (config tiny,
 * batch 4) on eight emoji-mini images, through the CLI.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"
#include "train/checkpoint.h"

#define PLEN 1024

static const char *emoji[8] = {"1f600", "1f601", "1f602", "1f603", "1f604", "1f605", "1f606", "1f607"};

typedef struct {
    char root[PLEN];  /* the repository (the working directory of the tests) */
    char dir[PLEN];   /* this test's folder, absolute */
    char clipc[PLEN + 32];
    char data[PLEN + 32];
} env;

/* dir/pairs.csv over eight Twemoji images, relative to dir/emoji (a link to
 * data/emoji-mini); NULL skip when the data is absent. */
static void env_setup(env *e) {
    struct stat st;
    if (stat("data/emoji-mini/twemoji/1f600.png", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    REQUIRE(getcwd(e->root, sizeof e->root));
    char *dir = realpath(test_tmpdir(), NULL);
    REQUIRE(dir && strlen(dir) < 900);
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    free(dir);
    REQUIRE(strlen(e->root) < 900);
    snprintf(e->clipc, sizeof e->clipc, "%s", clipc_exe());
    snprintf(e->data, sizeof e->data, "%s/pairs.csv", e->dir);
    char link[PLEN + 32], target[PLEN + 32];
    snprintf(link, sizeof link, "%s/emoji", e->dir);
    snprintf(target, sizeof target, "%s/data/emoji-mini", e->root);
    REQUIRE(symlink(target, link) == 0);
    FILE *f = fopen(e->data, "w");
    REQUIRE(f);
    fputs("image,caption\n", f);
    for (int i = 0; i < 8; i++) fprintf(f, "twemoji/%s.png,emoji number %d\n", emoji[i], i);
    fclose(f);
}

static const char common[] = "--recipe cpu-tiny --config tiny --batch 4 --threads 2 --warmup 1 --log-every 100";

/* Runs `cd dir && [envvar] exe train ARGS` (stderr too) under a timeout;
 * the exit status, the output in *out (free it). */
static int train(const env *e, const char *envvar, const char *exe, const char *args, char **out) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s timeout 120 '%s' train %s 2>&1", e->dir, envvar ? envvar : "", exe,
             args);
    *out = NULL;
    return run_capture(cmd, out);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 20);
    if (b && fread(b, 1, (1 << 20) - 1, f) == 0) b[0] = 0;
    fclose(f);
    return b;
}

/* Checkpoint folders (ckpt-<n>) in run. */
static int n_ckpts(const char *run) {
    DIR *d = opendir(run);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "ckpt-", 5) && !strchr(de->d_name, '.')) n++;
    closedir(d);
    return n;
}

/* A finished run resumed: the message, exit 0, and nothing written (no new
 * checkpoint, `last` and metrics.jsonl unchanged).  It trained one more step
 * each time (ckpt-4, ckpt-5, ...).  For --steps and for --epochs runs. */
TEST(train_resume_of_a_finished_run_does_nothing) {
    env e;
    env_setup(&e);
    const char *length[2] = {"--steps 3", "--epochs 1"};
    const char *said[2] = {"already finished (3 of 3 steps); nothing to do",
                           "already finished (1 of 1 epochs); nothing to do"};
    for (int k = 0; k < 2; k++) {
        char args[2048], run[PLEN + 32], mpath[PLEN + 64], *out;
        snprintf(run, sizeof run, "%s/run%d", e.dir, k);
        snprintf(args, sizeof args, "--data pairs.csv --image-root emoji --out run%d %s %s", k, common, length[k]);
        int rc = train(&e, NULL, e.clipc, args, &out);
        CHECKF(rc == 0, "%s: rc %d: %s", length[k], rc, out ? out : "");
        free(out);
        int64_t last = ckpt_pointer_step(run, "last");
        int n = n_ckpts(run);
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run);
        char *metrics = slurp(mpath);
        REQUIRE(last > 0 && n > 0 && metrics);
        for (int again = 0; again < 2; again++) {
            snprintf(args, sizeof args, "--resume run%d --threads 2", k);
            rc = train(&e, NULL, e.clipc, args, &out);
            CHECKF(rc == 0 && out && strstr(out, said[k]), "%s resumed: rc %d: %s", length[k], rc, out ? out : "");
            CHECKF(out && !strstr(out, "done:"), "%s resumed: %s", length[k], out ? out : "");
            free(out);
            CHECKF(ckpt_pointer_step(run, "last") == last, "%s: last moved from %lld to %lld", length[k],
                   (long long)last, (long long)ckpt_pointer_step(run, "last"));
            CHECKF(n_ckpts(run) == n, "%s: %d checkpoints after resuming, %d before", length[k], n_ckpts(run), n);
            char *m2 = slurp(mpath);
            CHECKF(m2 && !strcmp(m2, metrics), "%s: metrics.jsonl changed", length[k]);
            free(m2);
        }
        free(metrics);
    }
}

/* Takes the run folder's lock as another clipc train would. */
static int hold_lock(const char *run) {
    char p[PLEN + 32];
    snprintf(p, sizeof p, "%s/lock", run);
    int fd = open(p, O_RDWR | O_CREAT, 0666);
    if (fd < 0) return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

static void quiet(const char *m, void *ud) {
    (void)m;
    (void)ud;
}

/* Two runs on one folder: the second is refused at once, naming the folder
 * and the holder's pid (it ran, and died later on a rename).  --resume takes
 * the same lock.  The lock goes with the run: after a run, and after one
 * that failed, the folder is free again. */
TEST(train_refuses_a_run_folder_in_use) {
    env e;
    env_setup(&e);
    char run[PLEN + 32], args[2048], want[PLEN + 128], *out;
    snprintf(run, sizeof run, "%s/run", e.dir);
    REQUIRE(mkdir(run, 0777) == 0);
    int fd = hold_lock(run);
    REQUIRE(fd >= 0);
    snprintf(want, sizeof want, "train: run is in use by another clipc train (pid %ld)", (long)getpid());
    snprintf(args, sizeof args, "--data pairs.csv --image-root emoji --out run %s --steps 4 --stop-after-steps 2",
             common);
    double t0 = clipc_now();
    int rc = train(&e, NULL, e.clipc, args, &out);
    CHECKF(rc == 1 && out && strstr(out, want), "rc %d: %s", rc, out ? out : "");
    CHECKF(clipc_now() - t0 < 20, "refused only after %.1f s", clipc_now() - t0);
    free(out);
    CHECK(n_ckpts(run) == 0);
    close(fd); /* the other run ends */
    rc = train(&e, NULL, e.clipc, args, &out);
    CHECKF(rc == 0, "rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(ckpt_pointer_step(run, "last") == 2);
    /* --resume: the same lock */
    fd = hold_lock(run);
    REQUIRE(fd >= 0);
    rc = train(&e, NULL, e.clipc, "--resume run --threads 2", &out);
    CHECKF(rc == 1 && out && strstr(out, "is in use by another clipc train"), "resume: rc %d: %s", rc,
           out ? out : "");
    free(out);
    CHECK(ckpt_pointer_step(run, "last") == 2);
    close(fd);
    rc = train(&e, NULL, e.clipc, "--resume run --threads 2", &out);
    CHECKF(rc == 0, "resume: rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(ckpt_pointer_step(run, "last") == 4);
    /* in this process: a run that fails after taking the lock releases it */
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    REQUIRE_OK(clipc_train_recipe("cpu-tiny", &o));
    char bad[PLEN + 32];
    snprintf(bad, sizeof bad, "%s/missing.csv", e.dir);
    o.data = bad;
    o.out_dir = run;
    o.config = "tiny";
    o.threads = 2;
    o.warn = quiet;
    CHECK(clipc_train_run(&o, NULL) != CLIPC_OK);
    clipc_error_clear();
    fd = hold_lock(run);
    CHECKF(fd >= 0, "the failed run left %s locked", run);
    if (fd >= 0) close(fd);
}

/* A run started with relative --data and --image-root, resumed by its
 * absolute path from another working directory: the stored paths are
 * absolute (it failed: the data file was looked up in the new directory). */
TEST(train_resume_from_another_working_directory) {
    env e;
    env_setup(&e);
    char run[PLEN + 32], args[PLEN + 256], other[PLEN + 32], *out;
    snprintf(run, sizeof run, "%s/run", e.dir);
    snprintf(args, sizeof args, "--data pairs.csv --image-root emoji --out run %s --steps 4 --stop-after-steps 2",
             common);
    int rc = train(&e, NULL, e.clipc, args, &out);
    CHECKF(rc == 0, "rc %d: %s", rc, out ? out : "");
    free(out);
    REQUIRE(ckpt_pointer_step(run, "last") == 2);
    char cpath[PLEN + 64];
    snprintf(cpath, sizeof cpath, "%s/config.json", run);
    char *cfg = slurp(cpath);
    char want[PLEN + 64];
    snprintf(want, sizeof want, "\"%s/pairs.csv\"", e.dir);
    CHECKF(cfg && strstr(cfg, want), "config.json does not store %s", want);
    free(cfg);
    snprintf(other, sizeof other, "%s/elsewhere", e.dir);
    REQUIRE(mkdir(other, 0777) == 0);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cd '%s' && timeout 120 '%s' train --resume '%s' --threads 2 2>&1", other, e.clipc,
             run);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && out && strstr(out, "done: 4 steps"), "resume from elsewhere: rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(ckpt_pointer_step(run, "last") == 4);
}

/* The crash tests' fault hook is in clipc-testhooks only: the shipped
 * clipc trains normally with CLIPC_TRAIN_FAULT set (it killed itself). */
TEST(train_shipped_cli_ignores_fault_variable) {
    env e;
    env_setup(&e);
    char args[2048], run[PLEN + 32], hooks[PLEN + 32], *out;
    snprintf(args, sizeof args, "--data pairs.csv --image-root emoji --out shipped %s --steps 2", common);
    int rc = train(&e, "CLIPC_TRAIN_FAULT=model:0", e.clipc, args, &out);
    CHECKF(rc == 0 && out && strstr(out, "done: 2 steps"), "rc %d: %s", rc, out ? out : "");
    free(out);
    snprintf(run, sizeof run, "%s/shipped", e.dir);
    CHECK(ckpt_pointer_step(run, "last") == 2);
    /* the test build still has it */
    snprintf(hooks, sizeof hooks, "%s", clipc_testhooks_exe());
    snprintf(args, sizeof args, "--data pairs.csv --image-root emoji --out hooked %s --steps 2", common);
    rc = train(&e, "CLIPC_TRAIN_FAULT=model:0", hooks, args, &out);
    CHECKF(rc == 137, "clipc-testhooks with CLIPC_TRAIN_FAULT: rc %d (expected 137, killed): %s", rc,
           out ? out : "");
    free(out);
}

/* A real Ctrl-C (SIGINT to the process, not --stop-after-steps): sent as
 * soon as the first checkpoint exists, the run finishes its step, writes a
 * checkpoint and exits 130; --resume then ends with the uninterrupted
 * run's bits (model and optimizer state). */
TEST(train_sigint_then_resume_gives_the_uninterrupted_bits) {
    env e;
    env_setup(&e);
    char args[1024], cmd[8192], *out = NULL;
    snprintf(args, sizeof args, "--data pairs.csv --image-root emoji %s --steps 8 --ckpt-every-steps 2", common);
    char full[1200];
    snprintf(full, sizeof full, "%s --out full", args);
    int rc = train(&e, NULL, e.clipc, full, &out);
    CHECKF(rc == 0, "uninterrupted run: rc %d: %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { '%s' train %s --out sig 2>sig.log & pid=$!; "
             "while [ ! -f sig/last ] && kill -0 $pid 2>/dev/null; do sleep 0.02; done; "
             "kill -INT $pid; wait $pid; echo \"rc=$?\"; cat sig.log; }",
             e.dir, e.clipc, args);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && out && strstr(out, "rc=130") && strstr(out, "clipc: stopped at step"),
           "interrupted run: %s", out ? out : "");
    free(out);
    char run[PLEN + 32];
    snprintf(run, sizeof run, "%s/sig", e.dir);
    int64_t at = ckpt_pointer_step(run, "last");
    CHECKF(at >= 2 && at < 8, "interrupted at step %lld: the signal did not land mid-run", (long long)at);
    rc = train(&e, NULL, e.clipc, "--resume sig --threads 2", &out);
    CHECKF(rc == 0, "resume: rc %d: %s", rc, out ? out : "");
    free(out);
    const char *f[2] = {"model", "state"};
    for (int i = 0; i < 2; i++) {
        char a[PLEN + 64], b[PLEN + 64];
        snprintf(a, sizeof a, "%s/full/ckpt-8/%s.safetensors", e.dir, f[i]);
        snprintf(b, sizeof b, "%s/sig/ckpt-8/%s.safetensors", e.dir, f[i]);
        char *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        CHECK(clipc_read_file(a, &x, &nx) == CLIPC_OK && clipc_read_file(b, &y, &ny) == CLIPC_OK);
        CHECKF(x && y && nx == ny && !memcmp(x, y, nx), "ckpt-8/%s differs after SIGINT at step %lld and resume",
               f[i], (long long)at);
        free(x);
        free(y);
    }
}
