/*
 * parallel.h — when a loop is worth OpenMP threads.
 */
#ifndef CLIPC_BASE_PARALLEL_H
#define CLIPC_BASE_PARALLEL_H

/* Parallel regions below this many elements run on one thread: for the
 * small configs the fork/join would cost more than the work. */
#define PAR_MIN 32768

#endif
