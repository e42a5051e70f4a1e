/*
 * run.c — clipc_train_run: the training loop over loader batches, with
 * evaluation each epoch, checkpoints, exact resume, metrics and the plot.
 * The run is a sequence of named steps over one train_run (set up the
 * options, the data, the model, validation, the loader, the trainer, the
 * schedule; resume or start fresh; the loop; the end record), and run_free
 * releases whatever the steps got to set up.
 *
 * Exactness.  Every source of variation is a function of stored state: the
 * data order and augmentation come from the loader state, dropout masks
 * from (seed, step), the schedule from (step, epoch, total_steps) and the
 * plateau multiplier; reductions are in fixed order (step.c).  A
 * checkpoint holds all of it, so a resumed run takes the same steps with
 * the same bits as one never stopped (same thread count: BLAS splits work
 * by thread count).  Checkpoints are only taken between optimizer steps, so
 * no half-accumulated gradient ever needs saving.
 *
 * Data parallel (under mpirun, train/dist.h, docs/distributed.md): every
 * rank runs this same sequence with the same options; --batch is the global
 * batch, the loader gives each rank its slice, the step gathers features and
 * sums gradients (step.c).  Rank 0 alone writes (config.json, metrics,
 * plot, checkpoints, the lock), reports progress and validates; what the
 * other ranks must agree on is sent to them: the validation results, the
 * stop decision (Ctrl-C, a time budget) and a timed run's learning rate.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "data/loader.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/memory.h"
#include "train/metrics_log.h"
#include "train/options.h"
#include "train/plot_svg.h"
#include "train/run_lock.h"
#include "train/schedule.h"
#include "train/step.h"
#include "train/tutorial.h"
#include "train/validate.h"

/* Non-finite steps (a nan/inf loss or gradient norm: the update is skipped,
 * the weights stay finite) in a row after which the run stops with an
 * error: one can be a fluke batch, three mean the run diverged. */
#define MAX_NONFINITE_STEPS 3

static volatile sig_atomic_t stop_requested;

void clipc_train_request_stop(void) { stop_requested = 1; }

/* Everything one run holds.  Zeroed at the start, filled in by the setup
 * steps in order, freed by run_free whatever step it got to. */
typedef struct {
    clipc_train_opts o;  /* the user's options; on resume the checkpoint's */
    double t0;           /* start of the run (the "seconds" of epoch lines) */
    /* resume */
    char *ckpt_dir;      /* the checkpoint resumed from, or NULL */
    char *stored_json;   /* its stored options */
    cJSON *stored;       /* holds the strings of o read from them */
    char *out_parent;    /* the run folder when resuming from a ckpt-<step> folder */
    int finished;        /* resuming a run that already ended: nothing to do */
    int lock_fd;         /* the run folder's lock (run_lock.h), -1 when none */
    /* output */
    char *opts_json;     /* options and config: config.json and each checkpoint */
    char *model_path, *metrics_path, *plot_path;
    metrics_log ml;
    /* data, model, trainer */
    clipc_dataset *train_ds, *all_ds;
    valset val;          /* val.ds NULL: no validation */
    clipc_model *m;
    clipc_tokenizer *tok;
    data_loader *ld;
    trainer tr;
    int tr_ok;           /* tr is initialised */
    /* schedule and state */
    run_state rs;        /* what a checkpoint stores */
    sched sc;
    plateau pl;
    int maximize;        /* the best metric is recall (1), not a loss (0) */
    /* length: epochs, a step count or a wall-clock budget */
    int timed;
    double budget;
    int64_t max_epochs;
    double loop_t0, paused;
    int time_up, steps_done, stopped;
    /* the loop's counters */
    double chance_B;     /* ln(batch): the loss of a model that learned nothing */
    int64_t bad0;        /* pairs skipped before a resume */
    double step_loss, rate_t0, eta_sec_per_step;
    int64_t rate_step0, rate_pairs;
    int step_pairs;
    int nonfinite_steps; /* non-finite steps in a row (MAX_NONFINITE_STEPS) */
    long bpe;            /* batches in the epoch of the current batch */
} train_run;

/* ------------------------------------------------------------ messages */

/* Rank 0 writes the run's files and talks; the other ranks are quiet. */
static int is_writer(void) { return dist_rank() == 0; }

static void emit(const clipc_train_opts *o, clipc_train_progress *p) {
    if (o->progress && is_writer()) o->progress(p, o->ud);
}

static void info(const clipc_train_opts *o, int kind, const char *msg) {
    clipc_train_progress p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.message = msg;
    emit(o, &p);
}

static void warn_cb(const char *msg, void *ud) {
    const clipc_train_opts *o = ud;
    if (o->warn && is_writer()) o->warn(msg, o->ud);
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------ set-up */

/* On resume: the checkpoint's options, and what may differ from them: where
 * to write, threads, callbacks, the stop point, memory cap. */
static clipc_status run_resume_options(train_run *r, const clipc_train_opts *user) {
    clipc_train_opts *o = &r->o;
    clipc_status s = ckpt_resolve(user->resume, &r->ckpt_dir);
    if (!s) s = ckpt_load_state(r->ckpt_dir, &r->rs, NULL, &r->stored_json);
    if (!s) s = train_opts_from_json(r->stored_json, r->ckpt_dir, o, &r->stored);
    if (s) return s;
    if (user->out_dir && *user->out_dir) {
        o->out_dir = user->out_dir;
    } else if (strcmp(r->ckpt_dir, user->resume) != 0) {
        o->out_dir = user->resume; /* a run folder */
    } else {                       /* a checkpoint folder: its parent */
        char *parent = r->out_parent = strdup(user->resume);
        if (!parent) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        size_t l = strlen(parent);
        while (l > 1 && parent[l - 1] == '/') parent[--l] = 0;
        char *sl = strrchr(parent, '/');
        if (sl) *sl = 0;
        else strcpy(parent, ".");
        o->out_dir = parent;
    }
    if (o->minutes > 0)
        return clipc_error(CLIPC_ERR_INVALID,
                           "train: a --minutes run cannot be resumed (its schedule follows the clock); "
                           "replay it with --steps");
    if (user->epochs > 0 && user->epochs != o->epochs)
        return clipc_error(CLIPC_ERR_INVALID, "train: cannot change --epochs on resume (%d in the checkpoint)",
                           o->epochs);
    return CLIPC_OK;
}

/* On resume: has the checkpoint's run already reached its --steps or its
 * last epoch?  Then the run says so and does nothing (no extra step). */
static void run_check_finished(train_run *r) {
    const clipc_train_opts *o = &r->o;
    const run_state *rs = &r->rs;
    char msg[1024];
    if (o->steps > 0 && rs->step >= o->steps)
        snprintf(msg, sizeof msg, "train: run %s already finished (%lld of %lld steps); nothing to do", o->out_dir,
                 (long long)rs->step, (long long)o->steps);
    else if (o->steps <= 0 && !(o->minutes > 0) && o->epochs > 0 && rs->epoch >= o->epochs)
        snprintf(msg, sizeof msg, "train: run %s already finished (%lld of %d epochs); nothing to do", o->out_dir,
                 (long long)rs->epoch, o->epochs);
    else
        return;
    r->finished = 1;
    info(o, CLIPC_TRAIN_INFO, msg);
}

/* The run's options, checked; the output folder, created. */
static clipc_status run_setup_options(train_run *r, const clipc_train_opts *user) {
    r->o = *user;
    clipc_status s = user->resume && *user->resume ? run_resume_options(r, user) : CLIPC_OK;
    if (!s) s = train_opts_check(&r->o);
    if (s) return s;
    clipc_set_threads(r->o.threads);
    if (!is_writer()) { /* rank 0 holds the folder and its lock */
        if (r->ckpt_dir) run_check_finished(r);
        return CLIPC_OK;
    }
    if (io_mkdir(r->o.out_dir, 0777) != 0 && errno != EEXIST)
        return clipc_error(CLIPC_ERR_IO, "%s: cannot create folder: %s", r->o.out_dir, strerror(errno));
    s = run_lock_take(r->o.out_dir, &r->lock_fd);
    if (s) return s;
    if (r->ckpt_dir) run_check_finished(r);
    /* removes stale temporary folders and files only; a finished run too (a
     * kill during its last metrics or `best` write left one) */
    ckpt_prune(r->o.out_dir, 1 << 30);
    clipc_error_clear();
    return CLIPC_OK;
}

/* Does the data file carry split information? */
static int has_splits(const clipc_dataset *ds) {
    int n = clipc_dataset_n_images(ds);
    for (int i = 0; i < n; i++)
        if (clipc_dataset_image_split(ds, i) != CLIPC_SPLIT_NONE) return 1;
    return 0;
}

/* The training split (all of the data when it has no splits) and the
 * validation split; a validation split that does not load means no
 * evaluation, not an error. */
static clipc_status run_setup_data(train_run *r) {
    const clipc_train_opts *o = &r->o;
    clipc_dataset_opts dso = {0};
    dso.image_root = o->image_root;
    dso.warn = warn_cb;
    dso.warn_ud = (void *)o;
    dso.check_images = 1;
    clipc_status s = clipc_dataset_load(o->data, &dso, &r->all_ds);
    if (s) return s;
    int splits = has_splits(r->all_ds);
    const char *tsplit = o->train_split && *o->train_split && strcmp(o->train_split, "all") ? o->train_split : NULL;
    const char *vsplit = o->val_split && *o->val_split ? o->val_split : NULL;
    if (!splits) {
        if (vsplit) info(o, CLIPC_TRAIN_INFO, "the data has no splits: training on every image, no validation");
        tsplit = vsplit = NULL;
    }
    if (tsplit) {
        dso.split = tsplit;
        dso.warn = NULL; /* reported once already */
        s = clipc_dataset_load(o->data, &dso, &r->train_ds);
        if (s) return s;
    } else {
        r->train_ds = r->all_ds;
        r->all_ds = NULL;
    }
    if (vsplit) {
        dso.split = vsplit;
        dso.warn = NULL;
        if (clipc_dataset_load(o->data, &dso, &r->val.ds)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "no usable validation split '%s' (%s): no evaluation", vsplit,
                     clipc_last_error());
            info(o, CLIPC_TRAIN_INFO, msg);
            clipc_error_clear();
            r->val.ds = NULL;
        }
    }
    return CLIPC_OK;
}

/* The model: the checkpoint's, --init's (a copy, to be trained), or a new
 * one of --config. */
static clipc_status run_load_model(train_run *r) {
    const clipc_train_opts *o = &r->o;
    if (r->ckpt_dir) {
        r->model_path = path_in(r->ckpt_dir, "model.safetensors");
        return r->model_path ? clipc_model_load(r->model_path, NULL, &r->m) : CLIPC_ERR_NOMEM;
    }
    int tu;
    clipc_status ts = tutorial_load_model(o, &r->m, &tu); /* the tutorial's model (train/tutorial.c) */
    if (ts || tu) return ts;
    if (o->init && *o->init) {
        clipc_load_opts lo = {0};
        lo.copy = 1;
        lo.warn = warn_cb;
        lo.warn_ud = (void *)o;
        if (o->init_act && *o->init_act) {
            lo.act_given = 1;
            if (!strcmp(o->init_act, "gelu")) lo.act = CLIPC_ACT_GELU;
            else if (strcmp(o->init_act, "quickgelu"))
                return clipc_error(CLIPC_ERR_INVALID, "--init-act must be quickgelu or gelu, not '%s'", o->init_act);
        }
        return clipc_model_load(o->init, &lo, &r->m);
    }
    clipc_config cfg;
    clipc_status s = clipc_config_named(o->config ? o->config : "small", &cfg);
    if (!s) s = clipc_model_create(&cfg, o->seed, &r->m);
    return s;
}

/* The model, the memory check for its config, and config.json. */
static clipc_status run_setup_model(train_run *r) {
    clipc_status s = run_load_model(r);
    if (s) return s;
    if (!r->ckpt_dir) tutorial_start_temperature(&r->o, r->m);
    const clipc_config *cfg = clipc_model_config(r->m);
    s = train_memory_guard(cfg, &r->o);
    if (s) return s;
    r->opts_json = train_opts_to_json_abs(&r->o, cfg);
    if (!r->opts_json) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!is_writer()) return CLIPC_OK;
    char *cp = path_in(r->o.out_dir, "config.json");
    s = cp ? clipc_write_file_atomic(cp, r->opts_json, strlen(r->opts_json)) : CLIPC_ERR_NOMEM;
    free(cp);
    return s;
}

/* The validation set (after the tokenizer); one that cannot be prepared
 * disables validation, with a message. */
static void run_prepare_validation(train_run *r) {
    if (!r->val.ds) return;
    char w[256] = "";
    if (valset_prepare(&r->val, r->tok, r->m, w, sizeof w)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "validation disabled: %s", clipc_last_error());
        info(&r->o, CLIPC_TRAIN_INFO, msg);
        clipc_error_clear();
        valset_free(&r->val);
    } else if (*w) {
        info(&r->o, CLIPC_TRAIN_INFO, w);
    }
}

/* Data parallel: rank 0 prepares the set and tells the others whether there is one. */
static clipc_status run_setup_validation(train_run *r) {
    if (dist_size() > 1) { /* validation runs on rank 0: the others only need to know whether */
        int has = 0;
        if (is_writer()) {
            run_prepare_validation(r);
            has = r->val.ds != NULL;
        }
        clipc_status s = dist_bcast(&has, sizeof has, 0);
        if (!has) valset_free(&r->val);
        return s;
    }
    run_prepare_validation(r);
    return CLIPC_OK;
}

static clipc_status run_setup_loader(train_run *r) {
    const clipc_train_opts *o = &r->o;
    const clipc_config *cfg = clipc_model_config(r->m);
    loader_opts lo = {0};
    lo.ds = r->train_ds;
    lo.tok = r->tok;
    lo.batch_size = o->batch_size;
    lo.image_size = cfg->image_resolution;
    clipc_model_transform(r->m, &lo.transform); /* the model's mean/std and resize (the tutorial's: ImageNet's) */
    lo.context_length = cfg->context_length;
    lo.seed = o->seed;
    lo.drop_last = clipc_dataset_n_images(r->train_ds) >= 2 * o->batch_size;
    lo.augment = o->augment;
    lo.shift = o->shift;
    lo.fast_decode = o->fast_decode;
    lo.workers = o->workers;
    lo.prefetch = o->prefetch;
    lo.cache_path = o->cache && *o->cache ? o->cache : NULL;
    lo.warn = warn_cb;
    lo.warn_ud = (void *)o;
    lo.shard = dist_rank(), lo.shards = dist_size();
    clipc_status s = loader_create(&lo, &r->ld);
    /* An epoch without a batch would make a run of epochs end untrained and
     * a run of steps never end. */
    if (!s && (loader_batches_per_epoch(r->ld) < 1 || clipc_dataset_n_images(r->train_ds) < 2))
        s = clipc_error(CLIPC_ERR_INVALID,
                        "train: %s: %d training image(s) make no batch (--batch %d; contrastive training needs at "
                        "least 2 images in a batch)",
                        o->data, clipc_dataset_n_images(r->train_ds), o->batch_size);
    return s;
}

/* The trainer's hyperparameters from the options: a group's lr is a
 * multiplier of the scheduled lr, its weight decay absolute. */
static clipc_status run_setup_trainer(train_run *r) {
    const clipc_train_opts *o = &r->o;
    trainer_hparams h = {0};
    h.kind = o->adam ? OPT_ADAM : OPT_ADAMW;
    h.beta1 = o->beta1, h.beta2 = o->beta2, h.eps = o->eps;
    double glr[4] = {o->lr_image, o->lr_text, o->lr_proj, tutorial_logit_scale_lr(o)};
    double gwd[4] = {o->wd_image, o->wd_text, o->wd_proj, o->wd};
    for (int g = 0; g < 4; g++) {
        h.group_lr[g] = glr[g] < 0 ? 1.0 : (o->lr > 0 ? glr[g] / o->lr : 0.0);
        h.group_wd[g] = gwd[g] < 0 ? o->wd : gwd[g];
    }
    h.decay_all = o->decay_all;
    h.grad_clip = o->grad_clip;
    h.clamp_logit_scale = 1;
    h.freeze_image = o->freeze && !strcmp(o->freeze, "image");
    h.freeze_text = o->freeze && !strcmp(o->freeze, "text");
    h.freeze_layers = o->freeze_layers;
    h.dropout = (float)o->dropout;
    h.seed = o->seed;
    clipc_status s = trainer_init(&r->tr, r->m, o->batch_size, &h);
    if (!s) r->tr_ok = 1, r->tr.overlap = o->overlap_allreduce;
    if (!s) s = tutorial_setup_trainer(o, &r->tr);
    return s;
}

/* The lr schedule (its length is known after resume), the plateau rule,
 * the output paths. */
static clipc_status run_setup_schedule(train_run *r) {
    const clipc_train_opts *o = &r->o;
    sched sc = {(sched_kind)sched_parse(o->schedule), o->lr, o->min_lr, o->warmup, 0, o->epochs};
    r->sc = sc;
    r->maximize = r->val.ds && strcmp(o->best_metric ? o->best_metric : "recall", "loss") != 0;
    plateau_init(&r->pl, o->plateau, r->maximize, o->plateau_factor, o->plateau_patience);
    r->metrics_path = path_in(o->out_dir, "metrics.jsonl");
    r->plot_path = path_in(o->out_dir, "plot.svg");
    if (!r->metrics_path || !r->plot_path) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    return CLIPC_OK;
}

/* Resume: the optimizer, loader and plateau state of the checkpoint, and
 * metrics.jsonl up to its step. */
static clipc_status run_resume(train_run *r) {
    run_state *rs = &r->rs;
    clipc_status s = ckpt_load_state(r->ckpt_dir, rs, &r->tr.opt, NULL);
    if (!s) s = loader_set_state(r->ld, rs->loader);
    if (s) return s;
    plateau_restore(&r->pl, (int)rs->plateau_bad, (int)rs->plateau_seen, rs->plateau_best, rs->plateau_mult);
    metrics_log_reload(&r->ml, r->metrics_path, rs->step);
    char msg[1024];
    snprintf(msg, sizeof msg, "resumed from %s: step %lld, epoch %lld", r->ckpt_dir, (long long)rs->step,
             (long long)rs->epoch + 1);
    info(&r->o, CLIPC_TRAIN_INFO, msg);
    return CLIPC_OK;
}

/* A new run: its planned length in steps, no best yet. */
static clipc_status run_start_fresh(train_run *r) {
    const clipc_train_opts *o = &r->o;
    long per_epoch = (loader_batches_per_epoch(r->ld) + o->accum - 1) / o->accum;
    r->rs.total_steps = o->steps > 0 ? o->steps : per_epoch * o->epochs;
    r->rs.plateau_mult = 1.0;
    r->rs.best = NAN;
    return CLIPC_OK;
}

/* The clock of the training loop (the budget, the schedule of a timed run,
 * the step rate): clipc_now(), or the one the caller handed in (tests use a
 * fake clock so that a --minutes run is exactly reproducible). */
static double run_clock(const train_run *r) { return r->o.clock ? r->o.clock(r->o.ud) : clipc_now(); }

/* Length: epochs, a step count or a wall-clock budget.  The budget's clock
 * is the loop minus evaluation and checkpoint writes (`paused`), so
 * validation settings do not change how much training a budget buys.  A
 * step is started only if the mean step time so far says it ends in the
 * budget; checked after each step, so at least one step runs. */
static void run_setup_length(train_run *r) {
    const clipc_train_opts *o = &r->o;
    r->sc.total_steps = r->rs.total_steps;
    if (o->warmup_frac > 0) r->sc.warmup = (long)floor(o->warmup_frac * (double)r->rs.total_steps + 0.5);
    r->timed = o->minutes > 0;
    r->budget = o->minutes * 60.0;
    r->max_epochs = o->epochs;
    if (r->timed || o->steps > 0) r->max_epochs = INT32_MAX;
    r->loop_t0 = run_clock(r);
    r->chance_B = log((double)o->batch_size);
    r->bad0 = r->rs.bad_images;
    r->rate_t0 = r->loop_t0;
    r->rate_step0 = r->rs.step;
}

/* ------------------------------------------------------------ the loop */

/* The clock of a --minutes run after a step: is the budget used, and how
 * many steps are left at the mean step time so far. */
static void run_update_budget(train_run *r, double now) {
    run_state *rs = &r->rs;
    int64_t done_here = rs->step - r->rate_step0 > 0 ? rs->step - r->rate_step0 : 1;
    double el = now - r->loop_t0 - r->paused, per = el / (double)done_here;
    if (el + per > r->budget) r->time_up = 1;
    rs->total_steps = r->time_up ? rs->step : rs->step + (int64_t)((r->budget - el) / per);
}

/* The progress report of a step and its metrics.jsonl line. */
static void run_report_step(train_run *r, const loader_batch *b, double loss, double lr, int nm, double dt) {
    const clipc_train_opts *o = &r->o;
    const run_state *rs = &r->rs;
    clipc_train_progress p;
    memset(&p, 0, sizeof p);
    p.kind = CLIPC_TRAIN_STEP;
    p.epoch = rs->epoch, p.epochs = o->epochs, p.step = rs->step, p.total_steps = rs->total_steps;
    p.batch_in_epoch = b->index + 1, p.batches_in_epoch = r->bpe;
    p.loss = loss, p.chance = log((double)(r->step_pairs / nm > 1 ? r->step_pairs / nm : 2));
    p.lr = lr, p.grad_norm = r->tr.last_grad_norm;
    p.pairs_per_s = dt > 0 ? r->rate_pairs / dt : 0;
    p.eta_s = r->eta_sec_per_step * (double)(rs->total_steps - rs->step);
    p.bad_images = loader_bad_images(r->ld) + (int)r->bad0;
    emit(o, &p);
    if (o->log_every > 0 && rs->step % o->log_every == 0) {
        metrics_log_step(&r->ml, rs->step, rs->epoch, loss, lr, r->tr.last_grad_norm, p.pairs_per_s);
        if (is_writer()) clipc_write_file_atomic(r->metrics_path, r->ml.buf, r->ml.len);
    }
}

/* The error that ends a diverged run (nonfinite_steps reached the limit). */
static clipc_status run_diverged(const train_run *r) {
    int64_t last = ckpt_pointer_step(r->o.out_dir, "last");
    char where[64] = "none written";
    if (last >= 0) snprintf(where, sizeof where, "ckpt-%lld", (long long)last);
    return clipc_error(CLIPC_ERR_INVALID,
                       "train: step %lld: loss or gradient is nan/inf for %d steps in a row; the run diverged (lower --lr, use "
                       "--grad-clip/--warmup); last finite checkpoint: %s%s%s",
                       (long long)r->rs.step, r->nonfinite_steps, last >= 0 ? r->o.out_dir : "",
                       last >= 0 ? "/" : "", where);
}

/* One optimizer step over the micro-batches accumulated so far (the last
 * of them is b), its report, and whether the run stops after it.  A step
 * whose loss or gradient norm is nan/inf updates nothing (it still counts
 * as a step, so --steps runs end) and stays out of the epoch's mean loss;
 * MAX_NONFINITE_STEPS of them in a row end the run with an error. */
static clipc_status run_optimizer_step(train_run *r, const loader_batch *b) {
    const clipc_train_opts *o = &r->o;
    run_state *rs = &r->rs;
    /* One reading of the clock per step, after its forward and backward:
     * the schedule of a timed run and its budget both use it. */
    double now = run_clock(r);
    double lr = r->timed ? sched_lr_frac(&r->sc, (now - r->loop_t0 - r->paused) / r->budget, o->warmup_frac)
                         : sched_lr(&r->sc, (long)rs->step, (int)rs->epoch);
    lr = plateau_lr(&r->pl, lr);
    clipc_status s = r->timed ? dist_bcast(&lr, sizeof lr, 0) : CLIPC_OK; /* rank 0's clock */
    if (s) return s;
    int nm = r->tr.micro;
    double loss = r->step_loss / nm; /* the global batch's: the same on every rank */
    int applied = 0;
    if (isfinite(loss)) s = trainer_apply_global(&r->tr, lr, &applied);
    else if (!(s = trainer_sync(&r->tr))) trainer_skip(&r->tr), r->tr.last_grad_norm = NAN;
    if (s) return s;
    r->nonfinite_steps = applied ? 0 : r->nonfinite_steps + 1;
    rs->step++;
    rs->opt_step = r->tr.opt.step;
    if (applied) {
        rs->epoch_loss_sum += loss;
        rs->epoch_loss_n++;
    }
    r->rate_pairs += r->step_pairs;
    double dt = now - r->rate_t0;
    if (r->timed) run_update_budget(r, now);
    if (o->steps > 0 && rs->step >= o->steps) r->steps_done = 1;
    double sps = dt > 0 ? (double)(rs->step - r->rate_step0) / dt : 0;
    if (sps > 0) r->eta_sec_per_step = 1.0 / sps;
    run_report_step(r, b, loss, lr, nm, dt);
    r->step_loss = 0;
    r->step_pairs = 0;
    if (o->stop_after_steps > 0 && rs->step >= o->stop_after_steps) r->stopped = 1;
    if (stop_requested || r->time_up || r->steps_done) r->stopped = 1;
    if (dist_size() > 1) { /* any rank's stop request; rank 0's clock */
        int64_t f[3] = {r->stopped, r->time_up, is_writer() ? rs->total_steps : INT64_MIN};
        if ((s = dist_allreduce_max_i64(f, 3))) return s;
        r->stopped = (int)f[0], r->time_up = (int)f[1], rs->total_steps = f[2];
    }
    return r->nonfinite_steps >= MAX_NONFINITE_STEPS ? run_diverged(r) : CLIPC_OK;
}

/* Data parallel: rank 0 alone writes, so every rank must hold what it
 * writes.  The weights are (the same summed gradient, the same Adam); the
 * BatchNorm running statistics only if every rank's forward saw the global
 * batch's statistics (SyncBatchNorm, nn/batchnorm.h).  A hash of them is
 * compared across the ranks (max of h and of -h: both equal this rank's
 * only when every rank has the same). */
static clipc_status run_check_buffers_agree(train_run *r) {
    uint64_t h = HASH_FNV_OFFSET;
    for (int i = 0; i < r->m->tab.n; i++)
        if (r->m->tab.p[i].buffer)
            h = hash_bytes(r->m->params + r->m->tab.p[i].offset, r->m->tab.p[i].numel * sizeof(float), h);
    int64_t mine = (int64_t)(h >> 2), v[2] = {mine, -mine};
    clipc_status s = dist_allreduce_max_i64(v, 2);
    if (!s && (v[0] != mine || v[1] != -mine))
        s = clipc_error(CLIPC_ERR_INVALID, "train: step %lld: rank %d's BatchNorm running statistics differ from "
                        "another rank's", (long long)r->rs.step, dist_rank());
    return s;
}

/* A checkpoint of the current state (between optimizer steps); `keep` and
 * `best` as in ckpt_save.  Older checkpoints beyond --keep-last go. */
static clipc_status run_save_checkpoint(train_run *r, int keep, int best) {
    run_state *rs = &r->rs;
    rs->plateau_bad = r->pl.bad_epochs, rs->plateau_seen = r->pl.seen;
    rs->plateau_best = r->pl.best, rs->plateau_mult = r->pl.mult;
    loader_get_state(r->ld, rs->loader);
    rs->bad_images = r->bad0 + loader_bad_images(r->ld);
    /* Never a checkpoint of nan weights (updates with a non-finite gradient
     * are skipped, so this is a guard, one pass over the weights). */
    size_t bad = model_count_nonfinite(r->m->params, r->m->tab.total);
    if (bad)
        return clipc_error(CLIPC_ERR_INVALID, "train: step %lld: the weights hold %zu nan/inf values; no checkpoint "
                           "written (the run diverged: lower --lr, use --grad-clip/--warmup)", (long long)rs->step, bad);
    clipc_status s = dist_size() > 1 && r->m->cfg.vision_arch == CLIPC_VISION_TV_RESNET ? run_check_buffers_agree(r)
                                                                                        : CLIPC_OK;
    if (s || !is_writer()) return s;
    s = ckpt_save(r->o.out_dir, r->m, &r->tr.opt, rs, r->opts_json, keep, best, r->o.checkpoint_hook,
                               r->o.ud);
    if (!s) s = ckpt_prune(r->o.out_dir, r->o.keep_last > 0 ? r->o.keep_last : 1);
    return s;
}

/* The progress report of an epoch's end. */
static void run_report_epoch(train_run *r, double tl, const val_result *vr, int bad_images) {
    const run_state *rs = &r->rs;
    clipc_train_progress p;
    memset(&p, 0, sizeof p);
    p.kind = CLIPC_TRAIN_EPOCH;
    p.epoch = rs->epoch, p.epochs = r->o.epochs, p.step = rs->step, p.total_steps = rs->total_steps;
    p.train_loss = tl, p.val_loss = vr->loss, p.mean_recall = vr->mean_recall, p.chance = r->chance_B;
    p.lr = plateau_lr(&r->pl, sched_lr(&r->sc, (long)rs->step, (int)rs->epoch + 1));
    for (int k = 0; k < 3; k++) p.i2t[k] = vr->i2t[k], p.t2i[k] = vr->t2i[k];
    p.bad_images = bad_images;
    emit(&r->o, &p);
}

/* The end of an epoch: validation, the best so far and the plateau rule,
 * the report, metrics.jsonl and the plot, the epoch's checkpoint. */
static clipc_status run_end_of_epoch(train_run *r) {
    const clipc_train_opts *o = &r->o;
    run_state *rs = &r->rs;
    double tl = rs->epoch_loss_n ? rs->epoch_loss_sum / rs->epoch_loss_n : NAN;
    val_result vr = {NAN, {NAN, NAN, NAN}, {NAN, NAN, NAN}, NAN};
    double tp0 = run_clock(r);
    clipc_status s;
    if (r->val.ds) { /* on rank 0; the others need its results for best and the plateau rule */
        s = is_writer() ? valset_evaluate(&r->val, r->m, o->batch_size, &vr) : CLIPC_OK;
        if (!s) s = dist_bcast(&vr, sizeof vr, 0);
        if (s) return s;
    }
    double metric = !r->val.ds ? tl : r->maximize ? vr.mean_recall : vr.loss;
    /* A nan metric (every step of the epoch non-finite, a nan validation
     * loss) is never the best. */
    int better = isfinite(metric) && (!rs->best_seen || (r->maximize ? metric > rs->best : metric < rs->best));
    if (better) rs->best = metric, rs->best_seen = 1, rs->best_step = rs->step;
    plateau_update(&r->pl, metric);
    int bad_images = loader_bad_images(r->ld) + (int)r->bad0;
    run_report_epoch(r, tl, &vr, bad_images);
    metrics_log_epoch(&r->ml, rs->epoch + 1, rs->step, tl, &vr, r->pl.mult, bad_images, clipc_now() - r->t0);
    s = is_writer() ? clipc_write_file_atomic(r->metrics_path, r->ml.buf, r->ml.len) : CLIPC_OK;
    if (!s && is_writer()) s = plot_svg_write(r->plot_path, r->ml.train_loss, r->ml.val_loss, r->ml.recall, r->ml.n_ep, r->chance_B);
    if (s) return s;
    rs->epoch++;
    rs->epoch_loss_sum = 0;
    rs->epoch_loss_n = 0;
    rs->epoch_step0 = rs->step;
    int keep = o->save_every > 0 && rs->epoch % o->save_every == 0;
    s = run_save_checkpoint(r, keep, better);
    if (s) return s;
    r->paused += run_clock(r) - tp0;
    char msg[1024];
    snprintf(msg, sizeof msg, "checkpoint ckpt-%lld (epoch %lld%s)", (long long)rs->step, (long long)rs->epoch,
             better ? ", best" : "");
    info(o, CLIPC_TRAIN_CHECKPOINT, msg);
    return CLIPC_OK;
}

/* A checkpoint inside an epoch: on stopping, or every --ckpt-every-steps. */
static clipc_status run_checkpoint_mid_epoch(train_run *r) {
    double tp0 = run_clock(r);
    clipc_status s = run_save_checkpoint(r, 0, 0);
    if (s) return s;
    r->paused += run_clock(r) - tp0;
    char msg[1024];
    snprintf(msg, sizeof msg, "checkpoint ckpt-%lld (%s %lld)", (long long)r->rs.step,
             r->time_up ? "budget used, epoch" : r->steps_done ? "last step, epoch" : "mid-epoch",
             (long long)r->rs.epoch + 1);
    info(&r->o, CLIPC_TRAIN_CHECKPOINT, msg);
    return CLIPC_OK;
}

/* Loader batches until the last epoch ends or the run stops: each goes
 * forward and backward; an optimizer step every --accum batches and at an
 * epoch's end; then the epoch's end or a mid-epoch checkpoint. */
static clipc_status run_loop(train_run *r) {
    const clipc_train_opts *o = &r->o;
    while (r->rs.epoch < r->max_epochs) {
        r->bpe = loader_batches_per_epoch(r->ld); /* of the epoch the next batch belongs to */
        loader_batch b;
        clipc_status s = loader_next(r->ld, &b);
        if (s) return s;
        int end_of_epoch = b.index + 1 >= r->bpe;
        int n_global;
        float loss;
        /* the step's last micro-batch (the same on every rank) */
        r->tr.last_micro = r->tr.micro + 1 >= o->accum || end_of_epoch;
        s = trainer_micro_global(&r->tr, b.pixels, b.ids, b.n, (long)r->rs.step, &n_global, &loss);
        if (s) return s;
        if (n_global >= 2) {
            r->step_loss += loss;
            r->step_pairs += n_global;
        }
        if (r->tr.micro < o->accum && !end_of_epoch) continue;
        if (r->tr.micro > 0 && (s = run_optimizer_step(r, &b))) return s;
        if (end_of_epoch)
            s = run_end_of_epoch(r);
        else if (r->stopped ||
                 (o->ckpt_every_steps > 0 && r->rs.step % o->ckpt_every_steps == 0 && r->tr.micro == 0))
            s = run_checkpoint_mid_epoch(r);
        if (s) return s;
        if (r->stopped) break;
    }
    return CLIPC_OK;
}

/* ------------------------------------------------------------ the end */

/* Data parallel: what this rank spent in collectives (rank 0's, reported). */
static void run_report_comm(train_run *r) {
    if (dist_size() < 2) return;
    dist_stats d;
    dist_get_stats(&d);
    int64_t steps = r->rs.step - r->rate_step0 > 0 ? r->rs.step - r->rate_step0 : 1;
    char msg[640], ov[160] = "";
    if (d.overlap_steps)
        snprintf(ov, sizeof ov, " (overlapped: %lld of %lld calls started during the backward, %.3f s waited after it)",
                 (long long)d.overlap_early, (long long)d.allreduce_calls, d.overlap_wait_s);
    snprintf(msg, sizeof msg,
             "mpi: %d ranks, %lld steps: gradient allreduce %.3f s (%.2f MB/step, %lld calls)%s, feature allgather "
             "%.3f s (%.3f MB/step); loop %.2f s",
             dist_size(), (long long)steps, d.allreduce_s, d.allreduce_bytes / 1e6 / (double)steps,
             (long long)d.allreduce_calls, ov, d.allgather_s, d.allgather_bytes / 1e6 / (double)steps,
             run_clock(r) - r->loop_t0 - r->paused);
    info(&r->o, CLIPC_TRAIN_INFO, msg);
}

/* The "end" record of a step- or time-limited run, and the result. */
static clipc_status run_finish(train_run *r, clipc_train_result *res) {
    const clipc_train_opts *o = &r->o;
    const run_state *rs = &r->rs;
    double train_seconds = run_clock(r) - r->loop_t0 - r->paused;
    run_report_comm(r);
    if (r->timed || o->steps > 0) {
        /* The record that lets `--steps N` replay a timed run. */
        metrics_log_end(&r->ml, rs->step, rs->epoch, o->minutes, train_seconds);
        clipc_status s = !is_writer() ? CLIPC_OK : clipc_write_file_atomic(r->metrics_path, r->ml.buf, r->ml.len);
        if (s) return s;
    }
    if (res) {
        res->train_seconds = train_seconds;
        res->step = rs->step;
        res->epoch = rs->epoch;
        res->stopped = r->stopped && !r->time_up && !r->steps_done && rs->epoch < r->max_epochs;
        res->final_loss = r->ml.n_ep ? r->ml.train_loss[r->ml.n_ep - 1] : NAN;
        res->best_metric = rs->best;
        res->bad_images = (int)r->bad0 + loader_bad_images(r->ld);
        res->seconds = clipc_now() - r->t0;
    }
    return CLIPC_OK;
}

/* Frees whatever the set-up steps got to (the rest is still zero). */
static void run_free(train_run *r) {
    if (r->tr_ok) trainer_free(&r->tr);
    loader_free(r->ld);
    clipc_tokenizer_free(r->tok);
    clipc_model_free(r->m);
    valset_free(&r->val);
    clipc_dataset_free(r->train_ds);
    clipc_dataset_free(r->all_ds);
    metrics_log_free(&r->ml);
    cJSON_Delete(r->stored);
    free(r->ckpt_dir);
    free(r->out_parent);
    free(r->stored_json);
    free(r->opts_json);
    free(r->model_path);
    free(r->metrics_path);
    free(r->plot_path);
    run_lock_release(r->lock_fd); /* last: the folder is no longer written */
}

clipc_status clipc_train_run(const clipc_train_opts *user, clipc_train_result *res) {
    train_run r;
    memset(&r, 0, sizeof r);
    r.lock_fd = -1;
    r.t0 = clipc_now();
    stop_requested = 0;
    if (res) memset(res, 0, sizeof *res);
    clipc_status s = run_setup_options(&r, user);
    if (!s && r.finished) {
        if (res) res->step = r.rs.step, res->epoch = r.rs.epoch, res->best_metric = r.rs.best, res->finished = 1;
        run_free(&r);
        return CLIPC_OK;
    }
    if (!s) s = run_setup_data(&r);
    if (!s) s = run_setup_model(&r);
    if (!s) s = clipc_model_tokenizer(r.m, &r.tok); /* for the validation captions and the loader (BPE or,
                                                     * for the tutorial's DistilBERT, its WordPiece) */
    if (!s) s = run_setup_validation(&r);
    if (!s) s = run_setup_loader(&r);
    if (!s) s = run_setup_trainer(&r);
    if (!s) s = run_setup_schedule(&r);
    if (!s) s = r.ckpt_dir ? run_resume(&r) : run_start_fresh(&r);
    if (!s) {
        run_setup_length(&r);
        s = run_loop(&r);
    }
    if (!s) s = run_finish(&r, res);
    run_free(&r);
    return s;
}
