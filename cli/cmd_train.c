/*
 * cmd_train.c — `clipc train`: parses options into clipc_train_opts (recipe
 * first, then the options of the library's table, clipc_train_options, in
 * order), prints progress, turns SIGINT / SIGTERM into a clean stop.  All
 * the work is clipc_train_run.
 */
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "cli.h"

/* The command line: every option of the library's table (clipc_train_options,
 * "--" + its name, the help with the default in brackets) after --recipe,
 * which is applied first wherever it stands so later options override it. */
#define MAX_OPTS 96

typedef struct {
    cli_opt opts[MAX_OPTS];
    char defaults[MAX_OPTS][40];
    char names[MAX_OPTS][40];
    char recipe_help[256];
    cli_command cmd;
} train_cli;

static int opt_recipe(const char *cmd, const cli_opt *o, const char *val) {
    if (clipc_train_recipe(val, o->dest)) return cli_usage_error(cmd, "%s", clipc_last_error());
    return 0;
}

/* The default of option d as --help shows it. */
static void default_text(const clipc_train_opts *o, const clipc_option *d, char *buf, size_t n, const char **out) {
    const char *p = (const char *)o + d->offset;
    *out = buf;
    switch (d->type) {
    case CLIPC_OPT_STR: *out = *(const char *const *)p ? *(const char *const *)p : "(none)"; break;
    case CLIPC_OPT_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case CLIPC_OPT_INT64: snprintf(buf, n, "%lld", (long long)*(const int64_t *)p); break;
    case CLIPC_OPT_DOUBLE: snprintf(buf, n, "%g", *(const double *)p); break;
    case CLIPC_OPT_U64: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    }
}

static const char train_epilog[] =
    "\nRecipes:\n"
    "  seed       seed-b16, Adam coupled L2 1e-4 on all params, lr 1e-4, cosine per epoch to 1e-6,\n"
    "             no warm-up, batch 64, 50 epochs, dropout 0.1 (the seed model card)\n"
    "  tutorial   small (OpenAI architecture), AdamW lr image 1e-4 / text 1e-5 / proj 1e-3, wd 1e-3\n"
    "             on projections only, fixed temperature, ReduceLROnPlateau 0.8/1 on val loss,\n"
    "             batch 32, 4 epochs\n"
    "  cpu-small  small, AdamW 5e-4 (0.9, 0.98, 1e-6), wd 0.1, warm-up 50 + cosine, clip 1, batch 32\n"
    "  cpu-tiny   tiny, AdamW 1e-3, warm-up 10 + cosine, batch 16, 10 epochs\n"
    "  emoji      the demo: config emoji, AdamW 1e-3, wd 0.2, warm-up 50 + cosine, augmentation,\n"
    "             batch 64, 30 epochs\n\n"
    "--minutes M: the training loop gets M minutes of wall-clock time; evaluation and checkpoint\n"
    "writes are not counted (pass --val-split \"\" for a run without evaluation).  The schedule\n"
    "runs on f = elapsed / budget instead of step / steps (warm-up: --warmup-frac of the budget;\n"
    "--warmup steps do not apply), and a step starts only if the mean step time says it ends\n"
    "within the budget.  Not deterministic: metrics.jsonl ends with {\"type\":\"end\",\"step\":N},\n"
    "and --steps N (with the same --warmup-frac) replays the run's data order and, up to\n"
    "step-time jitter, its schedule.  A timed run cannot be resumed.\n\n"
    "Ctrl-C (SIGINT) or SIGTERM: the current step finishes, a checkpoint is written, and clipc\n"
    "exits with status 130; a second Ctrl-C kills at once.  --resume continues bit-exactly\n"
    "(same --threads).  Exit status 0 when training completed or --stop-after-steps was\n"
    "reached, 1 on error, 2 on a usage error.\n\n"
    "mpirun -np N clipc train ...: data-parallel training over N ranks (Open MPI); --batch is the\n"
    "global batch, each rank trains on its slice, the loss uses the features of all ranks, rank 0\n"
    "writes the files; an error on any rank ends all.  Ctrl-C on mpirun kills every rank (resume\n"
    "from the last checkpoint); SIGUSR1 to mpirun stops them cleanly after a checkpoint, as Ctrl-C\n"
    "does one process.  See docs/distributed.md.\n";

static const char train_usage[] =
    "usage: clipc train --data FILE --out DIR [--recipe NAME] [OPTIONS]\n"
    "       clipc train --resume DIR\n\n"
    "Contrastive training of a CLIP model (both towers, symmetric loss, logit scale clamped to\n"
    "[0, ln 100]), with evaluation each epoch (validation loss, Recall@1/5/10 both directions),\n"
    "checkpoints DIR/ckpt-<step>/{model,state}.safetensors, pointers DIR/last and DIR/best,\n"
    "DIR/metrics.jsonl, DIR/config.json, DIR/plot.svg.  See docs/train.md.\n\n";

/* Fills t's table for options stored into *o; --epochs counts into *epochs_given. */
static void train_cli_build(train_cli *t, clipc_train_opts *o, int *epochs_given) {
    clipc_train_opts def;
    clipc_train_opts_default(&def);
    int n;
    const clipc_option *lib = clipc_train_options(&n);
    if (n > MAX_OPTS - 2) n = MAX_OPTS - 2; /* cannot happen: the table has ~55 */
    snprintf(t->recipe_help, sizeof t->recipe_help,
             "settings to start from: %s (default cpu-small);\nlater options override them",
             clipc_train_recipe_names());
    t->opts[0] = (cli_opt){.name = "--recipe", .kind = CLI_CUSTOM, .dest = o, .metavar = "NAME",
                           .help = t->recipe_help, .fn = opt_recipe, .early = 1};
    for (int i = 0; i < n; i++) {
        const clipc_option *d = &lib[i];
        cli_opt *c = &t->opts[i + 1];
        static const cli_kind kinds[] = {[CLIPC_OPT_STR] = CLI_STRING, [CLIPC_OPT_INT] = CLI_INT,
                                         [CLIPC_OPT_INT64] = CLI_INT64, [CLIPC_OPT_DOUBLE] = CLI_DOUBLE,
                                         [CLIPC_OPT_U64] = CLI_U64};
        snprintf(t->names[i], sizeof t->names[i], "--%s", d->name);
        *c = (cli_opt){.name = t->names[i], .kind = kinds[d->type], .dest = (char *)o + d->offset, .min = 1,
                       .max = 0, .help = d->help};
        default_text(&def, d, t->defaults[i], sizeof t->defaults[i], &c->deflt);
        if (d->offset == offsetof(clipc_train_opts, epochs)) c->given = epochs_given;
    }
    /* Not a training option of the library's table: the process-wide image
     * decoding choice (cli/exif.c), set as it is parsed. */
    t->opts[n + 1] = (cli_opt)CLI_OPT_EXIF;
    t->cmd = (cli_command){.cmd = "train", .usage = train_usage, .epilog = train_epilog, .width = 24,
                           .opts = t->opts, .n_opts = n + 2};
}

/* ---- progress */

typedef struct {
    int tty, log_every;
    int64_t last_line_step;
} progress_state;

static void fmt_time(char *b, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(b, n, "?");
    else if (s >= 3600) snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static void on_progress(const clipc_train_progress *p, void *ud) {
    progress_state *ps = ud;
    char eta[32];
    switch (p->kind) {
    case CLIPC_TRAIN_STEP: {
        fmt_time(eta, sizeof eta, p->eta_s);
        if (ps->tty) {
            char bar[21];
            int fill = p->batches_in_epoch ? (int)(20 * p->batch_in_epoch / p->batches_in_epoch) : 0;
            for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
            bar[20] = 0;
            fprintf(stderr, "\repoch %lld/%lld [%s] step %lld/%lld loss %.4f (chance %.2f) lr %.3g %.1f pairs/s ETA %s  ",
                    (long long)p->epoch + 1, (long long)p->epochs, bar, (long long)p->step,
                    (long long)p->total_steps, p->loss, p->chance, p->lr, p->pairs_per_s, eta);
        } else if (ps->log_every <= 1 || p->step % ps->log_every == 0) {
            fprintf(stderr, "epoch %lld/%lld step %lld/%lld loss %.4f (chance %.2f) lr %.3g %.1f pairs/s ETA %s\n",
                    (long long)p->epoch + 1, (long long)p->epochs, (long long)p->step, (long long)p->total_steps,
                    p->loss, p->chance, p->lr, p->pairs_per_s, eta);
        }
        break;
    }
    case CLIPC_TRAIN_EPOCH:
        if (ps->tty) fprintf(stderr, "\n");
        fprintf(stderr, "epoch %lld/%lld done: train loss %.4f (chance %.2f)", (long long)p->epoch + 1,
                (long long)p->epochs, p->train_loss, p->chance);
        if (!isnan(p->val_loss))
            fprintf(stderr,
                    ", val loss %.4f, i2t R@1/5/10 %.1f/%.1f/%.1f, t2i %.1f/%.1f/%.1f, mean %.1f%%",
                    p->val_loss, 100 * p->i2t[0], 100 * p->i2t[1], 100 * p->i2t[2], 100 * p->t2i[0],
                    100 * p->t2i[1], 100 * p->t2i[2], 100 * p->mean_recall);
        if (p->bad_images) fprintf(stderr, ", %d unreadable image(s) skipped", p->bad_images);
        fprintf(stderr, "\n");
        break;
    default:
        if (ps->tty) fprintf(stderr, "\n");
        fprintf(stderr, "clipc: %s\n", p->message ? p->message : "");
    }
}

/* ---- signals and fault injection */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    if (got_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    got_signal = 1;
    clipc_train_request_stop();
}

#ifdef CLIPC_TEST_HOOKS
/* Only in build/clipc-testhooks (the Makefile compiles this file a second
 * time with -DCLIPC_TEST_HOOKS); the shipped build/clipc has no such hook.
 * CLIPC_TRAIN_FAULT=<stage>:<step> kills the process (SIGKILL, as kill -9)
 * when a checkpoint write reaches <stage> ("model", "state", "renamed",
 * "pointer") at a step >= <step>: the crash tests use it. */
static void fault_hook(const char *stage, int64_t step, void *ud) {
    (void)ud;
    const char *f = getenv("CLIPC_TRAIN_FAULT");
    if (!f) return;
    const char *colon = strchr(f, ':');
    size_t n = colon ? (size_t)(colon - f) : strlen(f);
    long long at = colon ? atoll(colon + 1) : 0;
    if (strlen(stage) == n && !strncmp(stage, f, n) && step >= at) raise(SIGKILL);
}

/* CLIPC_TRAIN_CLOCK=<seconds>: the training loop's clock advances by that
 * much at each reading (once per optimizer step), so a --minutes run does
 * exactly the same steps on any machine, however loaded (test of the
 * budget: test_train_minutes.c). */
static double fake_clock_step;
static long long fake_clock_reads;

static double fake_clock(void *ud) {
    (void)ud;
    return (double)fake_clock_reads++ * fake_clock_step;
}

/* CLIPC_TEST_LEAK=1: leaks a block at exit, so the sanitizer canary can
 * check that LeakSanitizer covers the CLI the tests run. */
static void test_leak(void) {
    const char *v = getenv("CLIPC_TEST_LEAK");
    if (!v || strcmp(v, "1")) return;
    static void *volatile leaked;
    leaked = malloc(4096);
    memset(leaked, 1, 4096);
    leaked = NULL;
}
#endif

int cmd_train(int argc, char **argv) {
#ifdef CLIPC_TEST_HOOKS
    test_leak();
#endif
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    int epochs_given = 0;
    train_cli *t = malloc(sizeof *t);
    if (!t) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    train_cli_build(t, &o, &epochs_given);
    int rc = cli_parse(&t->cmd, argc, argv, NULL);
    free(t);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (o.resume && !epochs_given) o.epochs = 0; /* take it from the checkpoint */
    if (!o.resume && (!o.data || !o.out_dir))
        return cli_usage_error("train", "--data and --out are required (or --resume DIR)");
    progress_state ps = {isatty(2), o.log_every, 0};
    o.progress = on_progress;
    o.warn = cli_warn;
#ifdef CLIPC_TEST_HOOKS
    o.checkpoint_hook = fault_hook;
    const char *fc = getenv("CLIPC_TRAIN_CLOCK");
    if (fc && atof(fc) > 0) fake_clock_step = atof(fc), o.clock = fake_clock;
#endif
    o.ud = &ps;
    /* cli_warn ignores its user data, so sharing ud is fine. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Under mpirun, Ctrl-C ends the job at once (Open MPI kills the ranks);
     * mpirun forwards SIGUSR1 to every rank: a clean stop with a checkpoint. */
    sigaction(SIGUSR1, &sa, NULL);
    /* Under mpirun: one rank of a data-parallel run (docs/distributed.md). */
    clipc_status s = clipc_dist_init(NULL, NULL);
    if (s) return cli_report(s);
    clipc_train_result r;
    s = clipc_train_run(&o, &r);
    if (s) {
        int code = cli_report(s);
        if (clipc_dist_size() > 1) {
            fprintf(stderr, "clipc: rank %d of %d failed: ending every rank\n", clipc_dist_rank(), clipc_dist_size());
            clipc_dist_abort(code); /* MPI_Abort: does not return */
        }
        return code;
    }
    int rank = clipc_dist_rank();
    clipc_dist_finalize();
    if (r.finished || rank != 0) return got_signal && !r.finished ? 130 : 0; /* rank 0 reports */
    if (r.stopped)
        fprintf(stderr, "clipc: stopped at step %lld; continue with: clipc train --resume %s\n", (long long)r.step,
                o.resume ? o.resume : o.out_dir);
    else
        fprintf(stderr, "clipc: done: %lld steps in %.1f s (training loop %.1f s)\n", (long long)r.step, r.seconds,
                r.train_seconds);
    return got_signal ? 130 : 0;
}
