/*
 * cmd_search.c — `clipc search --db FILE "text" | --image PATH`: exact
 * top-k by cosine over an index (one sgemv over the mmap'd FILE.vec), with
 * the model the index was built with.  --html / --grid draw the results.
 * `--bench N` times the search itself on N random vectors (no model).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_index.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc search --db FILE (TEXT | --image PATH) [--top K] [--json] [--html OUT.html] [--grid OUT.png]\n"
    "       clipc search --bench N [--dim D] --db FILE   (times search over N random vectors)\n\n"
    "Ranks the images of an index (clipc index) by cosine similarity to a text or an image,\n"
    "embedded with the index's model.  Exact search: one matrix-vector product over FILE.vec.\n"
    "Texts longer than the model's context are truncated with a warning; an empty text is refused.\n"
    "Plain-text output is one result per line, RANK<TAB>SCORE<TAB>PATH: control characters in\n"
    "a path are escaped (newline as \\n, tab as \\t, CR as \\r, others as \\xHH) and a\n"
    "backslash is doubled; --json output is exact JSON.\n";

static double median(double *x, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j]; x[j] = x[j - 1]; x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* A uniform float in [0, 1) from splitmix64: the vectors only feed timings,
 * so any generator does. */
static float rand_float(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(z >> 40) * 0x1.0p-24f;
}

static void random_unit(uint64_t *r, float *q, int d) {
    for (int j = 0; j < d; j++) q[j] = 2.0f * rand_float(r) - 1.0f; /* uniform: fast, and as good for timing */
    clipc_l2_normalize(q, 1, d);
}

/* --bench-query (internal): map the matrix, one query, print the seconds. */
static int bench_query(const char *vp) {
    double t0 = clipc_now();
    clipc_vecfile *v;
    clipc_status s = clipc_vecfile_open(vp, &v);
    if (s) return cli_report(s);
    int dim = clipc_vecfile_dim(v);
    float *all = malloc(sizeof(float) * (size_t)(clipc_vecfile_rows(v) + 1)), *q = malloc(sizeof(float) * (size_t)dim), sc[10];
    int64_t rows[10];
    int got;
    uint64_t r = 42;
    random_unit(&r, q, dim);
    clipc_vecfile_topk(v, q, 10, all, rows, sc, &got);
    printf("%.6f\n", clipc_now() - t0);
    free(all);
    free(q);
    clipc_vecfile_close(v);
    return 0;
}

static int bench(const char *db, long n, int dim) {
    size_t len = strlen(db) + 5;
    char *vp = malloc(len);
    snprintf(vp, len, "%s.vec", db);
    uint64_t r = 1;
    float *data = malloc(sizeof(float) * (size_t)n * dim), *q = malloc(sizeof(float) * dim);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)n);
    if (!data || !ids || !q) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    double t0 = clipc_now();
    for (long i = 0; i < n; i++) {
        random_unit(&r, data + (size_t)i * dim, dim);
        ids[i] = i + 1;
    }
    clipc_status s = clipc_vecfile_write(vp, data, ids, n, dim);
    free(data);
    free(ids);
    if (s) return cli_report(s);
    double t_write = clipc_now() - t0;
    clipc_vecfile *v;
    if ((s = clipc_vecfile_open(vp, &v))) return cli_report(s);
    float *all = malloc(sizeof(float) * (size_t)(n + 1)), sc[10];
    int64_t rows[10];
    int got;
    double times[21];
    for (int i = 0; i < 21; i++) {
        random_unit(&r, q, dim);
        double a = clipc_now();
        clipc_vecfile_topk(v, q, 10, all, rows, sc, &got);
        times[i] = clipc_now() - a;
    }
    double first = times[0], warm = median(times + 1, 20);
    clipc_vecfile_close(v);
    free(all);
    free(q);
    /* Cold CLI: a fresh process that maps the file and answers one query. */
    char cmd[8192], exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[el > 0 ? el : 0] = 0;
    snprintf(cmd, sizeof cmd, "'%s' search --bench-query '%s' >/dev/null", exe, vp);
    double c0 = clipc_now();
    int st = system(cmd) == -1 ? -1 : 0;
    double cold = clipc_now() - c0;
    printf("{\"n\": %ld, \"dim\": %d, \"threads\": %d, \"write_s\": %.3f, \"first_query_ms\": %.2f, "
           "\"warm_query_ms_median\": %.2f, \"cold_cli_ms\": %.1f%s}\n",
           n, dim, clipc_get_threads(), t_write, first * 1e3, warm * 1e3, cold * 1e3, st ? ", \"cold_failed\": true" : "");
    free(vp);
    return 0;
}

/* The index's model, loaded as the query's encoder (with a warning when
 * the index was encoded in another precision). */
static clipc_status load_index_model(clipc_index *ix, const char *db, clipc_precision prec, int allow_nonfinite,
                                     const clipc_load_opts *act_lo, clipc_model **m) {
    char *model_path = NULL;
    clipc_status s = clipc_index_meta(ix, "model_path", &model_path);
    if (!s && !model_path) s = clipc_error(CLIPC_ERR_FORMAT, "%s: no model recorded (run clipc index first)", db);
    if (!s) s = clipc_index_check_model(ix, model_path);
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = prec;
    lo.allow_nonfinite = allow_nonfinite;
    lo.act_given = act_lo->act_given;
    lo.act = act_lo->act;
    if (!s) s = clipc_model_load(model_path, &lo, m);
    free(model_path);
    if (s) return s;
    /* An index made before precision was recorded is f32. */
    char *iprec = NULL;
    const char *qprec = clipc_precision_name(clipc_model_precision(*m));
    if (!clipc_index_meta(ix, "precision", &iprec)) {
        const char *ip = iprec ? iprec : "f32";
        if (strcmp(ip, qprec))
            fprintf(stderr, "clipc: warning: %s was indexed in %s, the query is encoded in %s (scores shift "
                    "slightly; --precision %s matches the index)\n", db, ip, qprec, ip);
    }
    free(iprec);
    return CLIPC_OK;
}

/* The query's unit embedding q (embed_dim floats). */
static clipc_status embed_query(const clipc_model *m, const char *text, const char *image, float *q) {
    if (!text) return clipc_embed_image_file(m, image, q);
    clipc_tokenizer *tok = NULL;
    int trunc = 0;
    clipc_status s = clipc_tokenizer_load(NULL, &tok);
    if (!s) s = clipc_embed_texts(m, tok, &text, 1, q, &trunc);
    if (!s && trunc)
        fprintf(stderr, "clipc: warning: the query is longer than the model's %d-token context; truncated\n",
                clipc_model_config(m)->context_length);
    clipc_tokenizer_free(tok);
    return s;
}

static void print_results(const char *text, const char *image, char *const *paths, const float *scores, int got,
                          int json) {
    if (json) {
        fputs("{\"query\": ", stdout);
        json_write_string(stdout, text ? text : image);
        printf(", \"kind\": \"%s\", \"results\": [", text ? "text" : "image");
        for (int i = 0; i < got; i++) {
            printf("%s{\"rank\": %d, \"score\": %.6f, \"path\": ", i ? ", " : "", i + 1, (double)scores[i]);
            json_write_string(stdout, paths[i]);
            fputs("}", stdout);
        }
        fputs("]}\n", stdout);
    } else {
        for (int i = 0; i < got; i++) {
            printf("%d\t%.4f\t", i + 1, (double)scores[i]);
            text_write_escaped(stdout, paths[i]);
            fputc('\n', stdout);
        }
    }
    fflush(stdout);
}

typedef struct {
    const char *db, *text, *image, *html, *grid, *bench_query;
    int top, json, threads, dim, bench_n, allow_nonfinite;
    clipc_load_opts act_lo; /* --act */
    clipc_precision prec;
} search_args;

static int query_text(const char *arg, void *ud) {
    search_args *a = ud;
    if (a->text) return cli_usage_error("search", "one query text at a time (quote it)");
    a->text = arg;
    return 0;
}

static int parse_args(search_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "--db", .kind = CLI_STRING, .dest = &a->db, .metavar = "FILE", .help = "the index (clipc index)"},
        {.name = "--image", .kind = CLI_STRING, .dest = &a->image, .metavar = "PATH", .help = "query by this image"},
        {.name = "--top", .kind = CLI_INT, .dest = &a->top, .min = 1, .max = 100000, .metavar = "K",
         .help = "results (default 10)"},
        {.name = "--json", .kind = CLI_FLAG, .dest = &a->json,
         .help = "JSON output {\"query\", \"results\": [{\"rank\", \"score\", \"path\"}]}"},
        {.name = "--html", .kind = CLI_STRING, .dest = &a->html, .metavar = "OUT",
         .help = "a self-contained HTML gallery of the results"},
        {.name = "--grid", .kind = CLI_STRING, .dest = &a->grid, .metavar = "OUT",
         .help = "a 3x3 PNG grid of the top 9 (224 px cells)"},
        CLI_OPT_ACT(&a->act_lo),
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &a->allow_nonfinite,
         .help = "use the index's model even if its weights hold nan/inf"},
        {.name = "--threads", .kind = CLI_INT, .dest = &a->threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default: all cores)"},
        {.name = "--precision", .kind = CLI_CUSTOM, .dest = &a->prec, .fn = cli_opt_precision, .metavar = "P",
         .help = "f32 (default) or bf16 (faster on AVX512_BF16 CPUs)"},
        {.name = "--bench", .kind = CLI_INT, .dest = &a->bench_n, .min = 1, .max = 100000000, .metavar = "N",
         .help = "time the search over N random vectors (no model)"},
        {.name = "--dim", .kind = CLI_INT, .dest = &a->dim, .min = 1, .max = 65536, .metavar = "D",
         .help = "--bench: vector size (default 512)"},
        /* internal: map FILE.vec, answer one query, print the seconds (--bench's cold run) */
        {.name = "--bench-query", .kind = CLI_STRING, .dest = &a->bench_query, .metavar = "FILE"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "search", .usage = usage, .width = 14, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = query_text, .ud = a};
    return cli_parse(&cmd, argc, argv, NULL);
}

int cmd_search(int argc, char **argv) {
    search_args a = {.top = 10, .dim = 512, .prec = CLIPC_PRECISION_F32};
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.bench_query) return bench_query(a.bench_query);
    const char *db = a.db, *text = a.text, *image = a.image;
    if (!db) return cli_usage_error("search", "--db FILE is required");
    clipc_set_threads(a.threads);
    if (a.bench_n) return bench(db, a.bench_n, a.dim);
    if (!!text == !!image) return cli_usage_error("search", "give a query TEXT or --image PATH (one of them)");
    if (text && !text[strspn(text, " \t\n\r\f\v")])
        return cli_usage_error("search", "the query text is empty; give words to search for");
    struct stat sb;
    if (stat(db, &sb)) return cli_report(clipc_error(CLIPC_ERR_IO, "%s: no such index (run clipc index first)", db));

    clipc_index *ix = NULL;
    clipc_model *m = NULL;
    char **paths = NULL;
    float *q = NULL, *scores = NULL;
    int got = 0;
    clipc_status s = clipc_index_open(db, &ix);
    if (!s) s = load_index_model(ix, db, a.prec, a.allow_nonfinite, &a.act_lo, &m);
    if (s) goto done;
    int E = clipc_model_config(m)->embed_dim;
    q = malloc(sizeof(float) * (size_t)E);
    scores = malloc(sizeof(float) * (size_t)a.top);
    paths = calloc((size_t)a.top, sizeof *paths);
    if (!q || !scores || !paths) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    s = embed_query(m, text, image, q);
    for (int i = 0; !s && i < E; i++) /* nan scores would rank nothing: 0 results, exit 0 */
        if (!isfinite(q[i]))
            s = clipc_error(CLIPC_ERR_INVALID, "search: the query's embedding holds nan/inf (the model of %s has "
                            "non-finite weights or overflows); nothing to rank", db);
    if (!s) s = clipc_index_search(ix, q, E, a.top, scores, paths, &got);
    if (s) goto done;
    print_results(text, image, paths, scores, got, a.json);
    if (a.html && (rc = gallery_write_html(a.html, text ? text : image, paths, scores, got))) goto done;
    if (a.grid && (rc = gallery_write_grid(a.grid, paths, got, 224))) goto done;
done:
    for (int i = 0; paths && i < got; i++) free(paths[i]);
    free(paths);
    free(scores);
    free(q);
    clipc_model_free(m);
    clipc_index_close(ix);
    if (s) return cli_report(s);
    return rc;
}
