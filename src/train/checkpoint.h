/*
 * checkpoint.h — training checkpoints: a folder ckpt-<step>/ holding
 * model.safetensors (OpenAI key names, loadable by any CLIP loader) and
 * state.safetensors (Adam moments, run counters, loader position, options),
 * written under ckpt-<step>.tmp, fsynced, renamed into place, then named by
 * the `last` / `best` pointer files (atomic replace).
 */
#ifndef CLIPC_CHECKPOINT_H
#define CLIPC_CHECKPOINT_H

#include "clipc.h"
#include "model/model.h"
#include "train/optim.h"

#define RUN_I64 12
#define RUN_F64 8

/* Everything besides weights and Adam moments that a resumed run needs to
 * continue bit-exactly.  Stored as raw I64 / F64 tensors, so doubles come
 * back with every bit. */
typedef struct {
    int64_t step, epoch, opt_step, total_steps;
    int64_t plateau_bad, plateau_seen, best_seen, best_step;
    int64_t epoch_loss_n, bad_images, epoch_step0, reserved;
    double best, plateau_best, plateau_mult, epoch_loss_sum;
    double reserved_f[4];
    uint64_t loader[8];
} run_state;

typedef void (*ckpt_hook)(const char *stage, int64_t step, void *ud);

/* Writes out_dir/ckpt-<step>/ (does nothing if it already exists), then the
 * `last` pointer; `keep` = 1 also marks it to survive pruning, `best` = 1
 * points `best` at it too.  options_json / config_json go into metadata. */
clipc_status ckpt_save(const char *out_dir, const clipc_model *m, const optimizer *o, const run_state *rs,
                       const char *options_json, int keep, int best, ckpt_hook hook, void *ud);
/* A run folder (follows its `last`) or a checkpoint folder -> the
 * checkpoint folder path (malloc'ed). */
clipc_status ckpt_resolve(const char *path, char **ckpt_dir);
/* Reads state.safetensors of a checkpoint folder: run state, Adam moments
 * (o->m, o->v of o->n floats; may be NULL to skip) and the options JSON
 * (malloc'ed; may be NULL). */
clipc_status ckpt_load_state(const char *ckpt_dir, run_state *rs, optimizer *o, char **options_json);
/* Deletes checkpoints other than `last`, `best`, those marked keep and the
 * keep_last newest; removes stale *.tmp folders. */
clipc_status ckpt_prune(const char *out_dir, int keep_last);
/* Step of the checkpoint a pointer file names, -1 if none. */
int64_t ckpt_pointer_step(const char *out_dir, const char *pointer);

#endif
