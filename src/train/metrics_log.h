/*
 * metrics_log.h — metrics.jsonl of a training run (metrics_log.c): one JSON
 * object a line, "step" every --log-every steps, "epoch" after each epoch's
 * evaluation, "end" for a step- or time-limited run; and the per-epoch
 * losses and recall the plot is drawn from.
 */
#ifndef CLIPC_TRAIN_METRICS_LOG_H
#define CLIPC_TRAIN_METRICS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "train/validate.h"

typedef struct {
    char *buf;
    size_t len, cap;
    double *train_loss, *val_loss, *recall; /* per epoch */
    int n_ep, cap_ep;
} metrics_log;

/* Appends one line (without its newline); -1 when out of memory. */
int metrics_log_append(metrics_log *ml, const char *line);
/* Records one epoch's figures for the plot; -1 when out of memory. */
int metrics_log_add_epoch(metrics_log *ml, double tl, double vl, double rc);
/* The "step" line. */
void metrics_log_step(metrics_log *ml, int64_t step, int64_t epoch, double loss, double lr, double grad_norm,
                      double pairs_per_s);
/* The "epoch" line (epoch counted from 1; NaN figures become null), and the
 * epoch recorded for the plot. */
void metrics_log_epoch(metrics_log *ml, int64_t epoch, int64_t step, double train_loss, const val_result *vr,
                       double lr_mult, int bad_images, double seconds);
/* The "end" record, which lets `--steps N` replay a timed run. */
void metrics_log_end(metrics_log *ml, int64_t step, int64_t epoch, double minutes, double train_seconds);
/* On resume: keep the lines of metrics.jsonl up to the checkpoint's step
 * (a killed run may have logged steps the resumed run will redo). */
void metrics_log_reload(metrics_log *ml, const char *path, int64_t upto);
void metrics_log_free(metrics_log *ml);

#endif
