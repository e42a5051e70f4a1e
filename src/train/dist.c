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
 * ring algorithm.
 *
 * Overlap (--overlap-allreduce 1).  The same buckets, each started with
 * MPI_Iallreduce as soon as every gradient in it is final: the step's last
 * backward runs the text tower first (the flat buffer is sorted by name, so
 * its tensors and logit_scale come before every "visual." one), then
 * dist_overlap_ready(first visual offset) starts the buckets below it while
 * the vision tower's backward runs.  Open MPI (the Debian build has no
 * asynchronous progress thread) advances a non-blocking collective only
 * inside MPI calls made by this thread, so the vision backward calls
 * dist_overlap_progress (MPI_Testall) after each block; between those calls
 * the thread is in OpenMP GEMMs.  What this can hide is the transfer and the
 * wait for a slower rank, not compute: the reduction itself runs on the
 * same cores.  Bits: each bucket is one MPI reduction of the same floats as
 * the blocking path; with 2 ranks every element is one addition a + b,
 * which commutes, so any algorithm gives the blocking path's bits (tested:
 * mpi_overlap_same_bits_as_blocking).  With more ranks, Open MPI's
 * non-blocking component (libnbc) may pick another reduction tree than the
 * blocking one (tuned), so an overlapped run is deterministic for its rank
 * count but may round differently from a blocking one; every rank still
 * gets the same bits.  Every rank starts the buckets in ascending order
 * (finish() starts what ready() did not), so the collectives match even on
 * a rank whose slice of a step was empty.
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
/* ---- the overlapped allreduce */
static struct {
    float *buf;
    size_t n;
    int nb, started, active;
    MPI_Request *req;
} g_ov;


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
    if (g_ov.active) dist_overlap_finish(); /* never leave a request behind */
    free(g_ov.req);
    memset(&g_ov, 0, sizeof g_ov);
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

int dist_overlap_active(void) { return g_ov.active; }

clipc_status dist_overlap_begin(float *buf, size_t n) {
    if (g_size == 1) return CLIPC_OK;
    int nb = (int)((n + DIST_BUCKET_FLOATS - 1) / DIST_BUCKET_FLOATS);
    if (nb > g_ov.nb || !g_ov.req) {
        MPI_Request *r = realloc(g_ov.req, sizeof *r * (size_t)(nb ? nb : 1));
        if (!r) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        g_ov.req = r;
    }
    g_ov.buf = buf, g_ov.n = n, g_ov.nb = nb, g_ov.started = 0, g_ov.active = 1;
    return CLIPC_OK;
}

static clipc_status start_upto(size_t hi) {
    double t0 = clipc_now();
    while (g_ov.started < g_ov.nb) {
        size_t a = (size_t)g_ov.started * DIST_BUCKET_FLOATS;
        int k = (int)(g_ov.n - a < DIST_BUCKET_FLOATS ? g_ov.n - a : DIST_BUCKET_FLOATS);
        if (a + (size_t)k > hi) break;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, g_ov.buf + a, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                &g_ov.req[g_ov.started]);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "gradient allreduce (non-blocking)");
        g_ov.started++;
        g_stats.allreduce_calls++;
    }
    g_stats.allreduce_s += clipc_now() - t0;
    return CLIPC_OK;
}

void dist_overlap_progress(void) {
    if (!g_ov.active || !g_ov.started) return;
    int done = 0;
    double t0 = clipc_now();
    MPI_Testall(g_ov.started, g_ov.req, &done, MPI_STATUSES_IGNORE); /* an error shows again in finish's wait */
    g_stats.allreduce_s += clipc_now() - t0;
}

clipc_status dist_overlap_ready(size_t hi) {
    if (!g_ov.active) return CLIPC_OK;
    clipc_status s = start_upto(hi);
    if (!s) dist_overlap_progress();
    return s;
}

clipc_status dist_overlap_finish(void) {
    if (!g_ov.active) return CLIPC_OK;
    int early = g_ov.started;
    clipc_status s = start_upto(g_ov.n);
    double t0 = clipc_now();
    int rc = MPI_Waitall(g_ov.started, g_ov.req, MPI_STATUSES_IGNORE);
    double w = clipc_now() - t0;
    g_ov.active = 0;
    if (!s && rc != MPI_SUCCESS) s = mpi_fail(rc, "gradient allreduce (wait)");
    g_stats.allreduce_s += w;
    g_stats.overlap_wait_s += w;
    g_stats.overlap_early += early;
    g_stats.overlap_steps++;
    g_stats.allreduce_bytes += (double)g_ov.n * sizeof(float);
    return s;
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
