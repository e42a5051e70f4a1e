/*
 * tutorial.h — what a training run does differently for the tutorial's
 * model (seed 002; tutorial.c), kept apart from run.c.
 */
#ifndef CLIPC_TRAIN_TUTORIAL_H
#define CLIPC_TRAIN_TUTORIAL_H

#include "clipc.h"
#include "train/step.h"

/* A new model for a run without a checkpoint: a tutorial config (from
 * scratch or from --init-image/--init-text/--vocab, with --head), or
 * --init of a tutorial model (+ --vocab).  *handled = 0: not a tutorial
 * run, the caller does as before. */
clipc_status tutorial_load_model(const clipc_train_opts *o, clipc_model **m, int *handled);
/* A tutorial model's start temperature for a run without a checkpoint:
 * --temperature, or the loss's (soft: 1.0; clip: as the model has it). */
void tutorial_start_temperature(const clipc_train_opts *o, clipc_model *m);
/* The loss and the temperature's learning rate of a run (after trainer_init). */
clipc_status tutorial_setup_trainer(const clipc_train_opts *o, trainer *t);
/* --learn-temperature: logit_scale's lr when the recipe fixes it (0). */
double tutorial_logit_scale_lr(const clipc_train_opts *o);

#endif
