/*
 * cmd_index.c — `clipc index DIR --model M --db FILE`: brings an image index
 * up to date (clipc_index_update) and prints a JSON summary
 * {"added", "updated", "removed", "unchanged", "failed", "embedded", ...,
 * "vectors": "appended" | "rewritten"}.
 * Ctrl-C stops after the batch being embedded is committed.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "clipc_index.h"
#include "cli.h"

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;
}

static const char usage[] =
    "usage: clipc index DIR --model FILE --db FILE [--batch N] [--threads N]\n"
    "                   [--precision f32|bf16|int8] [--exif apply|ignore] [--verbose]\n\n"
    "Embeds every image (JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF; by file name) under\n"
    "DIR (recursively) into an SQLite index (WAL) and FILE.vec (the embeddings as one matrix,\n"
    "for clipc search).  Incremental: only new or\n"
    "changed files are embedded (size+mtime, then SHA-256), deleted ones dropped; another\n"
    "model re-embeds everything.  Unreadable images are listed and skipped, and so are\n"
    "unreadable subfolders (their indexed images are kept; counted in \"skipped_folders\").  Each batch is\n"
    "committed, so an interrupt (Ctrl-C) loses nothing committed.  Every file not indexed is\n"
    "counted by reason (not_image, unsupported, corrupt, too_large, unreadable, other): on\n"
    "stderr at the end and in \"skipped\" of the JSON summary.\n\n"
    "--ann ivf,pq|hnsw also builds FILE.ann, a FAISS index that clipc search then uses (ivf,pq:\n"
    "small and quick to build; hnsw: best recall, slow to build, as large as FILE.vec); a later\n"
    "run without --ann rebuilds an existing FILE.ann of the same kind, so it never goes stale.\n\n"
    "options:\n";

static void on_failed(const char *path, const char *msg, void *ud) {
    (void)path;
    (void)ud;
    fprintf(stderr, "clipc: skipped: %s\n", msg);
}

static int verbose;

/* --verbose: also the files that are not images (failures are always listed). */
static void on_skipped(const char *path, clipc_skip_reason why, const char *msg, void *ud) {
    (void)path;
    (void)ud;
    if (verbose && why == CLIPC_SKIP_NOT_IMAGE) fprintf(stderr, "clipc: skipped (%s): %s\n", clipc_skip_reason_name(why), msg);
}

/* The skipped files by reason, on stderr and as a JSON object for stdout. */
static void skip_summary(const clipc_index_stats *st, char *json, size_t cap) {
    char line[512];
    int n = 0, total = 0;
    size_t jl = (size_t)snprintf(json, cap, "{");
    line[0] = 0;
    for (int r = 0; r < CLIPC_SKIP_N; r++) {
        const char *name = clipc_skip_reason_name((clipc_skip_reason)r);
        jl += (size_t)snprintf(json + jl, cap - jl, "%s\"%s\": %d", r ? ", " : "", name, st->skipped[r]);
        if (!st->skipped[r]) continue;
        total += st->skipped[r];
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%d %s", n ? ", " : "", st->skipped[r], name);
    }
    snprintf(json + jl, cap - jl, "}");
    if (total) fprintf(stderr, "clipc index: skipped %d file%s: %s\n", total, total == 1 ? "" : "s", line);
}

static void on_progress(int done, int total, void *ud) { progress_update(ud, done, total); }

static int folder_arg(const char *arg, void *ud) {
    const char **dir = ud;
    if (*dir) return cli_usage_error("index", "one folder at a time ('%s' and '%s')", *dir, arg);
    *dir = arg;
    return 0;
}

/* FILE.ann: built when asked, rebuilt when one exists (it follows the index). */
static clipc_status build_ann(const char *db, const char *ann) {
    char kind[16];
    if (!ann && clipc_index_ann_kind(db, kind)) ann = kind;
    if (!ann) return CLIPC_OK;
    fprintf(stderr, "clipc: building %s.ann (%s)\n", db, ann);
    return clipc_index_build_ann(db, ann);
}

int cmd_index(int argc, char **argv) {
    const char *dir = NULL, *model_path = NULL, *db = NULL, *ann = NULL;
    int batch = 32, threads = 0, allow_nonfinite = 0;
    clipc_precision prec = CLIPC_PRECISION_F32;
    clipc_load_opts act_lo = {0};
    const cli_opt opts[] = {
        CLI_OPT_ACT(&act_lo),
        {.name = "--model", .kind = CLI_STRING, .dest = &model_path, .metavar = "FILE",
         .help = "model weights (.safetensors)"},
        {.name = "--db", .kind = CLI_STRING, .dest = &db, .metavar = "FILE", .help = "the index (created if missing)"},
        {.name = "--batch", .kind = CLI_INT, .dest = &batch, .min = 1, .max = 4096, .metavar = "N",
         .help = "images per encode call and per commit (default 32)"},
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &allow_nonfinite,
         .help = "load a model whose weights hold nan/inf (forensics)"},
        {.name = "--threads", .kind = CLI_INT, .dest = &threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default: all cores)"},
        {.name = "--precision", .kind = CLI_CUSTOM, .dest = &prec, .fn = cli_opt_precision, .metavar = "P",
         .help = "f32 (default), bf16 (faster on AVX512_BF16 CPUs) or int8"},
        {.name = "--verbose", .kind = CLI_FLAG, .dest = &verbose,
         .help = "also list each file that is not an image (failures are always listed)"},
        CLI_OPT_EXIF,
        {.name = "--ann", .kind = CLI_STRING, .dest = &ann, .metavar = "KIND",
         .help = "also build FILE.ann: ivf,pq or hnsw (FAISS)"},
    };
    const cli_command cmd = {.cmd = "index", .usage = usage, .width = 14, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = folder_arg, .ud = &dir};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!dir || !model_path || !db) return cli_usage_error("index", "DIR, --model FILE and --db FILE are required");
    if (ann && strcmp(ann, "ivf,pq") && strcmp(ann, "hnsw"))
        return cli_usage_error("index", "--ann is ivf,pq or hnsw, not '%s'", ann);
    clipc_set_threads(threads);
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = prec;
    lo.allow_nonfinite = allow_nonfinite;
    lo.act_given = act_lo.act_given;
    lo.act = act_lo.act;
    clipc_model *m;
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (s) return cli_report(s);
    progress pr;
    progress_init(&pr, "index");
    clipc_index_opts o = {batch, on_progress, on_failed, NULL, &pr, &stop_flag, on_skipped};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    clipc_index_stats st;
    s = clipc_index_update(db, dir, m, model_path, &o, &st);
    sigaction(SIGINT, &old, NULL);
    clipc_model_free(m);
    if (s && !stop_flag) return cli_report(s);
    char skipped[512];
    skip_summary(&st, skipped, sizeof skipped);
    if (!s && (s = build_ann(db, ann))) return cli_report(s);
    printf("{\"added\": %d, \"updated\": %d, \"removed\": %d, \"unchanged\": %d, \"failed\": %d, \"embedded\": %d, "
           "\"model_changed\": %s, \"skipped_folders\": %d, \"skipped\": %s, \"vectors\": \"%s\"}\n",
           st.added, st.updated, st.removed, st.unchanged, st.failed, st.embedded, st.model_changed ? "true" : "false",
           st.skipped_folders, skipped, st.vec_appended ? "appended" : "rewritten");
    if (s) {
        cli_report(s);
        return 130;
    }
    return 0;
}
