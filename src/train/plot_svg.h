/*
 * plot_svg.h — the training curves as an SVG file: loss (train, validation)
 * and mean Recall over epochs.
 */
#ifndef CLIPC_PLOT_SVG_H
#define CLIPC_PLOT_SVG_H

#include "clipc.h"

/* n epochs; NaN values are left out of their line.  Written atomically. */
clipc_status plot_svg_write(const char *path, const double *train_loss, const double *val_loss,
                            const double *recall, int n, double chance);

#endif
