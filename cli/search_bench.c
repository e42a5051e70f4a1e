/*
 * search_bench.c — `clipc search --bench N --db F`: the search benchmark.
 * Writes N synthetic unit vectors to F.vec (streamed in blocks: never held
 * in memory), clustered like real embeddings — C centres drawn uniformly
 * on the sphere, each vector a centre plus Gaussian noise of norm ~sigma,
 * normalised (isotropic noise alone would make every vector equidistant and
 * ANN recall meaningless) — and Q queries from the same distribution.  Row
 * i and query j are drawn from their own seeded streams, so the data do not
 * depend on the block size or thread count.  Then times, per query: the
 * f32 scan (sgemv: also the ground truth), the int8 scan with f32 re-rank,
 * and FAISS indexes (build time, file size, latency, recall@10 vs f32).
 * Prints one JSON object.  A benchmark command, never a timed test.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clipc.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "cli.h"

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *x) { /* (0, 1) */
    return ((double)(mix(*x += 0x9e3779b97f4a7c15ULL) >> 11) + 0.5) * 0x1.0p-53;
}

static void gaussians(uint64_t *x, float *out, int n) {
    for (int j = 0; j < n; j += 2) {
        double r = sqrt(-2.0 * log(uniform(x))), t = 6.283185307179586 * uniform(x);
        out[j] = (float)(r * cos(t));
        if (j + 1 < n) out[j + 1] = (float)(r * sin(t));
    }
}

/* Vector `index` of stream `stream`: centre (of C, on the sphere) + noise. */
static void draw(const float *centres, int C, int dim, double sigma, uint64_t seed, uint64_t stream, int64_t index,
                 float *out) {
    uint64_t x = mix(seed ^ mix(stream * 0x100000001b3ULL + (uint64_t)index));
    int c = (int)(uniform(&x) * C);
    gaussians(&x, out, dim);
    float g = (float)(sigma / sqrt((double)dim));
    for (int j = 0; j < dim; j++) out[j] = centres[(size_t)c * dim + j] + g * out[j];
    clipc_l2_normalize(out, 1, dim);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and p90 of n times (sorted in place), in ms. */
static void stats_ms(double *t, int n, double *med, double *p90) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    *med = 1e3 * (n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]));
    int i = (int)ceil(0.9 * n) - 1;
    *p90 = 1e3 * t[i < 0 ? 0 : i];
}

static double file_mb(const char *p) {
    struct stat st;
    return stat(p, &st) ? 0 : (double)st.st_size / (1 << 20);
}

/* CPU seconds used by the process (all threads): on a shared machine the
 * wall time of a query mostly measures the other jobs; CPU time per query
 * is what it costs when the cores are ours. */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double last_cpu_ms; /* of the last time_mode: CPU ms per query */

/* Times Q queries in mode; fills rows (Q x 10) and the median/p90. */
static int bench_rerank; /* --rerank K of the ANN runs (0: the default) */

static clipc_status time_mode(clipc_vecfile *v, const float *qs, int Q, int dim, clipc_search_mode mode, int effort,
                              int64_t *rows, double *med, double *p90) {
    double c0 = cpu_s();
    double *t = malloc(sizeof(double) * (size_t)Q);
    float sc[10];
    int got;
    clipc_search_opts o = {mode, 0, 0, effort, bench_rerank};
    clipc_status s = t ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < Q && !s; i++) {
        double a = clipc_now();
        s = clipc_vecfile_search(v, qs + (size_t)i * dim, 10, &o, rows + (size_t)i * 10, sc, &got);
        t[i] = clipc_now() - a;
        for (int j = got; j < 10; j++) rows[(size_t)i * 10 + j] = -1;
    }
    if (!s) stats_ms(t, Q, med, p90);
    last_cpu_ms = 1e3 * (cpu_s() - c0) / Q;
    free(t);
    return s;
}

static double recall10(const int64_t *truth, const int64_t *got, int Q) {
    long hit = 0, all = 0;
    for (int i = 0; i < Q; i++)
        for (int a = 0; a < 10; a++) {
            if (truth[i * 10 + a] < 0) continue;
            all++;
            for (int b = 0; b < 10; b++)
                if (got[i * 10 + b] == truth[i * 10 + a]) {
                    hit++;
                    break;
                }
        }
    return all ? (double)hit / all : 1.0;
}

static clipc_status generate(const char *vp, long n, int dim, const float *centres, int C, double sigma,
                             uint64_t seed) {
    clipc_vecfile_writer *w;
    clipc_status s = clipc_vecfile_create(vp, n, dim, &w);
    if (s) return s;
    const long B = 8192;
    float *blk = malloc(sizeof(float) * (size_t)B * dim);
    if (!blk) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    for (long r0 = 0; !s && r0 < n; r0 += B) {
        long m = n - r0 < B ? n - r0 : B;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < m; i++) draw(centres, C, dim, sigma, seed, 1, r0 + i, blk + (size_t)i * dim);
        s = clipc_vecfile_append(w, blk, m);
    }
    free(blk);
    if (s) {
        clipc_vecfile_abort(w);
        return s;
    }
    return clipc_vecfile_finish(w);
}

int search_bench(const char *db, long n, int dim, int C, int Q, double sigma, const char *kinds, int effort,
                 int rerank, uint64_t seed) {
    bench_rerank = rerank;
    size_t len = strlen(db) + 8;
    char *vp = malloc(len), *cp = malloc(len), *ap = malloc(len);
    float *centres = malloc(sizeof(float) * (size_t)C * dim), *qs = malloc(sizeof(float) * (size_t)Q * dim);
    int64_t *truth = malloc(sizeof(int64_t) * (size_t)Q * 10), *rows = malloc(sizeof(int64_t) * (size_t)Q * 10);
    if (!vp || !cp || !ap || !centres || !qs || !truth || !rows)
        return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    snprintf(vp, len, "%s.vec", db);
    snprintf(cp, len, "%s.vec8", db);
    snprintf(ap, len, "%s.ann", db);
    uint64_t x = mix(seed);
    for (int c = 0; c < C; c++) {
        gaussians(&x, centres + (size_t)c * dim, dim);
        clipc_l2_normalize(centres + (size_t)c * dim, 1, dim);
    }
    for (int i = 0; i < Q; i++) draw(centres, C, dim, sigma, seed, 2, i, qs + (size_t)i * dim);
    double t0 = clipc_now(), gen_s, c_s, med, p90;
    clipc_vecfile *v = NULL;
    clipc_status s = generate(vp, n, dim, centres, C, sigma, seed);
    gen_s = clipc_now() - t0;
    if (!s) s = clipc_vecfile_open(vp, &v);
    t0 = clipc_now();
    if (!s) s = clipc_vecfile_build_compact(v, cp);
    c_s = clipc_now() - t0;
    if (!s) {
        printf("{\"n\": %ld, \"dim\": %d, \"clusters\": %d, \"sigma\": %.2f, \"queries\": %d, \"threads\": %d, "
               "\"generate_s\": %.2f, \"vec_mb\": %.0f", n, dim, C, sigma, Q, clipc_get_threads(), gen_s, file_mb(vp));
        /* Warm the page cache with one f32 and one int8 scan, then time. */
        fflush(stdout);
        s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_F32, 0, truth, &med, &p90);
    }
    if (!s) s = time_mode(v, qs, Q, dim, CLIPC_SEARCH_F32, 0, truth, &med, &p90);
    if (!s) printf(", \"f32_ms_median\": %.2f, \"f32_ms_p90\": %.2f, \"f32_cpu_ms\": %.2f", med, p90, last_cpu_ms);
    if (!s) s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_EXACT, 0, rows, &med, &p90);
    if (!s) s = time_mode(v, qs, Q, dim, CLIPC_SEARCH_EXACT, 0, rows, &med, &p90);
    if (!s)
        printf(", \"int8_build_s\": %.2f, \"int8_mb\": %.0f, \"exact_ms_median\": %.2f, \"exact_ms_p90\": %.2f, "
               "\"exact_cpu_ms\": %.2f, \"exact_recall10\": %.4f", c_s, file_mb(cp), med, p90, last_cpu_ms,
               recall10(truth, rows, Q));
    printf(", \"ann\": [");
    fflush(stdout);
    const char *list[2] = {"ivf,pq", "hnsw"};
    int first = 1;
    for (int i = 0; i < 2 && !s; i++) {
        if (strcmp(kinds, "both") && strcmp(kinds, list[i])) continue;
        t0 = clipc_now();
        double c0 = cpu_s();
        s = clipc_vecfile_build_ann(v, ap, list[i]);
        double b_s = clipc_now() - t0, b_cpu = cpu_s() - c0;
        if (!s) s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_ANN, effort, rows, &med, &p90);
        if (!s) s = time_mode(v, qs, Q, dim, CLIPC_SEARCH_ANN, effort, rows, &med, &p90);
        if (!s)
            printf("%s{\"kind\": \"%s\", \"build_s\": %.1f, \"build_cpu_s\": %.1f, \"file_mb\": %.1f, "
                   "\"ms_median\": %.3f, \"ms_p90\": %.3f, \"cpu_ms\": %.3f, \"recall10\": %.4f}", first ? "" : ", ",
                   list[i], b_s, b_cpu, file_mb(ap), med, p90, last_cpu_ms, recall10(truth, rows, Q));
        first = 0;
        fflush(stdout);
    }
    printf("]}\n");
    clipc_vecfile_close(v);
    free(vp), free(cp), free(ap), free(centres), free(qs), free(truth), free(rows);
    return s ? cli_report(s) : 0;
}
