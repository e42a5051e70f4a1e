/*
 * memory.h — how much memory training needs, and the check a run starts
 * with (memory.c): a batch that does not fit is refused up front, with the
 * largest batch that would, rather than failing (or swapping) mid-run.
 */
#ifndef CLIPC_TRAIN_MEMORY_H
#define CLIPC_TRAIN_MEMORY_H

#include <stddef.h>

#include "clipc.h"

/* Bytes training needs for a config and batch (activations, parameters,
 * gradients, Adam moments, loader buffers). */
size_t train_memory_bytes(const clipc_config *cfg, int B, int prefetch);
/* CLIPC_OK when the run's batch fits in --max-memory-gb (or, when 0, the
 * memory available now); otherwise CLIPC_ERR_NOMEM naming a batch that fits. */
clipc_status train_memory_guard(const clipc_config *cfg, const clipc_train_opts *o);

#endif
