/*
 * options.c — the training options: their defaults, the named recipes, the
 * one table that describes each option (flag, field, type, help, whether a
 * run stores it), the options as JSON (config.json, checkpoints) and back,
 * and the checks a run starts with.
 */
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/options.h"
#include "clipc.h"
#include "clipc_util.h"
#include "train/schedule.h"

void clipc_train_opts_default(clipc_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->train_split = "train";
    o->val_split = "val";
    o->workers = 2;
    o->prefetch = 2;
    o->accum = 1;
    o->lr_image = o->lr_text = o->lr_proj = o->lr_logit_scale = -1;
    o->wd_image = o->wd_text = o->wd_proj = -1;
    o->beta1 = 0.9, o->beta2 = 0.98, o->eps = 1e-6;
    o->schedule = "cosine";
    o->plateau_factor = 0.8, o->plateau_patience = 1;
    o->seed = 42;
    o->best_metric = "recall";
    o->keep_last = 1;
    o->log_every = 10;
    clipc_train_recipe("cpu-small", o);
}

const char *clipc_train_recipe_names(void) { return "seed tutorial tutorial-resnet cpu-small cpu-tiny emoji"; }

clipc_status clipc_train_recipe(const char *name, clipc_train_opts *o) {
    if (!strcmp(name, "seed")) {
        /* The seed model card (seeds/000, notes/seed-code.md): torch.optim.Adam
         * lr 1e-4, weight_decay 1e-4 coupled, on every parameter;
         * CosineAnnealingLR(T_max = epochs, eta_min 1e-6) stepped per epoch;
         * no warm-up, no clipping; batch 64, 50 epochs, dropout 0.1.  The
         * card's code had no logit-scale clamp; we keep OpenAI's clamp (the
         * architecture is OpenAI's). */
        o->config = "seed-b16", o->batch_size = 64, o->epochs = 50;
        o->adam = 1, o->lr = 1e-4, o->wd = 1e-4, o->decay_all = 1;
        o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8;
        o->schedule = "cosine-epoch", o->min_lr = 1e-6, o->warmup = 0;
        o->dropout = 0.1, o->grad_clip = 0, o->plateau = 0;
        o->lr_image = o->lr_text = o->lr_proj = o->lr_logit_scale = -1;
        o->wd_image = o->wd_text = o->wd_proj = -1;
        return CLIPC_OK;
    }
    if (!strcmp(name, "tutorial")) {
        /* moein-shariatnia's tutorial (seeds/002 + its notebook CFG): AdamW,
         * image encoder lr 1e-4, text encoder 1e-5, projection heads 1e-3
         * with weight decay 1e-3 (encoders 0), ReduceLROnPlateau(factor 0.8,
         * patience 1) on the validation loss, batch 32, 4 epochs, fixed
         * temperature 0.07 (so logit_scale is not trained: lr 0), no
         * schedule otherwise.  Its ResNet50/DistilBERT become OpenAI's
         * towers (config b32 shapes would be the nearest; we use "small" so
         * the recipe runs on a CPU: pass --config to change). */
        o->config = "small", o->batch_size = 32, o->epochs = 4;
        o->adam = 0, o->lr = 1e-4, o->lr_image = 1e-4, o->lr_text = 1e-5, o->lr_proj = 1e-3;
        o->lr_logit_scale = 0;
        o->wd = 0, o->wd_image = 0, o->wd_text = 0, o->wd_proj = 1e-3, o->decay_all = 0;
        o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8;
        o->schedule = "constant", o->warmup = 0, o->min_lr = 0;
        o->plateau = 1, o->plateau_factor = 0.8, o->plateau_patience = 1;
        o->best_metric = "loss";
        o->dropout = 0, o->grad_clip = 0;
        return CLIPC_OK;
    }
    if (!strcmp(name, "tutorial-resnet")) {
        /* Seed 002 itself: the "tutorial" optimiser settings on the
         * tutorial's own model (tutorial-rn50: ResNet-50 + DistilBERT +
         * bias-free Linear heads to 256), CLIP's loss at the fixed
         * temperature 0.07, dropout 0.1 in DistilBERT (HF's default) and in
         * an MLP head (--head mlp), as nn.Dropout in the seed.  Pretrained
         * towers: --init-image, --init-text. */
        clipc_train_recipe("tutorial", o);
        o->config = "tutorial-rn50", o->dropout = 0.1, o->loss = "clip", o->temperature = 0;
        o->learn_temperature = 0;
        return CLIPC_OK;
    }
    if (!strcmp(name, "cpu-small") || !strcmp(name, "cpu-tiny")) {
        /* open_clip-style AdamW for small CPU runs: betas (0.9, 0.98), eps
         * 1e-6, wd 0.1 on matrices only, warm-up then per-step cosine. */
        int tiny = !strcmp(name, "cpu-tiny");
        o->config = tiny ? "tiny" : "small";
        o->batch_size = tiny ? 16 : 32, o->epochs = tiny ? 10 : 20;
        o->adam = 0, o->lr = tiny ? 1e-3 : 5e-4, o->wd = 0.1, o->decay_all = 0;
        o->lr_image = o->lr_text = o->lr_proj = o->lr_logit_scale = -1;
        o->wd_image = o->wd_text = o->wd_proj = -1;
        o->beta1 = 0.9, o->beta2 = 0.98, o->eps = 1e-6;
        o->schedule = "cosine", o->warmup = tiny ? 10 : 50, o->min_lr = 0;
        o->grad_clip = 1.0, o->dropout = 0, o->plateau = 0;
        return CLIPC_OK;
    }
    if (!strcmp(name, "emoji")) {
        /* The demo on emoji-mini (32 px icons, ~1,700 training pairs): the
         * "emoji" config, AdamW 1e-3 with 50 warm-up steps and cosine, batch
         * 64, 30 epochs.  Chosen on the Noto validation split: without
         * augmentation the model memorises Twemoji (train loss 0.03, mean
         * recall 10.0 %); random resized crops + flips and wd 0.2 gave 10.8 %
         * at the same cost. */
        clipc_train_recipe("cpu-tiny", o);
        o->config = "emoji", o->batch_size = 64, o->epochs = 30;
        o->lr = 1e-3, o->warmup = 50, o->wd = 0.2, o->augment = 1;
        return CLIPC_OK;
    }
    return clipc_error(CLIPC_ERR_INVALID, "unknown recipe '%s' (known: %s)", name, clipc_train_recipe_names());
}

/* ------------------------------------------------------------- the table */

/* Every training option, once: the CLI's flags and --help, config.json and
 * the options stored in a checkpoint (taken back on --resume) all come from
 * here.  stored = 0: a setting of this process, not of the run. */
#define O(f) offsetof(clipc_train_opts, f)
static const clipc_option train_options[] = {
    {"data", "data", CLIPC_OPT_STR, O(data), 1, "caption file or folder (Karpathy JSON, Flickr8k/30k, CSV/TSV, folder)"},
    {"image-root", "image_root", CLIPC_OPT_STR, O(image_root), 1, "folder the image paths are relative to"},
    {"train-split", "train_split", CLIPC_OPT_STR, O(train_split), 1, "split to train on (\"all\" = every image)"},
    {"val-split", "val_split", CLIPC_OPT_STR, O(val_split), 1, "split evaluated each epoch (\"\" = none)"},
    {"augment", "augment", CLIPC_OPT_INT, O(augment), 1,
     "1 = random resized crop + flip, 2 = the crop without flip, 0 = off"},
    {"shift", "shift", CLIPC_OPT_INT, O(shift), 1, "augmentation: translate by up to N pixels, white fill (0 = off)"},
    {"fast-decode", "fast_decode", CLIPC_OPT_INT, O(fast_decode), 1, "1 = JPEG DCT scaling (departs from Pillow)"},
    {"workers", "workers", CLIPC_OPT_INT, O(workers), 1, "decode threads"},
    {"prefetch", "prefetch", CLIPC_OPT_INT, O(prefetch), 1, "batches prepared ahead"},
    {"cache", "cache", CLIPC_OPT_STR, O(cache), 1, "preprocessed cache file"},
    {"config", "config", CLIPC_OPT_STR, O(config), 1,
     "model config for a model from scratch (tiny small seed-b16 b32 RN50 rn-tiny ...)"},
    {"init", "init", CLIPC_OPT_STR, O(init), 1, "fine-tune from this model.safetensors"},
    {"init-act", "init_act", CLIPC_OPT_STR, O(init_act), 1,
     "quickgelu or gelu: the activation of --init if its file does not record it"},
    {"epochs", "epochs", CLIPC_OPT_INT, O(epochs), 1, "epochs"},
    {"steps", "steps", CLIPC_OPT_INT, O(steps), 1, "optimizer steps instead of epochs (0 = use --epochs)"},
    {"minutes", "minutes", CLIPC_OPT_DOUBLE, O(minutes), 1,
     "wall-clock budget of the training loop instead (0 = off; see below)"},
    {"batch", "batch_size", CLIPC_OPT_INT, O(batch_size), 1, "pairs per micro-batch"},
    {"accum", "accum", CLIPC_OPT_INT, O(accum), 1,
     "micro-batches per optimizer step (negatives stay within a micro-batch)"},
    {"adam", "adam", CLIPC_OPT_INT, O(adam), 1, "1 = Adam with coupled L2 (the seed), 0 = AdamW (decoupled)"},
    {"lr", "lr", CLIPC_OPT_DOUBLE, O(lr), 1, "base learning rate"},
    {"lr-image", "lr_image", CLIPC_OPT_DOUBLE, O(lr_image), 1, "image tower lr (-1 = --lr)"},
    {"lr-text", "lr_text", CLIPC_OPT_DOUBLE, O(lr_text), 1, "text tower lr (-1 = --lr)"},
    {"lr-proj", "lr_proj", CLIPC_OPT_DOUBLE, O(lr_proj), 1, "projections lr (-1 = --lr)"},
    {"lr-logit-scale", "lr_logit_scale", CLIPC_OPT_DOUBLE, O(lr_logit_scale), 1,
     "logit_scale lr (-1 = --lr, 0 = fixed temperature)"},
    {"wd", "wd", CLIPC_OPT_DOUBLE, O(wd), 1, "weight decay"},
    {"wd-image", "wd_image", CLIPC_OPT_DOUBLE, O(wd_image), 1, "image tower weight decay (-1 = --wd)"},
    {"wd-text", "wd_text", CLIPC_OPT_DOUBLE, O(wd_text), 1, "text tower weight decay (-1 = --wd)"},
    {"wd-proj", "wd_proj", CLIPC_OPT_DOUBLE, O(wd_proj), 1, "projections weight decay (-1 = --wd)"},
    {"decay-all", "decay_all", CLIPC_OPT_INT, O(decay_all), 1, "1 = decay biases, norms, embeddings, logit_scale too"},
    {"beta1", "beta1", CLIPC_OPT_DOUBLE, O(beta1), 1, "Adam beta1"},
    {"beta2", "beta2", CLIPC_OPT_DOUBLE, O(beta2), 1, "Adam beta2"},
    {"eps", "eps", CLIPC_OPT_DOUBLE, O(eps), 1, "Adam epsilon"},
    {"grad-clip", "grad_clip", CLIPC_OPT_DOUBLE, O(grad_clip), 1, "clip gradients to this global L2 norm (0 = off)"},
    {"schedule", "schedule", CLIPC_OPT_STR, O(schedule), 1, "cosine (per step after warm-up), cosine-epoch, constant"},
    {"warmup", "warmup", CLIPC_OPT_INT, O(warmup), 1, "linear warm-up steps"},
    {"warmup-frac", "warmup_frac", CLIPC_OPT_DOUBLE, O(warmup_frac), 1,
     "warm-up as a fraction of the run instead (0 = use --warmup)"},
    {"min-lr", "min_lr", CLIPC_OPT_DOUBLE, O(min_lr), 1, "floor of the cosine schedules"},
    {"plateau", "plateau", CLIPC_OPT_INT, O(plateau), 1, "1 = ReduceLROnPlateau on the best metric"},
    {"plateau-factor", "plateau_factor", CLIPC_OPT_DOUBLE, O(plateau_factor), 1, "lr factor on a plateau"},
    {"plateau-patience", "plateau_patience", CLIPC_OPT_INT, O(plateau_patience), 1,
     "epochs without improvement before reducing"},
    {"dropout", "dropout", CLIPC_OPT_DOUBLE, O(dropout), 1, "dropout probability in the blocks"},
    {"freeze", "freeze", CLIPC_OPT_STR, O(freeze), 1, "image (LiT: locked image tower) or text"},
    {"freeze-layers", "freeze_layers", CLIPC_OPT_INT, O(freeze_layers), 1,
     "lock the first N blocks of each tower and the embeddings"},
    {"seed", "seed", CLIPC_OPT_U64, O(seed), 1, "seed of init, data order, augmentation, dropout"},
    {"threads", "threads", CLIPC_OPT_INT, O(threads), 0,
     "threads (0 = all cores; results are bit-exact per thread count)"},
    {"out", "out_dir", CLIPC_OPT_STR, O(out_dir), 0, "run folder (checkpoints, metrics.jsonl, config.json, plot.svg)"},
    {"resume", "resume", CLIPC_OPT_STR, O(resume), 0, "continue a run folder (its `last`) or a ckpt-<step> folder"},
    {"best-metric", "best_metric", CLIPC_OPT_STR, O(best_metric), 1, "recall (mean R@1/5/10 both ways) or loss"},
    {"save-every", "save_every", CLIPC_OPT_INT, O(save_every), 1,
     "also keep every N-th epoch's checkpoint (0 = none)"},
    {"ckpt-every-steps", "ckpt_every_steps", CLIPC_OPT_INT, O(ckpt_every_steps), 1,
     "also write a checkpoint every N steps (0 = off)"},
    {"keep-last", "keep_last", CLIPC_OPT_INT, O(keep_last), 1, "newest checkpoints kept besides best and every-N"},
    {"log-every", "log_every", CLIPC_OPT_INT, O(log_every), 1, "metrics.jsonl line / progress line every N steps"},
    {"stop-after-steps", "stop_after_steps", CLIPC_OPT_INT64, O(stop_after_steps), 0,
     "stop as on Ctrl-C after N steps (0 = never)"},
    {"overlap-allreduce", "overlap_allreduce", CLIPC_OPT_INT, O(overlap_allreduce), 0,
     "mpirun: 1 = overlap the gradient allreduce with the backward (same bits at 2 ranks)"},
    {"max-memory-gb", "max_memory_gb", CLIPC_OPT_DOUBLE, O(max_memory_gb), 0,
     "memory budget for the guard (0 = MemAvailable)"},
    /* ---- the tutorial's model (seed 002) */
    {"head", "head", CLIPC_OPT_STR, O(head), 1,
     "tutorial model from scratch: linear (seed 002's bias-free Linear) or mlp (the notebook's head)"},
    {"vocab", "vocab", CLIPC_OPT_STR, O(vocab), 1, "WordPiece vocab.txt of a DistilBERT text tower"},
    {"init-image", "init_image", CLIPC_OPT_STR, O(init_image), 1,
     "torchvision/timm resnet50 weights (.pt/.pth/safetensors) for the tutorial model's image tower"},
    {"init-text", "init_text", CLIPC_OPT_STR, O(init_text), 1,
     "Hugging Face DistilBERT folder (model.safetensors + vocab.txt) or file for its text tower"},
    {"loss", "loss", CLIPC_OPT_STR, O(loss), 1,
     "clip (CE against the diagonal, seed 002) or soft (the notebook's soft targets; known to collapse)"},
    {"learn-temperature", "learn_temperature", CLIPC_OPT_INT, O(learn_temperature), 1,
     "1 = train the temperature (logit_scale) at --lr-proj; the tutorial fixes it"},
    {"temperature", "temperature", CLIPC_OPT_DOUBLE, O(temperature), 1,
     "start temperature (0 = the loss's: 0.07, soft 1.0)"},
};
#undef O

const clipc_option *clipc_train_options(int *n) {
    *n = (int)(sizeof train_options / sizeof train_options[0]);
    return train_options;
}

/* ------------------------------------------------------------- as JSON */

char *train_opts_to_json(const clipc_train_opts *o, const clipc_config *cfg) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    const char *base = (const char *)o;
    for (size_t i = 0; i < sizeof train_options / sizeof train_options[0]; i++) {
        const clipc_option *d = &train_options[i];
        if (!d->stored) continue;
        const void *p = base + d->offset;
        switch (d->type) {
        case CLIPC_OPT_STR: {
            const char *v = *(const char *const *)p;
            cJSON_AddItemToObject(j, d->field, v ? cJSON_CreateString(v) : cJSON_CreateNull());
            break;
        }
        case CLIPC_OPT_INT: cJSON_AddNumberToObject(j, d->field, *(const int *)p); break;
        case CLIPC_OPT_INT64: cJSON_AddNumberToObject(j, d->field, (double)*(const int64_t *)p); break;
        case CLIPC_OPT_DOUBLE: cJSON_AddNumberToObject(j, d->field, *(const double *)p); break;
        case CLIPC_OPT_U64: {
            char b[32];
            snprintf(b, sizeof b, "%llu", (unsigned long long)*(const uint64_t *)p);
            cJSON_AddStringToObject(j, d->field, b);
            break;
        }
        }
    }
    if (cfg) {
        char *cj = clipc_config_json(cfg);
        cJSON *c = cj ? cJSON_Parse(cj) : NULL;
        free(cj);
        if (c) cJSON_AddItemToObject(j, "model_config", c);
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

/* p as an absolute path (malloc'ed): its realpath, or for a file yet to be
 * made (a cache) its folder's realpath and its name; NULL when neither
 * resolves (then p is stored as given). */
static char *abs_path(const char *p) {
    char *r = realpath(p, NULL);
    if (r || p[0] == '/') return r;
    const char *sl = strrchr(p, '/');
    char *dir = sl ? strndup(p, (size_t)(sl - p) + 1) : NULL;
    char *rd = realpath(dir ? dir : ".", NULL);
    free(dir);
    if (!rd) return NULL;
    const char *name = sl ? sl + 1 : p;
    size_t n = strlen(rd) + strlen(name) + 2;
    r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", rd, name);
    free(rd);
    return r;
}

char *train_opts_to_json_abs(const clipc_train_opts *o, const clipc_config *cfg) {
    clipc_train_opts a = *o;
    const char **paths[7] = {&a.data, &a.image_root, &a.cache, &a.init, &a.vocab, &a.init_image, &a.init_text};
    char *abs[7] = {NULL};
    for (int i = 0; i < 7; i++)
        if (*paths[i] && **paths[i] && (abs[i] = abs_path(*paths[i]))) *paths[i] = abs[i];
    char *s = train_opts_to_json(&a, cfg);
    for (int i = 0; i < 7; i++) free(abs[i]);
    return s;
}

clipc_status train_opts_from_json(const char *json, const char *where, clipc_train_opts *o, cJSON **keep) {
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: the stored training options are not a JSON object", where);
    }
    char *base = (char *)o;
    for (size_t i = 0; i < sizeof train_options / sizeof train_options[0]; i++) {
        const clipc_option *d = &train_options[i];
        cJSON *v = d->stored ? cJSON_GetObjectItemCaseSensitive(j, d->field) : NULL;
        if (!v) continue;
        void *p = base + d->offset;
        switch (d->type) {
        case CLIPC_OPT_STR: *(const char **)p = cJSON_IsString(v) ? v->valuestring : NULL; break;
        case CLIPC_OPT_INT:
        case CLIPC_OPT_INT64: {
            if (!cJSON_IsNumber(v)) break;
            /* A stored file can say anything: converting a double outside
             * the type's range to an integer is undefined (found by
             * fuzz_checkpoint), so such a value is an error. */
            double x = v->valuedouble, lim = d->type == CLIPC_OPT_INT ? 2147483647.0 : 9.2e18;
            if (!(x >= -lim && x <= lim) || x != floor(x)) {
                cJSON_Delete(j);
                return clipc_error(CLIPC_ERR_FORMAT, "%s: stored option %s = %g is not an integer in range", where,
                                   d->field, x);
            }
            if (d->type == CLIPC_OPT_INT) *(int *)p = (int)x;
            else *(int64_t *)p = (int64_t)x;
            break;
        }
        case CLIPC_OPT_DOUBLE:
            if (cJSON_IsNumber(v)) *(double *)p = v->valuedouble;
            break;
        case CLIPC_OPT_U64:
            if (cJSON_IsString(v)) *(uint64_t *)p = strtoull(v->valuestring, NULL, 10);
            break;
        }
    }
    *keep = j;
    return CLIPC_OK;
}

/* ------------------------------------------------------------ checking */

clipc_status train_opts_check(const clipc_train_opts *o) {
    if (!o->out_dir || !*o->out_dir) return clipc_error(CLIPC_ERR_INVALID, "train: an output folder is required");
    if (!o->data || !*o->data) return clipc_error(CLIPC_ERR_INVALID, "train: a data file or folder is required");
    if (o->epochs < 1 && o->steps <= 0 && !(o->minutes > 0))
        return clipc_error(CLIPC_ERR_INVALID, "train: epochs %d must be at least 1", o->epochs);
    if (o->steps < 0 || o->minutes < 0 || !(o->warmup_frac >= 0 && o->warmup_frac < 1) || o->shift < 0)
        return clipc_error(CLIPC_ERR_INVALID, "train: steps, minutes and shift must be >= 0, warmup-frac in [0, 1)");
    if (o->steps > 0 && o->minutes > 0)
        return clipc_error(CLIPC_ERR_INVALID, "train: give --steps or --minutes, not both");
    if (o->augment < 0 || o->augment > 2)
        return clipc_error(CLIPC_ERR_INVALID, "train: augment %d: expected 0, 1 (crop + flip) or 2 (crop)", o->augment);
    if (o->batch_size < 2)
        return clipc_error(CLIPC_ERR_INVALID, "train: batch size %d: contrastive training needs at least 2",
                           o->batch_size);
    if (o->accum < 1) return clipc_error(CLIPC_ERR_INVALID, "train: accum %d must be at least 1", o->accum);
    if (!(o->lr >= 0) || !(o->wd >= 0)) return clipc_error(CLIPC_ERR_INVALID, "train: lr and wd must be >= 0");
    if (sched_parse(o->schedule ? o->schedule : "") < 0)
        return clipc_error(CLIPC_ERR_INVALID, "train: unknown schedule '%s' (cosine, cosine-epoch, constant)",
                           o->schedule ? o->schedule : "");
    if (o->freeze && *o->freeze && strcmp(o->freeze, "image") && strcmp(o->freeze, "text"))
        return clipc_error(CLIPC_ERR_INVALID, "train: --freeze '%s': expected image or text", o->freeze);
    if (o->best_metric && strcmp(o->best_metric, "recall") && strcmp(o->best_metric, "loss"))
        return clipc_error(CLIPC_ERR_INVALID, "train: best metric '%s': expected recall or loss", o->best_metric);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return clipc_error(CLIPC_ERR_INVALID, "train: beta1 %g and beta2 %g must be in [0, 1)", o->beta1, o->beta2);
    if (!(o->eps > 0 && o->eps < 1)) return clipc_error(CLIPC_ERR_INVALID, "train: eps %g must be in (0, 1)", o->eps);
    if (!(o->grad_clip >= 0 && o->grad_clip < INFINITY))
        return clipc_error(CLIPC_ERR_INVALID, "train: grad-clip %g must be >= 0 (0 = off)", o->grad_clip);
    if (!(o->min_lr >= 0 && o->min_lr <= o->lr))
        return clipc_error(CLIPC_ERR_INVALID, "train: min-lr %g must be in [0, lr = %g]", o->min_lr, o->lr);
    if (!(o->lr < INFINITY) || !(o->wd < INFINITY))
        return clipc_error(CLIPC_ERR_INVALID, "train: lr and wd must be finite");
    if (o->warmup < 0 || o->save_every < 0 || o->ckpt_every_steps < 0 || o->freeze_layers < 0 ||
        o->stop_after_steps < 0 || o->plateau_patience < 0)
        return clipc_error(CLIPC_ERR_INVALID, "train: warmup, save-every, ckpt-every-steps, freeze-layers, "
                           "stop-after-steps and plateau-patience must be >= 0");
    if (o->overlap_allreduce != 0 && o->overlap_allreduce != 1)
        return clipc_error(CLIPC_ERR_INVALID, "train: overlap-allreduce %d must be 0 or 1", o->overlap_allreduce);
    if (o->keep_last < 1) return clipc_error(CLIPC_ERR_INVALID, "train: keep-last %d must be at least 1", o->keep_last);
    if (o->log_every < 1) return clipc_error(CLIPC_ERR_INVALID, "train: log-every %d must be at least 1", o->log_every);
    if (o->threads < 0 || o->threads > 1024)
        return clipc_error(CLIPC_ERR_INVALID, "train: threads %d must be in [0, 1024] (0 = all cores)", o->threads);
    if (o->workers < 0 || o->workers > 256 || o->prefetch < 0 || o->prefetch > 64)
        return clipc_error(CLIPC_ERR_INVALID, "train: workers %d must be in [0, 256], prefetch %d in [0, 64]",
                           o->workers, o->prefetch);
    if (!(o->max_memory_gb >= 0 && o->max_memory_gb < INFINITY))
        return clipc_error(CLIPC_ERR_INVALID, "train: max-memory-gb %g must be >= 0 (0 = MemAvailable)",
                           o->max_memory_gb);
    if (o->plateau && !(o->plateau_factor > 0 && o->plateau_factor <= 1))
        return clipc_error(CLIPC_ERR_INVALID, "train: plateau-factor %g must be in (0, 1]", o->plateau_factor);
    if (o->head && *o->head && strcmp(o->head, "linear") && strcmp(o->head, "mlp"))
        return clipc_error(CLIPC_ERR_INVALID, "train: --head '%s': expected linear or mlp", o->head);
    if (o->loss && *o->loss && strcmp(o->loss, "clip") && strcmp(o->loss, "soft"))
        return clipc_error(CLIPC_ERR_INVALID, "train: --loss '%s': expected clip or soft", o->loss);
    if (!(o->temperature >= 0 && o->temperature < INFINITY))
        return clipc_error(CLIPC_ERR_INVALID, "train: temperature %g must be > 0 (0 = the loss's default)",
                           o->temperature);
    if (!(o->dropout >= 0 && o->dropout < 1))
        return clipc_error(CLIPC_ERR_INVALID, "train: dropout %g must be in [0, 1)", o->dropout);
    return CLIPC_OK;
}

