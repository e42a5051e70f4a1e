/*
 * test_crash_points.c — faults injected at the I/O points of durable writes
 * (clipc_set_io_hook; see src/base/fileio.c), the short default-suite form
 * of tools/crash_campaign.sh's "points" and "ipoints" parts.
 *
 * Checkpointing: clipc-testhooks (CLIPC_IO_TRACE / CLIPC_IO_FAULT) resumes
 * a run from ckpt-2 to ckpt-4 and is killed, or gets ENOSPC or EIO, at
 * chosen points of the ckpt-4 write (its model file's first write and its
 * fsync, its folder's rename, the `last` pointer's rename).  Every point is
 * tried by the campaign; here a few that stand for the stages.  The
 * shipped clipc ignores the variable.
 *
 * Indexing: every I/O point of an index update (each vector-file write,
 * before BEGIN, before and after each COMMIT), in a forked child: killed
 * at point N, or point N fails with ENOSPC, or with EIO.  After each, the index
 * searches, and the next update gives the reference results and leaves no
 * temporary file.  The test CLI counts the same points.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "harness.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "train/checkpoint.h"

static char *slurp(const char *path, size_t *len) {
    char *b = NULL;
    if (clipc_read_file(path, &b, len) != CLIPC_OK) return NULL;
    return b;
}

static int same_files(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* The child ended with exit status `code`. */
static int exited(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }



/* The number of the first traced point "io N OP PATH" whose op is `op` and
 * whose path ends with `tail`; 0 when there is none. */
static long find_point(const char *trace, const char *op, const char *tail) {
    for (const char *l = trace; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long n;
        char o[32], path[512];
        if (sscanf(l, "io %ld %31s %511s", &n, o, path) != 3 || strcmp(o, op)) continue;
        size_t lp = strlen(path), lt = strlen(tail);
        if (lp >= lt && !strcmp(path + lp - lt, tail)) return n;
    }
    return 0;
}

TEST(crash_io_points_during_a_checkpoint) {
    struct stat st;
    if (stat("data/emoji-mini/twemoji/1f600.png", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    char dir[1024], cwd[1024], cmd[8192], p[1400], q[1400], *out = NULL;
    char *real = realpath(test_tmpdir(), NULL);
    REQUIRE(real && getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    snprintf(p, sizeof p, "%s/pairs.csv", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("image,caption\n", f);
    const char *emoji[4] = {"1f600", "1f601", "1f602", "1f603"};
    for (int i = 0; i < 4; i++) fprintf(f, "twemoji/%s.png,emoji number %d\n", emoji[i], i);
    fclose(f);
    /* base: stopped at step 2 of 4; ref: base resumed to the end, traced */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && clipc train --data pairs.csv --image-root '%s/data/emoji-mini' --out base --recipe cpu-tiny "
             "--config tiny --batch 2 --threads 2 --warmup 1 --log-every 100 --steps 4 --stop-after-steps 2 2>&1 && "
             "cp -a base ref && CLIPC_IO_TRACE=1 clipc-testhooks train --resume ref --threads 2 2>&1",
             dir, cwd);
    int rc = run_capture(cmd, &out);
    REQUIRE(rc == 0 && out);
    long at_model = find_point(out, "write", "ref/ckpt-4.tmp/model.safetensors");
    long at_fsync = find_point(out, "fsync", "ref/ckpt-4.tmp/model.safetensors");
    long at_folder = find_point(out, "rename", "ref/ckpt-4");
    long at_last = find_point(out, "rename", "ref/last");
    printf("    points: model write %ld, its fsync %ld, folder rename %ld, `last` rename %ld\n", at_model, at_fsync,
           at_folder, at_last);
    free(out);
    CHECKF(at_model > 0 && at_fsync > at_model && at_folder > at_fsync && at_last > at_folder, "points %ld %ld %ld %ld",
           at_model, at_fsync, at_folder, at_last);
    struct {
        const char *mode;
        long at;
        const char *message; /* a failure: the line stderr must hold, whole */
        const char *tail;    /* and, when the line holds a random temporary name, how it ends */
        const char *last;    /* `last` after the fault */
    } cases[] = {
        {"kill", at_model, NULL, NULL, "ckpt-2\n"},
        {"kill", at_folder, NULL, NULL, "ckpt-2\n"},
        {"kill", at_last, NULL, NULL, "ckpt-2\n"},
        {"enospc", at_model, "clipc: error: run/ckpt-4.tmp/model.safetensors: write failed: No space left on device\n",
         NULL, "ckpt-2\n"},
        {"enospc", at_last, "clipc: error: run/last: rename of run/last.tmp.", " failed: No space left on device\n",
         "ckpt-2\n"},
        {"eio", at_model, "clipc: error: run/ckpt-4.tmp/model.safetensors: write failed: Input/output error\n", NULL,
         "ckpt-2\n"},
        {"eio", at_fsync, "clipc: error: run/ckpt-4.tmp/model.safetensors: fsync failed: Input/output error\n", NULL,
         "ckpt-2\n"},
        {"eio", at_folder, "clipc: error: run/ckpt-4.tmp: cannot rename to run/ckpt-4: Input/output error\n", NULL,
         "ckpt-2\n"},
        {"eio", at_last, "clipc: error: run/last: rename of run/last.tmp.", " failed: Input/output error\n", "ckpt-2\n"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && rm -rf run && cp -a base run && CLIPC_IO_FAULT=%s:%ld clipc-testhooks train --resume run "
                 "--threads 2 2>&1",
                 dir, cases[c].mode, cases[c].at);
        rc = run_capture(cmd, &out);
        if (cases[c].message)
            CHECKF(rc == 1 && test_has_line(out, cases[c].message, cases[c].tail), "%s:%ld: rc %d: %s", cases[c].mode,
                   cases[c].at, rc, out ? out : "");
        else
            CHECKF(rc == 137, "%s:%ld: rc %d (expected 137, killed): %s", cases[c].mode, cases[c].at, rc,
                   out ? out : "");
        free(out);
        /* nothing clobbered: ckpt-2 and `last` as before */
        snprintf(p, sizeof p, "%s/run/last", dir);
        size_t n;
        char *last = slurp(p, &n);
        CHECKF(last && !strcmp(last, cases[c].last), "%s:%ld: last is %s", cases[c].mode, cases[c].at,
               last ? last : "(none)");
        free(last);
        for (int k = 0; k < 2; k++) {
            const char *name = k ? "state.safetensors" : "model.safetensors";
            snprintf(p, sizeof p, "%s/run/ckpt-2/%s", dir, name);
            snprintf(q, sizeof q, "%s/base/ckpt-2/%s", dir, name);
            CHECKF(same_files(p, q), "%s:%ld: ckpt-2/%s changed", cases[c].mode, cases[c].at, name);
            /* a ckpt-4 folder only whole: the uninterrupted run's bytes */
            snprintf(p, sizeof p, "%s/run/ckpt-4", dir);
            if (stat(p, &st) != 0) continue;
            snprintf(p, sizeof p, "%s/run/ckpt-4/%s", dir, name);
            snprintf(q, sizeof q, "%s/ref/ckpt-4/%s", dir, name);
            CHECKF(same_files(p, q), "%s:%ld: ckpt-4/%s differs", cases[c].mode, cases[c].at, name);
        }
        /* the shipped clipc ignores the hook's variable and resumes to the
         * uninterrupted run's bits, leaving no temporary file */
        snprintf(cmd, sizeof cmd, "cd '%s' && CLIPC_IO_FAULT=kill:1 clipc train --resume run --threads 2 2>&1", dir);
        rc = run_capture(cmd, &out);
        CHECKF(rc == 0, "%s:%ld: resume: rc %d: %s", cases[c].mode, cases[c].at, rc, out ? out : "");
        free(out);
        for (int k = 0; k < 2; k++) {
            const char *name = k ? "state.safetensors" : "model.safetensors";
            snprintf(p, sizeof p, "%s/run/ckpt-4/%s", dir, name);
            snprintf(q, sizeof q, "%s/ref/ckpt-4/%s", dir, name);
            CHECKF(same_files(p, q), "%s:%ld: resumed ckpt-4/%s differs", cases[c].mode, cases[c].at, name);
        }
        snprintf(p, sizeof p, "%s/run", dir);
        CHECKF(!test_dir_has_temp(p), "%s:%ld: a temporary file was left in run/", cases[c].mode, cases[c].at);
    }
}

/* ------------------------------------------------------------- pruning */

static long prune_count, prune_at;
static int prune_errno;

static int prune_hook(const char *op, const char *path, void *ud) {
    (void)op, (void)path, (void)ud;
    if (++prune_count != prune_at) return 0;
    if (!prune_errno) raise(SIGKILL);
    return prune_errno;
}

/* dir/name/{model,state}.safetensors with the given contents. */
static void fake_ckpt(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/%s/model.safetensors", dir, name);
    REQUIRE_OK(clipc_write_file_atomic(p, "model", 5));
    snprintf(p, sizeof p, "%s/%s/state.safetensors", dir, name);
    REQUIRE_OK(clipc_write_file_atomic(p, "state", 5));
}

/* Pruning an old checkpoint, killed or failed at each of its I/O points:
 * ckpt-2 is whole or gone, never a folder without its model (it was
 * emptied in place: a kill between two unlinks left one), and the next
 * prune leaves no ckpt-2.tmp. */
TEST(crash_io_points_pruning_never_leaves_half_a_checkpoint) {
    char dir[600], p[1200];
    snprintf(dir, sizeof dir, "%s/run", test_tmpdir());
    for (long n = 1;; n++) {
        int mode, total = 0;
        for (mode = 0; mode < 2; mode++) {
            char cmd[1400], *out = NULL;
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            REQUIRE(run_capture(cmd, &out) == 0);
            free(out);
            REQUIRE(mkdir(dir, 0755) == 0);
            fake_ckpt(dir, "ckpt-2");
            fake_ckpt(dir, "ckpt-4");
            snprintf(p, sizeof p, "%s/last", dir);
            REQUIRE_OK(clipc_write_file_atomic(p, "ckpt-4\n", 7));
            snprintf(p, sizeof p, "%s/best", dir);
            REQUIRE_OK(clipc_write_file_atomic(p, "ckpt-4\n", 7));
            fflush(stdout);
            pid_t pid = fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                prune_count = 0, prune_at = n, prune_errno = mode ? ENOSPC : 0;
                clipc_set_io_hook(prune_hook, NULL);
                ckpt_prune(dir, 1);
                _exit(prune_count < n ? 3 : 0); /* 3: point n was never reached */
            }
            int st;
            REQUIRE(waitpid(pid, &st, 0) == pid);
            if (exited(st, 3)) break;
            total++;
            CHECKF(mode || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL), "kill:%ld: status %d", n, st);
            struct stat sb;
            snprintf(p, sizeof p, "%s/ckpt-2", dir);
            if (stat(p, &sb) == 0) {
                size_t len;
                snprintf(p, sizeof p, "%s/ckpt-2/model.safetensors", dir);
                char *m = slurp(p, &len);
                CHECKF(m && len == 5, "%s:%ld: ckpt-2 is there without its model", mode ? "enospc" : "kill", n);
                free(m);
            }
            snprintf(p, sizeof p, "%s/ckpt-4/model.safetensors", dir);
            CHECKF(stat(p, &sb) == 0, "%s:%ld: ckpt-4 touched", mode ? "enospc" : "kill", n);
            REQUIRE_OK(ckpt_prune(dir, 1 << 30)); /* the next start */
            CHECKF(!test_dir_has_temp(dir), "%s:%ld: ckpt-2.tmp left after the next start", mode ? "enospc" : "kill", n);
        }
        if (total == 0) {
            CHECKF(n > 4, "only %ld I/O points in pruning", n - 1); /* rename, 2 unlinks, rmdir */
            break;
        }
    }
}

/* ------------------------------------------------------------- indexing */

static long hook_count, hook_at;
static int hook_errno;

static int count_or_fail(const char *op, const char *path, void *ud) {
    (void)op, (void)path, (void)ud;
    if (++hook_count != hook_at) return 0;
    if (!hook_errno) raise(SIGKILL);
    return hook_errno;
}

static int copy_file(const char *from, const char *to) {
    size_t n;
    char *b = slurp(from, &n);
    if (!b) return -1;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(b, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    free(b);
    return ok ? 0 : -1;
}

/* db (and its .vec, .vec8) := the saved copy pre (its -wal, -shm removed). */
static void restore(const char *db, const char *pre) {
    const char *sfx[] = {"", ".vec", ".vec8", "-wal", "-shm"};
    char a[1200], b[1200];
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s%s", db, sfx[i]);
        unlink(a);
        snprintf(b, sizeof b, "%s%s", pre, sfx[i]);
        if (i < 3) REQUIRE(copy_file(b, a) == 0);
    }
}

typedef struct {
    int got;
    float scores[8];
    char *paths[8];
} hits;

static clipc_status search(const char *db, const float *q, int dim, hits *h) {
    memset(h, 0, sizeof *h);
    clipc_index *ix;
    clipc_status s = clipc_index_open(db, &ix);
    if (s) return s;
    s = clipc_index_search(ix, q, dim, 8, h->scores, h->paths, &h->got);
    clipc_index_close(ix);
    return s;
}

static void hits_free(hits *h) {
    for (int i = 0; i < h->got; i++) free(h->paths[i]);
}

static int same_hits(const hits *a, const hits *b) {
    if (a->got != b->got) return 0;
    for (int i = 0; i < a->got; i++)
        if (a->scores[i] != b->scores[i] || strcmp(a->paths[i], b->paths[i])) return 0;
    return 1;
}

static int child_appended; /* the last child's st.vec_appended */

/* FILE.vec's rows and ids (n = -1: it does not open). */
typedef struct {
    int64_t n;
    float *data;
    int64_t *ids;
} vec_copy;

static vec_copy vec_read(const char *db, int *n8) {
    char p[1300];
    snprintf(p, sizeof p, "%s.vec", db);
    vec_copy c = {-1, NULL, NULL};
    vecfile v;
    if (!vecfile_open(p, &v)) {
        c.n = v.n;
        c.data = malloc(sizeof(float) * (size_t)(v.n * v.dim + 1));
        c.ids = malloc(sizeof(int64_t) * (size_t)(v.n + 1));
        memcpy(c.data, v.data, sizeof(float) * (size_t)(v.n * v.dim));
        memcpy(c.ids, v.ids, sizeof(int64_t) * (size_t)v.n);
        vecfile_close(&v);
    }
    snprintf(p, sizeof p, "%s.vec8", db);
    vec8file v8;
    *n8 = -1;
    if (!vec8_open(p, &v8)) {
        *n8 = (int)v8.n;
        vec8_close(&v8);
    }
    return c;
}

/* clipc_index_update in a forked child, point `at` killed (err 0) or
 * failed with err (at -1: none).  The parent never encodes: oneDNN's
 * OpenMP pool, once started, does not survive fork, and a forked child of
 * a later test would wait on it forever.  Returns the wait status; *count
 * gets the points the child passed, msg its error ("" when none). */
static int update_in_child(const char *db, const char *imgs, const clipc_model *m, const char *mp, long at, int err,
                           long *count, char *msg, size_t msg_len) {
    char ef[700];
    snprintf(ef, sizeof ef, "%s.child", db);
    unlink(ef);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        clipc_set_threads(1);
        clipc_index_opts o = {3, NULL, NULL, NULL, NULL, NULL, NULL};
        clipc_index_stats ist;
        hook_count = 0, hook_at = at, hook_errno = err;
        clipc_set_io_hook(count_or_fail, NULL);
        clipc_status s = clipc_index_update(db, imgs, m, mp, &o, &ist);
        clipc_set_io_hook(NULL, NULL);
        FILE *f = fopen(ef, "w");
        if (f) fprintf(f, "%ld %d\n%s", hook_count, s ? 0 : ist.vec_appended, s ? clipc_last_error() : "");
        if (f) fclose(f);
        _exit(s ? 1 : 0);
    }
    int status = -1;
    if (pid > 0) waitpid(pid, &status, 0);
    size_t n;
    char *b = slurp(ef, &n), *nl = b ? strchr(b, '\n') : NULL, *sp = b ? strchr(b, ' ') : NULL;
    *count = b ? atol(b) : -1;
    child_appended = sp ? atoi(sp + 1) : -1;
    snprintf(msg, msg_len, "%s", nl ? nl + 1 : "");
    free(b);
    return status;
}


TEST(crash_io_points_every_point_of_an_index_update) {
    struct stat st;
    if (stat("data/emoji-mini/twemoji/1f600.png", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    const char *tmp = test_tmpdir();
    char imgs[600], db[600], pre[600], mp[600], p[1200], cwd[1024];
    REQUIRE(getcwd(cwd, sizeof cwd));
    snprintf(imgs, sizeof imgs, "%s/imgs", tmp);
    snprintf(db, sizeof db, "%s/x.db", tmp);
    snprintf(pre, sizeof pre, "%s/pre.db", tmp);
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    mkdir(imgs, 0755);
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0},
                        CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 7, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    const char *emoji[8] = {"1f600", "1f601", "1f602", "1f603", "1f604", "1f605", "1f606", "1f607"};
    long count;
    char msg[1024];
    /* pre.db: the first 4 images; then 4 more are added (batches of 3) */
    for (int i = 0; i < 8; i++) {
        char t[1200];
        if (i == 4) REQUIRE(exited(update_in_child(pre, imgs, m, mp, -1, 0, &count, msg, sizeof msg), 0));
        snprintf(p, sizeof p, "%s/%s.png", imgs, emoji[i]);
        snprintf(t, sizeof t, "%s/data/emoji-mini/twemoji/%s.png", cwd, emoji[i]);
        REQUIRE(symlink(t, p) == 0);
    }
    int dim = clipc_model_config(m)->embed_dim;
    float q[64];
    REQUIRE(dim <= 64);
    for (int i = 0; i < dim; i++) q[i] = (float)((i * 7 % 5) - 2) / 3.0f;
    clipc_l2_normalize(q, 1, dim);
    hits ref, h;
    /* the reference, and the points of one update */
    restore(db, pre);
    REQUIRE(exited(update_in_child(db, imgs, m, mp, -1, 0, &count, msg, sizeof msg), 0));
    CHECKF(child_appended == 1, "4 images added to 4: FILE.vec rewritten, not appended to (%d)", child_appended);
    int n8;
    vec_copy refv = vec_read(db, &n8);
    CHECK(refv.n == 8 && n8 == 8);
    REQUIRE_OK(search(db, q, dim, &ref));
    CHECK(ref.got == 8);
    long total = count;
    CHECKF(total >= 15, "only %ld I/O points", total); /* 4 transactions x 3, two vector files */
    /* the test CLI counts the same points */
    char cmd[4096], *out = NULL;
    restore(db, pre);
    snprintf(cmd, sizeof cmd,
             "CLIPC_IO_FAULT=count clipc-testhooks index '%s' --model '%s' --db '%s' --batch 3 --threads 1 2>&1", imgs,
             mp, db);
    REQUIRE(run_capture(cmd, &out) == 0 && out);
    char want[64];
    snprintf(want, sizeof want, "clipc-testhooks: %ld I/O points\n", total);
    CHECKF(strstr(out, want) != NULL, "the CLI counts otherwise: %s", out);
    free(out);
    int killed = 0, failed = 0, eio = 0, absorbed = 0;
    const char *whats[3] = {"kill", "enospc", "eio"}, *texts[3] = {"", "No space left on device", "Input/output error"};
    const int errs[3] = {0, ENOSPC, EIO};
    for (long n = 1; n <= total; n++)
        for (int mode = 0; mode < 3; mode++) {
            const char *what = whats[mode];
            restore(db, pre);
            int st = update_in_child(db, imgs, m, mp, n, errs[mode], &count, msg, sizeof msg);
            if (mode == 0) {
                CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "kill:%ld: not killed (status %d)", n, st);
                killed++;
            } else if (exited(st, 1)) {
                /* the error names the index's file and ends with the errno's text */
                size_t lm = strlen(msg), lt = strlen(texts[mode]);
                CHECKF(strstr(msg, "x.db") && lm > lt && !strcmp(msg + lm - lt, texts[mode]), "%s:%ld: %s", what, n,
                       msg);
                if (mode == 1) failed++;
                else eio++;
            } else {
                CHECKF(exited(st, 0), "enospc:%ld: status %d", n, st);
                absorbed++;
            }
            /* FILE.vec and FILE.vec8 (appended to in place) are in the old
             * state (4 rows) or the new one (8, the reference's bytes) */
            vec_copy v = vec_read(db, &n8);
            CHECKF(v.n == 4 || (v.n == 8 && !memcmp(v.data, refv.data, sizeof(float) * 8 * (size_t)dim) &&
                                !memcmp(v.ids, refv.ids, sizeof(int64_t) * 8)),
                   "%s:%ld: FILE.vec of %lld rows, neither the old nor the new state", what, n, (long long)v.n);
            CHECKF(n8 == 4 || n8 == 8, "%s:%ld: FILE.vec8 of %d rows", what, n, n8);
            free(v.data), free(v.ids);
            /* the index searches (it held 4 images before), and the next
             * update ends where an uninterrupted one does, no temp left */
            clipc_status s = search(db, q, dim, &h);
            CHECKF(!s && h.got >= 4, "%s:%ld: search after the fault: %s (%d hits)", what, n,
                   s ? clipc_last_error() : "ok", h.got);
            hits_free(&h);
            st = update_in_child(db, imgs, m, mp, -1, 0, &count, msg, sizeof msg);
            CHECKF(exited(st, 0), "%s:%ld: the next update: status %d: %s", what, n, st, msg);
            s = search(db, q, dim, &h);
            CHECKF(!s && same_hits(&h, &ref), "%s:%ld: results differ after the next update", what, n);
            hits_free(&h);
            CHECKF(!test_dir_has_temp(tmp), "%s:%ld: a temporary file was left", what, n);
        }
    printf("    %ld I/O points: %d kills, %d ENOSPC and %d EIO failures, %d absorbed\n", total, killed, failed, eio,
           absorbed);
    /* a point fails the same way whichever the errno; every kill landed */
    CHECKF(killed == total && failed == eio && failed + eio + absorbed == 2 * total, "%d kills, %d + %d + %d faults",
           killed, failed, eio, absorbed);
    hits_free(&ref);
    free(refv.data), free(refv.ids);
    clipc_model_free(m);
}
