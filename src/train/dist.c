/*
 * dist.c — data-parallel training over MPI (Open MPI), see dist.h and
 * docs/distributed.md.
 *
 * When to initialise MPI.  Only when the process was started by Open MPI's
 * mpirun, which sets OMPI_COMM_WORLD_SIZE.  A plain `clipc train` then never
 * calls MPI_Init: Open MPI's singleton init costs about 0.3 s on this
 * machine (measured: an MPI hello world run directly), and a process that
 * has initialised MPI must finalise it before exiting or mpirun-less runs
 * print warnings.  Without mpirun there is one rank and every collective
 * below is a copy or nothing.
 *
 * Linking.  The library links libmpi directly (pkg-config ompi-c): Open MPI
 * is a Debian package like every other dependency, the symbols are resolved
 * once, and a dlopen seam would need its own copy of MPI's types and
 * constants, which Open MPI's ABI does not promise to keep.  The cost is a
 * shared library loaded by every clipc program even when it does not train
 * in parallel; it is not initialised unless mpirun started the process.
 *
 * Threads.  Only the thread that calls clipc_dist_init makes MPI calls (the
 * loader's decode threads and OpenMP teams never do): MPI_THREAD_FUNNELED.
 *
 * Gradient allreduce.  A sum over ranks in place (MPI_IN_PLACE), in buckets
 * of DIST_BUCKET_FLOATS (4 MiB): the transport pipelines one bucket while
 * the next is being reduced, no second gradient-sized buffer is needed, and
 * each call stays in the range where Open MPI's tuned component picks its
 * ring algorithm.  The buckets are not overlapped with the backward pass:
 * Open MPI (without an async progress thread, the Debian build) advances a
 * non-blocking collective only inside MPI calls made by this thread, and
 * this thread is inside OpenMP-parallel GEMMs for the whole backward, so an
 * MPI_Iallreduce started after the vision tower's backward would progress
 * only at its MPI_Wait; on a machine whose cores are all busy computing
 * (here, 2 cores for 2 ranks) there is nothing to overlap with anyway.
 * Every rank gets the same bits: a ring allreduce computes each element on
 * one rank and passes the result on, and recursive doubling adds the same
 * two partial sums on both ranks of a pair (IEEE addition commutes).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

static int g_rank = 0, g_size = 1, g_inited = 0;
static dist_stats g_stats;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
int dist_local_size(void) {
    const char *e = g_size > 1 ? getenv("OMPI_COMM_WORLD_LOCAL_SIZE") : NULL;
    int n = e ? atoi(e) : 1;
    return n >= 1 && n <= g_size ? n : 1;
}
int clipc_dist_rank(void) { return g_rank; }
int clipc_dist_size(void) { return g_size; }

static clipc_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return clipc_error(CLIPC_ERR_IO, "mpi: %s failed on rank %d: %s", what, g_rank, msg);
}

clipc_status clipc_dist_init(int *argc, char ***argv) {
    if (g_inited || !getenv("OMPI_COMM_WORLD_SIZE")) return CLIPC_OK;
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return clipc_error(CLIPC_ERR_IO, "mpi: MPI_Init_thread failed (%d)", rc);
    g_inited = 1;
    /* Errors come back as codes (reported by the caller, who then aborts
     * every rank) instead of MPI's default of aborting silently. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return CLIPC_OK;
}

void clipc_dist_finalize(void) {
    if (!g_inited) return;
    MPI_Finalize();
    g_inited = 0;
    g_rank = 0, g_size = 1;
}

void clipc_dist_abort(int code) {
    if (g_inited && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code); /* ends every rank; does not return */
}

clipc_status dist_allreduce_sum(float *buf, size_t n) {
    if (g_size == 1) return CLIPC_OK;
    double t0 = clipc_now();
    for (size_t a = 0; a < n; a += DIST_BUCKET_FLOATS) {
        int k = (int)(n - a < DIST_BUCKET_FLOATS ? n - a : DIST_BUCKET_FLOATS);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + a, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "gradient allreduce");
        g_stats.allreduce_calls++;
    }
    g_stats.allreduce_s += clipc_now() - t0;
    g_stats.allreduce_bytes += (double)n * sizeof(float);
    return CLIPC_OK;
}

clipc_status dist_allreduce_sum_f64(double *buf, size_t n) {
    if (g_size == 1) return CLIPC_OK;
    if (n > (size_t)INT32_MAX) return clipc_error(CLIPC_ERR_INVALID, "mpi: allreduce of %zu doubles", n);
    /* Not in dist_stats: those are the gradient allreduce's figures. */
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CLIPC_OK : mpi_fail(rc, "BatchNorm statistics allreduce");
}

clipc_status dist_allreduce_max_i64(int64_t *v, int n) {
    if (g_size == 1) return CLIPC_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CLIPC_OK : mpi_fail(rc, "allreduce of the run's flags");
}

clipc_status dist_allgather_int(int v, int *all) {
    if (g_size == 1) {
        all[0] = v;
        return CLIPC_OK;
    }
    int rc = MPI_Allgather(&v, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CLIPC_OK : mpi_fail(rc, "allgather of batch sizes");
}

clipc_status dist_allgather_rows(const float *mine, const int *counts, int row, float *out) {
    if (g_size == 1) {
        if (out != mine) memcpy(out, mine, (size_t)counts[0] * row * sizeof(float));
        return CLIPC_OK;
    }
    int *cnt = malloc(2 * (size_t)g_size * sizeof *cnt);
    if (!cnt) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    int *disp = cnt + g_size, total = 0;
    for (int r = 0; r < g_size; r++) {
        cnt[r] = counts[r] * row;
        disp[r] = total;
        total += cnt[r];
    }
    double t0 = clipc_now();
    int rc = MPI_Allgatherv(mine, cnt[g_rank], MPI_FLOAT, out, cnt, disp, MPI_FLOAT, MPI_COMM_WORLD);
    free(cnt);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "feature allgather");
    g_stats.allgather_s += clipc_now() - t0;
    g_stats.allgather_bytes += (double)total * sizeof(float);
    g_stats.allgather_calls++;
    return CLIPC_OK;
}

clipc_status dist_bcast(void *buf, size_t bytes, int root) {
    if (g_size == 1) return CLIPC_OK;
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CLIPC_OK : mpi_fail(rc, "broadcast");
}

void dist_get_stats(dist_stats *s) { *s = g_stats; }
