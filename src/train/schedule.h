/*
 * schedule.h — learning-rate schedules for training: linear warm-up then
 * cosine per optimizer step (open_clip), cosine per epoch down to a floor
 * (torch's CosineAnnealingLR stepped once an epoch, the seed's recipe),
 * constant; and ReduceLROnPlateau as a multiplier on top of any of them.
 */
#ifndef CLIPC_SCHEDULE_H
#define CLIPC_SCHEDULE_H

typedef enum { SCHED_COSINE = 0, SCHED_COSINE_EPOCH = 1, SCHED_CONSTANT = 2 } sched_kind;

typedef struct {
    sched_kind kind;
    double base_lr, min_lr;
    long warmup;        /* steps of linear warm-up (SCHED_COSINE and SCHED_CONSTANT) */
    long total_steps;   /* steps of the whole run (SCHED_COSINE) */
    int epochs;         /* SCHED_COSINE_EPOCH: T_max */
} sched;

/* lr for optimizer step `step` (0-based) taken during epoch `epoch`, in
 * double as PyTorch computes it (Python floats). */
double sched_lr(const sched *s, long step, int epoch);
/* lr at fraction f in [0, 1] of the run (a wall-clock budget: f = elapsed /
 * budget): linear warm-up from 0 over the first warm_frac, then cosine from
 * base_lr to min_lr at f = 1 (constant: base_lr after the warm-up).  The
 * PyTorch peer's formula; cosine-epoch is taken as cosine here, since a
 * timed run has no planned epochs. */
double sched_lr_frac(const sched *s, double f, double warm_frac);
/* "cosine", "cosine-epoch", "constant"; -1 for an unknown name. */
int sched_parse(const char *name);
const char *sched_name(sched_kind k);

/* torch.optim.lr_scheduler.ReduceLROnPlateau (threshold 1e-4 relative,
 * cooldown 0, min_lr 0): after `patience` epochs without improvement the
 * lr is scaled by `factor`.  `mult` (factor^reductions) is what checkpoints
 * store; the lr itself is plateau_lr's, reduced one factor at a time as
 * PyTorch does, so it is PyTorch's to the bit (tests/test_plateau.c).
 * A NaN metric is skipped (PyTorch would count it as a bad epoch). */
typedef struct {
    int enabled, maximize, patience;
    double factor, best, mult;
    int bad_epochs, seen, reductions;
} plateau;

void plateau_init(plateau *p, int enabled, int maximize, double factor, int patience);
/* Feeds one epoch's metric; returns 1 when the lr was reduced. */
int plateau_update(plateau *p, double metric);
/* The state a checkpoint recorded (its multiplier): the reductions made. */
void plateau_restore(plateau *p, int bad_epochs, int seen, double best, double mult);
/* lr after the reductions so far: lr * factor, again and again, each
 * applied only while it lowers the lr by more than 1e-8 (PyTorch's eps). */
double plateau_lr(const plateau *p, double lr);

#endif
