/*
 * dist.h — data-parallel training over MPI (dist.c): who this process is
 * and the few collectives a training step needs.  When the process was not
 * started by mpirun there is one rank and every call is a local no-op (or a
 * copy), so the single-process path never touches MPI.
 */
#ifndef CLIPC_TRAIN_DIST_H
#define CLIPC_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

int dist_rank(void);
int dist_size(void);
/* Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE; 1 without mpirun). */
int dist_local_size(void);
/* Sum of buf over all ranks, in place on every rank, in buckets of
 * DIST_BUCKET_FLOATS (see dist.c for why buckets and what is overlapped). */
#define DIST_BUCKET_FLOATS (1u << 20)
clipc_status dist_allreduce_sum(float *buf, size_t n);
/* Sum of n doubles over all ranks, in place, the same bits on every rank:
 * the per-channel sums of data-parallel BatchNorm (nn/batchnorm.h's
 * bn_sync; a few thousand values per call, one call). */
clipc_status dist_allreduce_sum_f64(double *buf, size_t n);
/* The same sum started bucket by bucket while the backward pass is still
 * running (see dist.c: "Overlap"): begin names the buffer; ready(hi) says
 * that buf[0..hi) is final and starts, in ascending order, every bucket not
 * yet started that lies inside it (then gives MPI a chance to progress);
 * progress() only does the latter (called between blocks of the backward);
 * finish() starts the rest and waits for all.  The buckets are those of
 * dist_allreduce_sum and every rank starts them in the same order whatever
 * its backward did, so the collectives match.  One process: no-ops. */
clipc_status dist_overlap_begin(float *buf, size_t n);
clipc_status dist_overlap_ready(size_t hi);
void dist_overlap_progress(void);
clipc_status dist_overlap_finish(void);
int dist_overlap_active(void);
/* Element-wise max of n int64 values over all ranks, in place. */
clipc_status dist_allreduce_max_i64(int64_t *v, int n);
/* Every rank's `v` into all[0..size-1]. */
clipc_status dist_allgather_int(int v, int *all);
/* Rows of `row` floats: rank r contributes counts[r] rows (known to all
 * ranks, e.g. from dist_allgather_int); out receives them in rank order. */
clipc_status dist_allgather_rows(const float *mine, const int *counts, int row, float *out);
/* bytes from rank `root` to every rank. */
clipc_status dist_bcast(void *buf, size_t bytes, int root);

/* Time (seconds) and payload bytes of this rank's collectives since start:
 * the communication figures of docs/distributed.md. */
typedef struct {
    double allreduce_s, allgather_s;
    double allreduce_bytes, allgather_bytes;
    int64_t allreduce_calls, allgather_calls;
    /* overlapped steps: buckets started before finish(), and the seconds
     * finish() waited (the part of the allreduce the backward did not hide) */
    int64_t overlap_early, overlap_steps;
    double overlap_wait_s;
} dist_stats;
void dist_get_stats(dist_stats *s);

#endif
