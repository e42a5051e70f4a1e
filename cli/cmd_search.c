/*
 * cmd_search.c — `clipc search --db FILE "text" | --image PATH`: top-k by
 * cosine over an index (FILE.ann when current, else the exact int8 scan with
 * f32 re-rank; --exact, --f32, --ann choose), with the model the index was
 * built with.  --html / --grid draw the results.
 * `--bench N` is the search benchmark (search_bench.c); `--check-recall N`
 * measures the fast searches against the f32 scan.
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
    "                    [--exact | --f32 | --ann] [--check-recall N]\n"
    "       clipc search --db FILE --check-recall N   (recall@10 of the fast searches; no model needed)\n"
    "       clipc search --bench N --db FILE [--dim D] [--clusters C] [--queries Q] [--f32-queries Q]\n"
    "                    [--bench-ann KIND] [--hnsw-m M] [--hnsw-efc E]\n\n"
    "Ranks the images of an index (clipc index) by cosine similarity to a text or an image,\n"
    "embedded with the index's model.  By default FILE.ann (clipc index --ann) is used when it is\n"
    "current, else the exact search: a scan of FILE.vec8 (the vectors in int8, made when missing)\n"
    "whose best K+256 rows are re-scored in f32 from FILE.vec.  A stale or damaged FILE.ann is\n"
    "reported and the exact search used.\n"
    "Texts longer than the model's context are truncated with a warning; an empty text is refused.\n"
    "Plain-text output is one result per line, RANK<TAB>SCORE<TAB>PATH: control characters in\n"
    "a path are escaped (newline as \\n, tab as \\t, CR as \\r, others as \\xHH) and a\n"
    "backslash is doubled; --json output is exact JSON.\n"
    "--check-recall N prints {\"queries\", \"recall10_exact\", \"recall10_ann\", ...} on stderr\n"
    "(stdout when there is no query): the stored embeddings of N images spread over the index\n"
    "searched with each method against the f32 scan, with median times.\n"
    "--bench N writes N clustered synthetic vectors to FILE.vec and times every method\n"
    "(see bench/search/run.sh).\n";

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
    clipc_status s = clipc_model_tokenizer(m, &tok); /* BPE, or the tutorial model's WordPiece */
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
    const char *db, *text, *image, *html, *grid, *bench_ann;
    int top, json, threads, dim, bench_n, allow_nonfinite, exact, f32, ann, check_recall, effort, rerank, clusters, queries;
    int f32_queries, hnsw_m, hnsw_efc;
    double sigma;
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
         .help = "f32 (default), bf16 (faster on AVX512_BF16 CPUs) or int8"},
        {.name = "--exact", .kind = CLI_FLAG, .dest = &a->exact,
         .help = "exact search even when FILE.ann exists (int8 scan + f32 re-rank)"},
        {.name = "--f32", .kind = CLI_FLAG, .dest = &a->f32, .help = "the plain f32 scan (the reference; slower)"},
        {.name = "--ann", .kind = CLI_FLAG, .dest = &a->ann, .help = "FILE.ann only (an error when missing or stale)"},
        {.name = "--effort", .kind = CLI_INT, .dest = &a->effort, .min = 1, .max = 100000, .metavar = "E",
         .help = "ANN: nprobe (ivf,pq; default 32) or efSearch (hnsw; default 64)"},
        {.name = "--rerank", .kind = CLI_INT, .dest = &a->rerank, .min = 1, .max = 100000, .metavar = "K",
         .help = "ANN: candidates re-ranked in f32 (default 256, or 4 x --top when larger)"},
        {.name = "--check-recall", .kind = CLI_INT, .dest = &a->check_recall, .min = 1, .max = 100000,
         .metavar = "N", .help = "report recall@10 of the int8 scan and the ANN vs f32 on N images"},
        {.name = "--bench", .kind = CLI_INT, .dest = &a->bench_n, .min = 100, .max = 100000000, .metavar = "N",
         .help = "benchmark on N synthetic vectors written to FILE.vec (no model)"},
        {.name = "--dim", .kind = CLI_INT, .dest = &a->dim, .min = 8, .max = 65536, .metavar = "D",
         .help = "--bench: vector size (default 512)"},
        {.name = "--clusters", .kind = CLI_INT, .dest = &a->clusters, .min = 1, .max = 10000000, .metavar = "C",
         .help = "--bench: cluster centres (default 2000)"},
        {.name = "--sigma", .kind = CLI_DOUBLE, .dest = &a->sigma, .metavar = "S",
         .help = "--bench: noise norm around a centre (default 1: cosine to it ~0.7)"},
        {.name = "--queries", .kind = CLI_INT, .dest = &a->queries, .min = 1, .max = 100000, .metavar = "Q",
         .help = "--bench: queries timed (default 50)"},
        {.name = "--bench-ann", .kind = CLI_STRING, .dest = &a->bench_ann, .metavar = "KIND",
         .help = "--bench: ivf,pq, hnsw, both (default) or none"},
        {.name = "--f32-queries", .kind = CLI_INT, .dest = &a->f32_queries, .min = 1, .max = 100000, .metavar = "Q",
         .help = "--bench: of the queries, those the f32 scan times (default all; at 10 M each reads 20 GB)"},
        {.name = "--hnsw-m", .kind = CLI_INT, .dest = &a->hnsw_m, .min = 2, .max = 256, .metavar = "M",
         .help = "--bench: HNSW links per node (default 32)"},
        {.name = "--hnsw-efc", .kind = CLI_INT, .dest = &a->hnsw_efc, .min = 1, .max = 4096, .metavar = "E",
         .help = "--bench: HNSW efConstruction (default 40)"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "search", .usage = usage, .width = 14, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = query_text, .ud = a};
    return cli_parse(&cmd, argc, argv, NULL);
}

static int check_recall(clipc_index *ix, int n, const clipc_search_opts *so, FILE *out) {
    clipc_recall_report r;
    clipc_status s = clipc_index_check_recall(ix, n, 10, so, &r);
    if (s) return cli_report(s);
    fprintf(out, "{\"queries\": %d, \"k\": %d, \"recall10_exact\": %.4f, \"ms_f32\": %.2f, \"ms_exact\": %.2f", r.queries,
            r.k, r.recall_exact, r.ms_f32, r.ms_exact);
    if (r.has_ann)
        fprintf(out, ", \"ann\": \"%s\", \"recall10_ann\": %.4f, \"ms_ann\": %.3f", r.ann_kind, r.recall_ann, r.ms_ann);
    fprintf(out, "}\n");
    return 0;
}

int cmd_search(int argc, char **argv) {
    search_args a = {.top = 10, .dim = 512, .clusters = 2000, .queries = 50, .sigma = 1.0, .bench_ann = "both",
                     .prec = CLIPC_PRECISION_F32};
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    const char *db = a.db, *text = a.text, *image = a.image;
    if (!db) return cli_usage_error("search", "--db FILE is required");
    if (a.exact + a.f32 + a.ann > 1) return cli_usage_error("search", "--exact, --f32 and --ann exclude each other");
    clipc_set_threads(a.threads);
    if (a.bench_n) {
        if (strcmp(a.bench_ann, "both") && strcmp(a.bench_ann, "none") && strcmp(a.bench_ann, "ivf,pq") &&
            strcmp(a.bench_ann, "hnsw"))
            return cli_usage_error("search", "--bench-ann is ivf,pq, hnsw, both or none, not '%s'", a.bench_ann);
        if (!(a.sigma >= 0 && a.sigma < 1e6)) return cli_usage_error("search", "--sigma must be >= 0");
        if (a.f32_queries > a.queries) return cli_usage_error("search", "--f32-queries must be <= --queries");
        search_bench_opts bo = {.n = a.bench_n, .dim = a.dim, .clusters = a.clusters, .queries = a.queries,
                                .f32_queries = a.f32_queries, .sigma = a.sigma, .ann_kinds = a.bench_ann,
                                .effort = a.effort, .rerank = a.rerank, .hnsw_m = a.hnsw_m, .hnsw_efc = a.hnsw_efc,
                                .seed = 1};
        return search_bench(db, &bo);
    }
    clipc_search_opts so = {a.exact ? CLIPC_SEARCH_EXACT : a.f32 ? CLIPC_SEARCH_F32 : a.ann ? CLIPC_SEARCH_ANN
                                                                                        : CLIPC_SEARCH_AUTO,
                            0, 0, a.effort, a.rerank};
    if (!text && !image && !a.check_recall)
        return cli_usage_error("search", "give a query TEXT or --image PATH (one of them)");
    if (text && image) return cli_usage_error("search", "give a query TEXT or --image PATH (one of them)");
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
    if (!s && !text && !image) {
        rc = check_recall(ix, a.check_recall, &so, stdout);
        clipc_index_close(ix);
        return rc;
    }
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
    clipc_search_info info;
    if (!s) s = clipc_index_search_with(ix, q, E, a.top, &so, scores, paths, &got, &info);
    if (s) goto done;
    if (info.ann_stale) fprintf(stderr, "clipc: warning: %s; exact search used\n", info.ann_error);
    print_results(text, image, paths, scores, got, a.json);
    if (a.html && (rc = gallery_write_html(a.html, text ? text : image, paths, scores, got))) goto done;
    if (a.grid && (rc = gallery_write_grid(a.grid, paths, got, 224))) goto done;
    if (a.check_recall) rc = check_recall(ix, a.check_recall, &so, stderr);
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
