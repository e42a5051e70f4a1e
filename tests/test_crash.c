/*
 * test_crash.c — one short case of each kind tools/crash_campaign.sh runs
 * by the hundred (kills, full disks): a file-size limit (RLIMIT_FSIZE, as
 * `ulimit -f`) during a checkpoint write and during `clipc encode --out`,
 * and standard output on /dev/full.  Each must end in a clean error (exit 1,
 * the message naming the file), with the previous files intact and no
 * temporary folder left; and an I/O error (EIO) at each step of an atomic
 * output.  The kill cases of the default suite are
 * train_kill9_resume_cli (test_train.c) and use_index_survives_kill_and_interrupt
 * (test_use.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"
#include "train/checkpoint.h"

static char *slurp(const char *path, size_t *len) {
    char *b = NULL;
    if (clipc_read_file(path, &b, len) != CLIPC_OK) return NULL;
    return b;
}

/* Files a and b have the same bytes as the copies taken before. */
static int same_as(const char *path, const char *before, size_t before_len) {
    size_t n;
    char *now = slurp(path, &n);
    int same = now && n == before_len && !memcmp(now, before, n);
    free(now);
    return same;
}

TEST(crash_file_size_limit_during_checkpoint_and_encode) {
    struct stat st;
    if (stat("data/emoji-mini/twemoji/1f600.png", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    char dir[1024], cmd[8192], p[1200], *out = NULL;
    char *real = realpath(test_tmpdir(), NULL);
    REQUIRE(real);
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    char cwd[1024];
    REQUIRE(getcwd(cwd, sizeof cwd));
    snprintf(p, sizeof p, "%s/pairs.csv", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("image,caption\n", f);
    const char *emoji[4] = {"1f600", "1f601", "1f602", "1f603"};
    for (int i = 0; i < 4; i++) fprintf(f, "twemoji/%s.png,emoji number %d\n", emoji[i], i);
    fclose(f);
    /* a run stopped at step 2 of 4: ckpt-2 and `last` are the previous files */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && clipc train --data pairs.csv --image-root '%s/data/emoji-mini' --out run --recipe cpu-tiny "
             "--config tiny --batch 2 --threads 2 --warmup 1 --log-every 100 --steps 4 --stop-after-steps 2 2>&1",
             dir, cwd);
    int rc = run_capture(cmd, &out);
    REQUIRE(rc == 0 && out);
    free(out);
    size_t lm, ll;
    snprintf(p, sizeof p, "%s/run/ckpt-2/model.safetensors", dir);
    char *model = slurp(p, &lm);
    snprintf(p, sizeof p, "%s/run/last", dir);
    char *last = slurp(p, &ll);
    REQUIRE(model && last && ll == 7 && !memcmp(last, "ckpt-2\n", 7));
    /* the resume writes ckpt-4 (a 31 MB model) under a 4 MiB file-size limit */
    snprintf(cmd, sizeof cmd, "cd '%s' && (ulimit -f 4096; exec clipc train --resume run --threads 2) 2>&1", dir);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && out && strstr(out, "clipc: error: run/ckpt-4.tmp/model.safetensors") &&
               strstr(out, "write failed: File too large"),
           "resume under the limit: rc %d: %s", rc, out ? out : "");
    free(out);
    snprintf(p, sizeof p, "%s/run/ckpt-2/model.safetensors", dir);
    CHECK(same_as(p, model, lm));
    snprintf(p, sizeof p, "%s/run/last", dir);
    CHECK(same_as(p, last, ll));
    snprintf(p, sizeof p, "%s/run/ckpt-4.tmp", dir);
    CHECKF(stat(p, &st) != 0, "the half-written run/ckpt-4.tmp was left behind");
    snprintf(p, sizeof p, "%s/run/ckpt-4", dir);
    CHECK(stat(p, &st) != 0);
    free(model);
    free(last);
    /* encode --out: the previous file stays as it was */
    snprintf(p, sizeof p, "%s/emb.json", dir);
    f = fopen(p, "w");
    REQUIRE(f);
    fputs("previous\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && (ulimit -f 0; exec clipc encode --model run/ckpt-2/model.safetensors --text a --text b "
             "--out emb.json) 2>&1",
             dir);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && out && strstr(out, "clipc: error: emb.json") && strstr(out, "File too large"),
           "encode under the limit: rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(same_as(p, "previous\n", 9));
    /* and without the limit it is written */
    snprintf(cmd, sizeof cmd, "cd '%s' && clipc encode --model run/ckpt-2/model.safetensors --text a --out emb.json 2>&1",
             dir);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "encode: rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(!same_as(p, "previous\n", 9));
}

/* A full disk on standard output (ENOSPC when the buffer is flushed) is an
 * error, not an exit 0 with the output lost. */
TEST(crash_standard_output_on_a_full_disk_is_an_error) {
    struct stat st;
    if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) SKIP("no /dev/full");
    const char *cmds[] = {"clipc --version", "clipc tokenize --help", "clipc search --help"};
    for (int i = 0; i < 3; i++) {
        char cmd[512], *out = NULL;
        snprintf(cmd, sizeof cmd, "%s 2>&1 >/dev/full", cmds[i]);
        int rc = run_capture(cmd, &out);
        CHECKF(rc == 1 && out && !strcmp(out, "clipc: error: writing standard output: No space left on device\n"),
               "%s: rc %d, stderr: %s", cmds[i], rc, out ? out : "");
        free(out);
        snprintf(cmd, sizeof cmd, "%s >/dev/null", cmds[i]);
        CHECK(run_capture(cmd, &out) == 0);
        free(out);
    }
    /* tokenize checks its own writes and says so once */
    char *out = NULL;
    int rc = run_capture("printf '{\"text\": \"a cat\"}\\n' | clipc tokenize 2>&1 >/dev/full", &out);
    CHECKF(rc == 1 && out && !strcmp(out, "clipc tokenize: error writing the output\n"), "tokenize: rc %d: %s", rc,
           out ? out : "");
    free(out);
}

/* A kill during an atomic write leaves "<file>.tmp.<pid>.<hex>" in the run
 * folder (tools/crash_campaign.sh found metrics.jsonl's after a kill); the
 * next run's prune removes it, and nothing that merely looks similar. */
TEST(crash_stale_temporary_files_removed_by_the_next_run) {
    const char *dir = test_tmpdir();
    const char *stale[] = {"metrics.jsonl.tmp.27324.a3968287", "last.tmp.1.00000000", "plot.svg.tmp.99.ffffffff"};
    const char *kept[] = {"notes.tmp.txt", "x.tmp.12.abc", "y.tmp.12.0123456789", ".tmp.1.00000000", "z.tmp.1a.00000000"};
    char p[1024];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, stale[i]);
        REQUIRE_OK(clipc_write_file_atomic(p, "x", 1));
    }
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, kept[i]);
        REQUIRE_OK(clipc_write_file_atomic(p, "x", 1));
    }
    REQUIRE_OK(ckpt_prune(dir, 2));
    struct stat st;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, stale[i]);
        CHECKF(stat(p, &st) != 0, "%s was not removed", stale[i]);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, kept[i]);
        CHECKF(stat(p, &st) == 0, "%s was removed", kept[i]);
    }
}

/* ------------------------------------------------------------------ EIO */

static int eio_count, eio_at;

static int eio_hook(const char *op, const char *path, void *ud) {
    (void)op, (void)path, (void)ud;
    return ++eio_count == eio_at ? EIO : 0;
}



/* An I/O error (EIO: a failing disk, a lost network mount) at the write,
 * the fsync or the rename of an atomic output: a clear error naming the
 * file, the previous file as it was, no temporary file left.  First the
 * library's clipc_write_file_atomic (its points in order: create, write,
 * fsync, rename, the folder's fsync), then `clipc encode --out` through
 * clipc-testhooks (CLIPC_IO_FAULT=eio:N at the points CLIPC_IO_TRACE
 * lists for the output).  Checkpoints and index files: the EIO cases of
 * test_crash_points.c. */
TEST(crash_eio_during_an_atomic_output) {
    char dir[1024], path[1200], want[2600];
    char *real = realpath(test_tmpdir(), NULL);
    REQUIRE(real);
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    snprintf(path, sizeof path, "%s/out.json", dir);
    const struct {
        int at;
        const char *op, *tail;
    } lib[] = {{2, "write", ": write failed: Input/output error"},
               {3, "fsync", ": fsync failed: Input/output error"},
               {4, "rename", " failed: Input/output error"}};
    for (int i = 0; i < 3; i++) {
        REQUIRE_OK(clipc_write_file_atomic(path, "previous\n", 9));
        eio_count = 0, eio_at = lib[i].at;
        clipc_set_io_hook(eio_hook, NULL);
        clipc_status s = clipc_write_file_atomic(path, "new\n", 4);
        clipc_set_io_hook(NULL, NULL);
        const char *msg = clipc_last_error();
        if (lib[i].at == 4) /* the temporary name is random: its start, and the end */
            snprintf(want, sizeof want, "%s: rename of %s.tmp.", path, path);
        else
            snprintf(want, sizeof want, "%s%s", path, lib[i].tail);
        size_t lm = strlen(msg), lt = strlen(lib[i].tail);
        CHECKF(s == CLIPC_ERR_IO && (lib[i].at == 4 ? !strncmp(msg, want, strlen(want)) && lm > lt &&
                                                          !strcmp(msg + lm - lt, lib[i].tail)
                                                    : !strcmp(msg, want)),
               "EIO at the %s: status %d, %s", lib[i].op, s, msg);
        CHECKF(same_as(path, "previous\n", 9), "EIO at the %s: out.json changed", lib[i].op);
        CHECKF(!test_dir_has_temp(dir), "EIO at the %s: a temporary file was left", lib[i].op);
    }
    /* the CLI: a small model, its embedding written to emb.json */
    char mp[1200], cmd[4096], *out = NULL;
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    clipc_config cfg = {16, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0},
                        CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 3, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && CLIPC_IO_TRACE=1 clipc-testhooks encode --model m.safetensors --text a --out emb.json 2>&1",
             dir);
    REQUIRE(run_capture(cmd, &out) == 0 && out);
    long at[3] = {0, 0, 0};
    const char *ops[3] = {"write", "fsync", "rename"};
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long n;
        char op[32], p[512];
        if (sscanf(l, "io %ld %31s %511s", &n, op, p) != 3 || strcmp(p, "emb.json")) continue;
        for (int k = 0; k < 3; k++)
            if (!strcmp(op, ops[k]) && !at[k]) at[k] = n;
    }
    free(out);
    CHECKF(at[0] > 0 && at[1] > at[0] && at[2] > at[1], "emb.json's points: write %ld, fsync %ld, rename %ld", at[0],
           at[1], at[2]);
    const char *head[3] = {"clipc: error: emb.json: write failed: Input/output error\n",
                           "clipc: error: emb.json: fsync failed: Input/output error\n",
                           "clipc: error: emb.json: rename of emb.json.tmp."};
    snprintf(path, sizeof path, "%s/emb.json", dir);
    for (int k = 0; k < 3; k++) {
        REQUIRE_OK(clipc_write_file_atomic(path, "previous\n", 9));
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && CLIPC_IO_FAULT=eio:%ld clipc-testhooks encode --model m.safetensors --text a "
                 "--out emb.json 2>&1",
                 dir, at[k]);
        int rc = run_capture(cmd, &out);
        CHECKF(rc == 1 && test_has_line(out, head[k], k == 2 ? " failed: Input/output error\n" : ""),
               "eio at the %s (point %ld): rc %d: %s", ops[k], at[k], rc, out ? out : "");
        free(out);
        CHECKF(same_as(path, "previous\n", 9), "eio at the %s: emb.json changed", ops[k]);
        CHECKF(!test_dir_has_temp(dir), "eio at the %s: a temporary file was left", ops[k]);
    }
}
