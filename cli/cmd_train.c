/*
 * cmd_train.c — `clipc train`: parses options into clipc_train_opts (recipe
 * first, then every option in order), prints progress, turns SIGINT /
 * SIGTERM into a clean stop.  All the work is clipc_train_run.
 */
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "train/schedule.h"
#include "cli.h"

enum { T_STR, T_INT, T_DBL, T_U64, T_FLAG };

typedef struct {
    const char *name;
    int type;
    size_t off;
    const char *help;
} opt_def;

#define O(f) offsetof(clipc_train_opts, f)
static const opt_def defs[] = {
    {"--data", T_STR, O(data), "caption file or folder (Karpathy JSON, Flickr8k/30k, CSV/TSV, folder)"},
    {"--image-root", T_STR, O(image_root), "folder the image paths are relative to"},
    {"--train-split", T_STR, O(train_split), "split to train on (\"all\" = every image)"},
    {"--val-split", T_STR, O(val_split), "split evaluated each epoch (\"\" = none)"},
    {"--augment", T_INT, O(augment), "1 = random resized crop + flip, 2 = the crop without flip, 0 = off"},
    {"--shift", T_INT, O(shift), "augmentation: translate by up to N pixels, white fill (0 = off)"},
    {"--fast-decode", T_INT, O(fast_decode), "1 = JPEG DCT scaling (departs from Pillow)"},
    {"--workers", T_INT, O(workers), "decode threads"},
    {"--prefetch", T_INT, O(prefetch), "batches prepared ahead"},
    {"--cache", T_STR, O(cache), "preprocessed cache file"},
    {"--config", T_STR, O(config), "model config for a model from scratch (tiny small seed-b16 b32 ...)"},
    {"--init", T_STR, O(init), "fine-tune from this model.safetensors"},
    {"--epochs", T_INT, O(epochs), "epochs"},
    {"--steps", T_INT, O(steps), "optimizer steps instead of epochs (0 = use --epochs)"},
    {"--minutes", T_DBL, O(minutes), "wall-clock budget of the training loop instead (0 = off; see below)"},
    {"--batch", T_INT, O(batch_size), "pairs per micro-batch"},
    {"--accum", T_INT, O(accum), "micro-batches per optimizer step (negatives stay within a micro-batch)"},
    {"--adam", T_INT, O(adam), "1 = Adam with coupled L2 (the seed), 0 = AdamW (decoupled)"},
    {"--lr", T_DBL, O(lr), "base learning rate"},
    {"--lr-image", T_DBL, O(lr_image), "image tower lr (-1 = --lr)"},
    {"--lr-text", T_DBL, O(lr_text), "text tower lr (-1 = --lr)"},
    {"--lr-proj", T_DBL, O(lr_proj), "projections lr (-1 = --lr)"},
    {"--lr-logit-scale", T_DBL, O(lr_logit_scale), "logit_scale lr (-1 = --lr, 0 = fixed temperature)"},
    {"--wd", T_DBL, O(wd), "weight decay"},
    {"--wd-image", T_DBL, O(wd_image), "image tower weight decay (-1 = --wd)"},
    {"--wd-text", T_DBL, O(wd_text), "text tower weight decay (-1 = --wd)"},
    {"--wd-proj", T_DBL, O(wd_proj), "projections weight decay (-1 = --wd)"},
    {"--decay-all", T_INT, O(decay_all), "1 = decay biases, norms, embeddings, logit_scale too"},
    {"--beta1", T_DBL, O(beta1), "Adam beta1"},
    {"--beta2", T_DBL, O(beta2), "Adam beta2"},
    {"--eps", T_DBL, O(eps), "Adam epsilon"},
    {"--grad-clip", T_DBL, O(grad_clip), "clip gradients to this global L2 norm (0 = off)"},
    {"--schedule", T_STR, O(schedule), "cosine (per step after warm-up), cosine-epoch, constant"},
    {"--warmup", T_INT, O(warmup), "linear warm-up steps"},
    {"--warmup-frac", T_DBL, O(warmup_frac), "warm-up as a fraction of the run instead (0 = use --warmup)"},
    {"--min-lr", T_DBL, O(min_lr), "floor of the cosine schedules"},
    {"--plateau", T_INT, O(plateau), "1 = ReduceLROnPlateau on the best metric"},
    {"--plateau-factor", T_DBL, O(plateau_factor), "lr factor on a plateau"},
    {"--plateau-patience", T_INT, O(plateau_patience), "epochs without improvement before reducing"},
    {"--dropout", T_DBL, O(dropout), "dropout probability in the blocks"},
    {"--freeze", T_STR, O(freeze), "image (LiT: locked image tower) or text"},
    {"--freeze-layers", T_INT, O(freeze_layers), "lock the first N blocks of each tower and the embeddings"},
    {"--seed", T_U64, O(seed), "seed of init, data order, augmentation, dropout"},
    {"--threads", T_INT, O(threads), "threads (0 = all cores; results are bit-exact per thread count)"},
    {"--out", T_STR, O(out_dir), "run folder (checkpoints, metrics.jsonl, config.json, plot.svg)"},
    {"--resume", T_STR, O(resume), "continue a run folder (its `last`) or a ckpt-<step> folder"},
    {"--best-metric", T_STR, O(best_metric), "recall (mean R@1/5/10 both ways) or loss"},
    {"--save-every", T_INT, O(save_every), "also keep every N-th epoch's checkpoint (0 = none)"},
    {"--ckpt-every-steps", T_INT, O(ckpt_every_steps), "also write a checkpoint every N steps (0 = off)"},
    {"--keep-last", T_INT, O(keep_last), "newest checkpoints kept besides best and every-N"},
    {"--log-every", T_INT, O(log_every), "metrics.jsonl line / progress line every N steps"},
    {"--stop-after-steps", T_INT, O(stop_after_steps), "stop as on Ctrl-C after N steps (0 = never)"},
    {"--max-memory-gb", T_DBL, O(max_memory_gb), "memory budget for the guard (0 = MemAvailable)"},
};
#undef O
#define NDEFS (sizeof defs / sizeof defs[0])

static void print_value(FILE *f, const clipc_train_opts *o, const opt_def *d) {
    const char *base = (const char *)o;
    switch (d->type) {
    case T_STR: {
        const char *s = *(const char *const *)(base + d->off);
        fprintf(f, "%s", s ? s : "(none)");
        break;
    }
    case T_INT:
        if (d->off == offsetof(clipc_train_opts, stop_after_steps))
            fprintf(f, "%lld", (long long)*(const int64_t *)(base + d->off));
        else
            fprintf(f, "%d", *(const int *)(base + d->off));
        break;
    case T_DBL: fprintf(f, "%g", *(const double *)(base + d->off)); break;
    case T_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)(base + d->off)); break;
    }
}

static void help(FILE *f) {
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    fprintf(f,
            "usage: clipc train --data FILE --out DIR [--recipe NAME] [OPTIONS]\n"
            "       clipc train --resume DIR\n\n"
            "Contrastive training of a CLIP model (both towers, symmetric loss, logit scale clamped to\n"
            "[0, ln 100]), with evaluation each epoch (validation loss, Recall@1/5/10 both directions),\n"
            "checkpoints DIR/ckpt-<step>/{model,state}.safetensors, pointers DIR/last and DIR/best,\n"
            "DIR/metrics.jsonl, DIR/config.json, DIR/plot.svg.  See docs/train.md.\n\n"
            "  --recipe NAME            settings to start from: %s (default cpu-small);\n"
            "                           later options override them\n",
            clipc_train_recipe_names());
    for (size_t i = 0; i < NDEFS; i++) {
        fprintf(f, "  %-24s %s [", defs[i].name, defs[i].help);
        print_value(f, &o, &defs[i]);
        fprintf(f, "]\n");
    }
    fprintf(f, "\nRecipes:\n"
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
               "reached, 1 on error, 2 on a usage error.\n");
}

static int set_opt(clipc_train_opts *o, const opt_def *d, const char *val) {
    char *base = (char *)o;
    char *end;
    switch (d->type) {
    case T_STR: *(const char **)(base + d->off) = val; return 0;
    case T_INT: {
        long v = strtol(val, &end, 10);
        if (!*val || *end) return cli_usage_error("train", "%s: '%s' is not an integer", d->name, val);
        if (d->off == offsetof(clipc_train_opts, stop_after_steps)) *(int64_t *)(base + d->off) = v;
        else *(int *)(base + d->off) = (int)v;
        return 0;
    }
    case T_DBL: {
        double v = strtod(val, &end);
        if (!*val || *end || isnan(v)) return cli_usage_error("train", "%s: '%s' is not a number", d->name, val);
        *(double *)(base + d->off) = v;
        return 0;
    }
    case T_U64: {
        unsigned long long v = strtoull(val, &end, 10);
        if (!*val || *end) return cli_usage_error("train", "%s: '%s' is not an integer", d->name, val);
        *(uint64_t *)(base + d->off) = v;
        return 0;
    }
    }
    return 0;
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

/* CLIPC_TRAIN_FAULT=<stage>:<step> kills the process (SIGKILL, as kill -9)
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

int cmd_train(int argc, char **argv) {
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--recipe")) {
            if (i + 1 >= argc) return cli_usage_error("train", "--recipe needs a value");
            if (clipc_train_recipe(argv[i + 1], &o)) return cli_usage_error("train", "%s", clipc_last_error());
            i++;
        }
    }
    int epochs_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--recipe")) {
            i++;
            continue;
        }
        const opt_def *d = NULL;
        for (size_t k = 0; k < NDEFS; k++)
            if (!strcmp(argv[i], defs[k].name)) d = &defs[k];
        if (!d) return cli_usage_error("train", "unknown option '%s'", argv[i]);
        if (i + 1 >= argc) return cli_usage_error("train", "%s needs a value", argv[i]);
        if (set_opt(&o, d, argv[++i])) return 2;
        if (d->off == offsetof(clipc_train_opts, epochs)) epochs_given = 1;
    }
    if (o.resume && !epochs_given) o.epochs = 0; /* take it from the checkpoint */
    if (!o.resume && (!o.data || !o.out_dir))
        return cli_usage_error("train", "--data and --out are required (or --resume DIR)");
    progress_state ps = {isatty(2), o.log_every, 0};
    o.progress = on_progress;
    o.warn = cli_warn;
    o.checkpoint_hook = fault_hook;
    o.ud = &ps;
    /* cli_warn ignores its user data, so sharing ud is fine. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    clipc_train_result r;
    clipc_status s = clipc_train_run(&o, &r);
    if (s) return cli_report(s);
    if (r.stopped)
        fprintf(stderr, "clipc: stopped at step %lld; continue with: clipc train --resume %s\n", (long long)r.step,
                o.resume ? o.resume : o.out_dir);
    else
        fprintf(stderr, "clipc: done: %lld steps in %.1f s (training loop %.1f s)\n", (long long)r.step, r.seconds,
                r.train_seconds);
    return got_signal ? 130 : 0;
}
