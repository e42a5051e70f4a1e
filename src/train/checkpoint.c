/*
 * checkpoint.c — writing, finding, reading and pruning training
 * checkpoints (see checkpoint.h).
 *
 * Crash safety: every file goes through st_write / clipc_write_file_atomic
 * (temp file, fsync, rename, fsync dir) inside ckpt-<step>.tmp/; the folder
 * becomes ckpt-<step>/ by one rename (then the parent is fsynced), and only
 * then is `last` replaced.  A kill at any point leaves either the old
 * pointer naming a complete old checkpoint, or the new one naming a
 * complete new checkpoint; a leftover *.tmp folder is removed on the next
 * start.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "train/optim.h"

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Removes a checkpoint folder: the files clipc writes there, then the folder. */
static void remove_ckpt_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = join(dir, e->d_name);
            if (p) io_unlink(p);
            free(p);
        }
        closedir(d);
    }
    io_rmdir(dir);
}

static clipc_status write_pointer(const char *out_dir, const char *pointer, const char *name) {
    char *p = join(out_dir, pointer);
    if (!p) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", name);
    clipc_status s = clipc_write_file_atomic(p, line, (size_t)n);
    free(p);
    return s;
}

clipc_status ckpt_save(const char *out_dir, const clipc_model *m, const optimizer *o, const run_state *rs,
                       const char *options_json, int keep, int best, ckpt_hook hook, void *ud) {
    char name[64], tmpname[80];
    snprintf(name, sizeof name, "ckpt-%lld", (long long)rs->step);
    snprintf(tmpname, sizeof tmpname, "%s.tmp", name);
    char *dir = join(out_dir, name), *tmp = join(out_dir, tmpname);
    char *mp = NULL, *sp = NULL;
    clipc_status s = CLIPC_OK;
    int made_tmp = 0; /* ckpt-<step>.tmp exists and is ours until renamed */
    if (!dir || !tmp) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    struct stat stt;
    if (stat(dir, &stt) != 0) {
        remove_ckpt_dir(tmp);
        if (io_mkdir(tmp, 0777) != 0) {
            s = clipc_error(CLIPC_ERR_IO, "%s: cannot create folder: %s", tmp, strerror(errno));
            goto done;
        }
        made_tmp = 1;
        mp = join(tmp, "model.safetensors");
        sp = join(tmp, "state.safetensors");
        if (!mp || !sp) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            goto done;
        }
        s = clipc_model_save(m, mp);
        if (s) goto done;
        if (hook) hook("model", rs->step, ud);
        char sstep[32], sepoch[32];
        snprintf(sstep, sizeof sstep, "%lld", (long long)rs->step);
        snprintf(sepoch, sizeof sepoch, "%lld", (long long)rs->epoch);
        const char *meta[] = {"format", "clipc-train-state-1", "step", sstep, "epoch", sepoch,
                              "options", options_json ? options_json : "{}", NULL};
        int64_t i64[RUN_I64] = {rs->step, rs->epoch, rs->opt_step, rs->total_steps, rs->plateau_bad,
                                rs->plateau_seen, rs->best_seen, rs->best_step, rs->epoch_loss_n,
                                rs->bad_images, rs->epoch_step0, rs->reserved};
        double f64[RUN_F64] = {rs->best, rs->plateau_best, rs->plateau_mult, rs->epoch_loss_sum,
                               rs->reserved_f[0], rs->reserved_f[1], rs->reserved_f[2], rs->reserved_f[3]};
        st_out_tensor t[5] = {
            {"adam.m", ST_F32, 1, {(int64_t)o->n}, o->m},
            {"adam.v", ST_F32, 1, {(int64_t)o->n}, o->v},
            {"loader.state", ST_I64, 1, {8}, rs->loader},
            {"run.f64", ST_F64, 1, {RUN_F64}, f64},
            {"run.i64", ST_I64, 1, {RUN_I64}, i64},
        };
        s = st_write(sp, t, 5, meta);
        if (s) goto done;
        if (hook) hook("state", rs->step, ud);
        if (keep) {
            char *kp = join(tmp, "keep");
            s = kp ? clipc_write_file_atomic(kp, "1\n", 2) : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            free(kp);
            if (s) goto done;
        }
        if (io_rename(tmp, dir) != 0) {
            s = clipc_error(CLIPC_ERR_IO, "%s: cannot rename to %s: %s", tmp, dir, strerror(errno));
            goto done;
        }
        made_tmp = 0;
        s = fsync_dir_of(dir);
        if (s) goto done;
        if (hook) hook("renamed", rs->step, ud);
    } else if (keep) {
        char *kp = join(dir, "keep");
        s = kp ? clipc_write_file_atomic(kp, "1\n", 2) : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        free(kp);
        if (s) goto done;
    }
    s = write_pointer(out_dir, "last", name);
    if (!s && best) s = write_pointer(out_dir, "best", name);
    if (!s && hook) hook("pointer", rs->step, ud);
done:
    /* A failed write (a full disk, a file-size limit) leaves no half-written
     * folder behind; a kill still can, and the next save or prune removes it. */
    if (s && made_tmp && tmp) remove_ckpt_dir(tmp);
    free(dir);
    free(tmp);
    free(mp);
    free(sp);
    return s;
}

/* The checkpoint name a pointer file holds (malloc'ed), or NULL. */
static char *read_pointer(const char *out_dir, const char *pointer) {
    char *p = join(out_dir, pointer);
    if (!p) return NULL;
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(p, &data, &len);
    free(p);
    if (s) {
        clipc_error_clear();
        return NULL;
    }
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ')) data[--len] = 0;
    if (!len || strchr(data, '/')) {
        free(data);
        return NULL;
    }
    return data;
}

/* A pointer names "ckpt-<digits>"; anything else ("ckpt--2", "ckpt-5x",
 * which sscanf alone took for -2 and 5: fuzz_checkpoint) is no checkpoint. */
int64_t ckpt_pointer_step(const char *out_dir, const char *pointer) {
    char *n = read_pointer(out_dir, pointer);
    long long st = -1;
    if (n && (strncmp(n, "ckpt-", 5) || !n[5] || strspn(n + 5, "0123456789") != strlen(n + 5) ||
              strlen(n + 5) > 18 || sscanf(n + 5, "%lld", &st) != 1))
        st = -1;
    free(n);
    return st;
}

clipc_status ckpt_resolve(const char *path, char **ckpt_dir) {
    *ckpt_dir = NULL;
    char *sp = join(path, "state.safetensors");
    if (!sp) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    struct stat st;
    int direct = stat(sp, &st) == 0;
    free(sp);
    if (direct) {
        *ckpt_dir = strdup(path);
        return *ckpt_dir ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    char *name = read_pointer(path, "last");
    if (!name)
        return clipc_error(CLIPC_ERR_IO, "%s: no checkpoint to resume from (neither a 'last' pointer nor "
                           "state.safetensors)", path);
    *ckpt_dir = join(path, name);
    free(name);
    return *ckpt_dir ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
}

clipc_status ckpt_load_state(const char *ckpt_dir, run_state *rs, optimizer *o, char **options_json) {
    char *sp = join(ckpt_dir, "state.safetensors");
    if (!sp) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    st_file f;
    clipc_status s = st_open(sp, &f);
    if (s) {
        free(sp);
        return s;
    }
    const st_tensor *ti = st_get(&f, "run.i64"), *tf = st_get(&f, "run.f64"), *tl = st_get(&f, "loader.state");
    const st_tensor *tm = st_get(&f, "adam.m"), *tv = st_get(&f, "adam.v");
    if (!ti || ti->dtype != ST_I64 || ti->numel != RUN_I64 || !tf || tf->dtype != ST_F64 ||
        tf->numel != RUN_F64 || !tl || tl->dtype != ST_I64 || tl->numel != 8 || !tm || !tv ||
        tm->dtype != ST_F32 || tv->dtype != ST_F32) {
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: not a clipc training state (run.i64 / run.f64 / loader.state / "
                        "adam.m / adam.v missing or mis-typed)", sp);
        goto done;
    }
    if (o && (tm->numel != o->n || tv->numel != o->n)) {
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor 'adam.m' has %zu values, the model has %zu parameters", sp,
                        tm->numel, o->n);
        goto done;
    }
    const int64_t *i64 = ti->data;
    const double *f64 = tf->data;
    memset(rs, 0, sizeof *rs);
    rs->step = i64[0], rs->epoch = i64[1], rs->opt_step = i64[2], rs->total_steps = i64[3];
    rs->plateau_bad = i64[4], rs->plateau_seen = i64[5], rs->best_seen = i64[6], rs->best_step = i64[7];
    rs->epoch_loss_n = i64[8], rs->bad_images = i64[9], rs->epoch_step0 = i64[10];
    rs->best = f64[0], rs->plateau_best = f64[1], rs->plateau_mult = f64[2], rs->epoch_loss_sum = f64[3];
    memcpy(rs->loader, tl->data, sizeof rs->loader);
    if (o) {
        memcpy(o->m, tm->data, tm->nbytes);
        memcpy(o->v, tv->data, tv->nbytes);
        o->step = (long)rs->opt_step;
    }
    if (options_json) {
        const char *j = st_meta(&f, "options");
        *options_json = strdup(j ? j : "{}");
    }
done:
    st_close(&f);
    free(sp);
    return s;
}

/* "<name>.tmp.<pid>.<8 hex digits>": the temporary file of an atomic write
 * (clipc_write_file_atomic) that a killed process left behind.  The run
 * folder is locked by this process, which writes one file at a time, so
 * any such file there is stale (found by tools/crash_campaign.sh: a kill
 * during the write of metrics.jsonl left its temporary file for good). */
static int is_stale_temp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    t += 5;
    size_t nd = strspn(t, "0123456789");
    if (!nd || t[nd] != '.') return 0;
    t += nd + 1;
    return strlen(t) == 8 && strspn(t, "0123456789abcdef") == 8;
}

clipc_status ckpt_prune(const char *out_dir, int keep_last) {
    int64_t last = ckpt_pointer_step(out_dir, "last"), best = ckpt_pointer_step(out_dir, "best");
    DIR *d = opendir(out_dir);
    if (!d) return clipc_error(CLIPC_ERR_IO, "%s: cannot list: %s", out_dir, strerror(errno));
    int64_t *steps = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long st;
        int len = 0;
        if (is_stale_temp(e->d_name)) {
            char *p = join(out_dir, e->d_name);
            if (p) io_unlink(p);
            free(p);
            continue;
        }
        if (sscanf(e->d_name, "ckpt-%lld%n", &st, &len) != 1) continue;
        if (!strcmp(e->d_name + len, ".tmp")) {
            char *p = join(out_dir, e->d_name);
            if (p) remove_ckpt_dir(p);
            free(p);
            continue;
        }
        if (e->d_name[len]) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *ns = realloc(steps, (size_t)cap * sizeof *ns);
            if (!ns) break;
            steps = ns;
        }
        steps[n++] = st;
    }
    closedir(d);
    /* newest first */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j] > steps[j - 1]; j--) {
            int64_t t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        if (steps[i] == last || steps[i] == best || i < keep_last) continue;
        char name[64];
        snprintf(name, sizeof name, "ckpt-%lld/keep", (long long)steps[i]);
        char *kp = join(out_dir, name);
        struct stat st;
        int keep = kp && stat(kp, &st) == 0;
        free(kp);
        if (keep) continue;
        /* Renamed to ckpt-<step>.tmp first, then emptied: a kill or a failed
         * unlink half way never leaves a ckpt-<step> folder that lacks its
         * model (found by tools/crash_campaign.sh's I/O points); the next
         * start removes a *.tmp folder left behind. */
        char tname[80];
        snprintf(name, sizeof name, "ckpt-%lld", (long long)steps[i]);
        snprintf(tname, sizeof tname, "ckpt-%lld.tmp", (long long)steps[i]);
        char *p = join(out_dir, name), *t = join(out_dir, tname);
        if (p && t) {
            remove_ckpt_dir(t);
            if (io_rename(p, t) == 0) remove_ckpt_dir(t);
        }
        free(p);
        free(t);
    }
    free(steps);
    return CLIPC_OK;
}
