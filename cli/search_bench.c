/*
 * search_bench.c — `clipc search --bench N --db F`: the search benchmark.
 * Writes N synthetic unit vectors to F.vec (streamed in blocks: never held
 * in memory), clustered like real embeddings — C centres drawn uniformly
 * on the sphere, each vector a centre plus Gaussian noise of norm ~sigma,
 * normalised (isotropic noise alone would make every vector equidistant and
 * ANN recall meaningless) — and Q queries from the same distribution.  Row
 * i and query j are drawn from their own seeded streams, so the data do not
 * depend on the block size or thread count.  The ground truth (top 10 of
 * every query) comes from the same stream: each block, while in memory to
 * be written, is multiplied by all Q queries (one sgemm), so no second pass
 * over the file is needed — at 10 M rows the file is 20 GB, more than this
 * machine's page cache, and every pass over it is a read from disk.  Then
 * times, per query: the f32 scan (sgemv; --f32-queries of them, each reads
 * the whole file), the int8 scan with f32 re-rank, and FAISS indexes (build
 * time, peak RSS, the index's resident memory, file size, latency,
 * recall@10).  Prints one JSON object.  A benchmark command, never a timed
 * test.
 */
#include <cblas.h>
#include <malloc.h>
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

/* Per-query top 10 of the streamed rows, best first: (score desc, row asc),
 * the order of the f32 scan's heap. */
typedef struct {
    float s[10];
    int64_t r[10];
    int n;
} top10;

static void top10_add(top10 *t, float s, int64_t r) {
    if (t->n == 10 && !(s > t->s[9] || (s == t->s[9] && r < t->r[9]))) return;
    int i = t->n < 10 ? t->n++ : 9;
    while (i > 0 && (s > t->s[i - 1] || (s == t->s[i - 1] && r < t->r[i - 1]))) {
        t->s[i] = t->s[i - 1];
        t->r[i] = t->r[i - 1];
        i--;
    }
    t->s[i] = s;
    t->r[i] = r;
}

/* Writes the n rows to vp block by block; each block also goes through
 * one sgemm against the Q queries into the running top 10 (truth). */
static clipc_status generate(const char *vp, long n, int dim, const float *centres, int C, double sigma,
                             uint64_t seed, const float *qs, int Q, top10 *truth) {
    clipc_vecfile_writer *w;
    clipc_status s = clipc_vecfile_create(vp, n, dim, &w);
    if (s) return s;
    const long B = 8192;
    float *blk = malloc(sizeof(float) * (size_t)B * dim), *sc = malloc(sizeof(float) * (size_t)B * Q);
    if (!blk || !sc) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    double t_last = clipc_now();
    for (long r0 = 0; !s && r0 < n; r0 += B) {
        long m = n - r0 < B ? n - r0 : B;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < m; i++) draw(centres, C, dim, sigma, seed, 1, r0 + i, blk + (size_t)i * dim);
        /* sc (Q x m) = qs (Q x dim) . blk^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Q, (int)m, dim, 1.0f, qs, dim, blk, dim, 0.0f, sc,
                    (int)m);
#pragma omp parallel for schedule(static)
        for (int j = 0; j < Q; j++)
            for (long i = 0; i < m; i++) top10_add(&truth[j], sc[(size_t)j * m + i], r0 + i);
        s = clipc_vecfile_append(w, blk, m);
        if (clipc_now() - t_last > 10 || r0 + m == n) { /* a long run shows it is alive */
            fprintf(stderr, "search --bench: %ld of %ld rows written\n", r0 + m, n);
            t_last = clipc_now();
        }
    }
    free(blk);
    free(sc);
    if (s) {
        clipc_vecfile_abort(w);
        return s;
    }
    return clipc_vecfile_finish(w);
}

/* A field of /proc/self/status in MB (0 when unreadable). */
static double status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') kb = atof(line + kl + 1);
    if (f) fclose(f);
    return kb / 1024;
}

/* Resets VmHWM to the current RSS (Linux: "5" > /proc/self/clear_refs). */
static void reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

int search_bench(const char *db, const search_bench_opts *o) {
    const long n = o->n;
    const int dim = o->dim, C = o->clusters, Q = o->queries, QF = o->f32_queries > 0 ? o->f32_queries : o->queries;
    const uint64_t seed = o->seed;
    bench_rerank = o->rerank;
    size_t len = strlen(db) + 8;
    char *vp = malloc(len), *cp = malloc(len), *ap = malloc(len);
    float *centres = malloc(sizeof(float) * (size_t)C * dim), *qs = malloc(sizeof(float) * (size_t)Q * dim);
    int64_t *truth = malloc(sizeof(int64_t) * (size_t)Q * 10), *rows = malloc(sizeof(int64_t) * (size_t)Q * 10);
    top10 *tt = calloc((size_t)Q, sizeof *tt);
    if (!vp || !cp || !ap || !centres || !qs || !truth || !rows || !tt) {
        free(vp), free(cp), free(ap), free(centres), free(qs), free(truth), free(rows), free(tt);
        return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    }
    snprintf(vp, len, "%s.vec", db);
    snprintf(cp, len, "%s.vec8", db);
    snprintf(ap, len, "%s.ann", db);
    uint64_t x = mix(seed);
    for (int c = 0; c < C; c++) {
        gaussians(&x, centres + (size_t)c * dim, dim);
        clipc_l2_normalize(centres + (size_t)c * dim, 1, dim);
    }
    for (int i = 0; i < Q; i++) draw(centres, C, dim, o->sigma, seed, 2, i, qs + (size_t)i * dim);
    double t0 = clipc_now(), gen_s, c_s, med, p90;
    clipc_vecfile *v = NULL;
    clipc_status s = generate(vp, n, dim, centres, C, o->sigma, seed, qs, Q, tt);
    gen_s = clipc_now() - t0;
    /* rows the file's ids: 0-based rows, as the searches return */
    for (int i = 0; i < Q; i++)
        for (int a = 0; a < 10; a++) truth[(size_t)i * 10 + a] = a < tt[i].n ? tt[i].r[a] : -1;
    if (!s) s = clipc_vecfile_open(vp, &v);
    t0 = clipc_now();
    if (!s) fprintf(stderr, "search --bench: the int8 copy\n");
    if (!s) s = clipc_vecfile_build_compact(v, cp);
    c_s = clipc_now() - t0;
    if (!s) {
        printf("{\"n\": %ld, \"dim\": %d, \"clusters\": %d, \"sigma\": %.2f, \"queries\": %d, \"f32_queries\": %d, "
               "\"threads\": %d, \"generate_s\": %.2f, \"vec_mb\": %.0f",
               n, dim, C, o->sigma, Q, QF, clipc_get_threads(), gen_s, file_mb(vp));
        /* Warm the page cache with one f32 and one int8 scan, then time. */
        fflush(stdout);
        fprintf(stderr, "search --bench: f32 scans\n");
        s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_F32, 0, rows, &med, &p90);
    }
    if (!s) s = time_mode(v, qs, QF, dim, CLIPC_SEARCH_F32, 0, rows, &med, &p90);
    /* the f32 sgemv against the streamed sgemm truth: 1 but for float near-ties */
    if (!s)
        printf(", \"f32_ms_median\": %.2f, \"f32_ms_p90\": %.2f, \"f32_cpu_ms\": %.2f, \"f32_recall10\": %.4f", med,
               p90, last_cpu_ms, recall10(truth, rows, QF));
    if (!s) fprintf(stderr, "search --bench: exact (int8 + re-rank) scans\n");
    if (!s) s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_EXACT, 0, rows, &med, &p90);
    if (!s) s = time_mode(v, qs, Q, dim, CLIPC_SEARCH_EXACT, 0, rows, &med, &p90);
    if (!s)
        printf(", \"int8_build_s\": %.2f, \"int8_mb\": %.0f, \"exact_ms_median\": %.2f, \"exact_ms_p90\": %.2f, "
               "\"exact_cpu_ms\": %.2f, \"exact_recall10\": %.4f", c_s, file_mb(cp), med, p90, last_cpu_ms,
               recall10(truth, rows, Q));
    if (!s) printf(", \"ann\": [");
    fflush(stdout);
    const char *list[2] = {"ivf,pq", "hnsw"};
    int first = 1;
    for (int i = 0; i < 2 && !s; i++) {
        if (strcmp(o->ann_kinds, "both") && strcmp(o->ann_kinds, list[i])) continue;
        fprintf(stderr, "search --bench: building %s\n", list[i]);
        /* Memory: the process's anonymous RSS before the build and after
         * the index is read back for searching (freed heap returned with
         * malloc_trim first), and the build's peak RSS, which includes the
         * pages of the mapped FILE.vec that FAISS read. */
        malloc_trim(0);
        double anon0 = status_mb("RssAnon");
        reset_peak();
        t0 = clipc_now();
        double c0 = cpu_s();
        int hm = i == 1 ? o->hnsw_m : 0, he = i == 1 ? o->hnsw_efc : 0;
        s = clipc_vecfile_build_ann_hnsw(v, ap, list[i], hm, he);
        double b_s = clipc_now() - t0, b_cpu = cpu_s() - c0, peak = status_mb("VmHWM");
        malloc_trim(0);
        double anon1 = status_mb("RssAnon");
        if (!s) s = time_mode(v, qs, 1, dim, CLIPC_SEARCH_ANN, o->effort, rows, &med, &p90);
        if (!s) s = time_mode(v, qs, Q, dim, CLIPC_SEARCH_ANN, o->effort, rows, &med, &p90);
        if (!s)
            printf("%s{\"kind\": \"%s\", \"hnsw_m\": %d, \"hnsw_efc\": %d, \"build_s\": %.1f, \"build_cpu_s\": %.1f, "
                   "\"build_peak_rss_mb\": %.0f, \"index_anon_mb\": %.1f, \"file_mb\": %.1f, \"ms_median\": %.3f, "
                   "\"ms_p90\": %.3f, \"cpu_ms\": %.3f, \"recall10\": %.4f}",
                   first ? "" : ", ", list[i], i == 1 ? (hm ? hm : 32) : 0, i == 1 ? (he ? he : 40) : 0, b_s, b_cpu,
                   peak, anon1 - anon0, file_mb(ap), med, p90, last_cpu_ms, recall10(truth, rows, Q));
        first = 0;
        fflush(stdout);
    }
    if (!s) printf("]}\n");
    clipc_vecfile_close(v);
    free(vp), free(cp), free(ap), free(centres), free(qs), free(truth), free(rows), free(tt);
    return s ? cli_report(s) : 0;
}
