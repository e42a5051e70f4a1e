/*
 * cmd_index.c — `clipc index DIR --model M --db FILE`: brings an image index
 * up to date (see src/index.c) and prints a JSON summary
 * {"added", "updated", "removed", "unchanged", "failed", "embedded"}.
 * Ctrl-C stops after the batch being embedded is committed.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "index/index.h"
#include "cli.h"

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: clipc index DIR --model FILE --db FILE [--batch N] [--threads N]\n"
               "                   [--precision f32|bf16]\n\n"
               "Embeds every .jpg/.jpeg/.png under DIR (recursively) into an SQLite index (WAL) and\n"
               "FILE.vec (the embeddings as one matrix, for clipc search).  Incremental: only new or\n"
               "changed files are embedded (size+mtime, then SHA-256), deleted ones dropped; another\n"
               "model re-embeds everything.  Unreadable images are listed and skipped.  Each batch is\n"
               "committed, so an interrupt (Ctrl-C) loses nothing committed.\n");
}

static void on_failed(const char *path, const char *msg, void *ud) {
    (void)path;
    (void)ud;
    fprintf(stderr, "clipc: skipped: %s\n", msg);
}

static void on_progress(int done, int total, void *ud) { progress_update(ud, done, total); }

int cmd_index(int argc, char **argv) {
    const char *dir = NULL, *model_path = NULL, *db = NULL;
    int batch = 32, threads = 0, rc = 0;
    clipc_precision prec = CLIPC_PRECISION_F32;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int takes = !strcmp(a, "--model") || !strcmp(a, "--db") || !strcmp(a, "--batch") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--precision");
        if (takes && !v) return cli_usage_error("index", "%s needs a value", a);
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "--batch")) rc = cli_parse_int("index", a, v, 1, 4096, &batch);
        else if (!strcmp(a, "--threads")) rc = cli_parse_int("index", a, v, 0, 1024, &threads);
        else if (!strcmp(a, "--precision")) rc = cli_parse_precision("index", v, &prec);
        else if (a[0] == '-' && a[1]) rc = cli_usage_error("index", "unknown option '%s'", a);
        else if (!dir) dir = a;
        else rc = cli_usage_error("index", "one folder at a time ('%s' and '%s')", dir, a);
        if (takes) i++;
    }
    if (rc) return rc;
    if (!dir || !model_path || !db) return cli_usage_error("index", "DIR, --model FILE and --db FILE are required");
    clipc_set_threads(threads);
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = prec;
    clipc_model *m;
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (s) return cli_report(s);
    progress pr;
    progress_init(&pr, "index");
    index_opts o = {batch, on_progress, on_failed, NULL, &pr, &stop_flag};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    index_stats st;
    s = index_update(db, dir, m, model_path, &o, &st);
    sigaction(SIGINT, &old, NULL);
    clipc_model_free(m);
    if (s && !stop_flag) return cli_report(s);
    printf("{\"added\": %d, \"updated\": %d, \"removed\": %d, \"unchanged\": %d, \"failed\": %d, \"embedded\": %d, "
           "\"model_changed\": %s}\n",
           st.added, st.updated, st.removed, st.unchanged, st.failed, st.embedded, st.model_changed ? "true" : "false");
    if (s) {
        cli_report(s);
        return 130;
    }
    return 0;
}
