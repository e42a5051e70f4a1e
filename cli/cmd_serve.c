/*
 * cmd_serve.c — `clipc serve --db FILE`: a local search page over an index
 * (the routes: serve_http.c; the page: serve_page.c).  The model is loaded
 * once; libmicrohttpd answers on a pool of two threads; thumbnails are
 * cached in FILE.thumbs/ beside the index.  SIGINT and SIGTERM stop it
 * cleanly: they are blocked before the server's threads start (so those
 * threads inherit the mask and never take them) and taken by sigwait here,
 * then the daemon is stopped (in-flight requests finish) and everything
 * is freed.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "cli.h"
#include "serve.h"

static const char usage[] =
    "usage: clipc serve --db FILE [--model M] [--port 8080] [--host 127.0.0.1] [--thumb-size PX]\n"
    "                   [--thumb-cache-mb MB] [--threads N]\n\n"
    "A search page for an index (clipc index) in the browser: a search box, the results as a\n"
    "grid of thumbnails with scores, \"more like this\" by clicking an image, a folder filter\n"
    "and paging.  Open the address it prints.  It listens on 127.0.0.1 only unless --host says\n"
    "otherwise (there is no login: anyone who can reach the port can see the collection).\n"
    "Thumbnails are made once and kept in FILE.thumbs/ beside the index, at most\n"
    "--thumb-cache-mb megabytes (the oldest removed past it).  Only files in the index are\n"
    "served, by their id.  Ctrl-C (SIGINT) or SIGTERM stops it.\n"
    "JSON API (docs/using.md): /api/search?q=TEXT&k=&offset=&folder=, /api/similar?id=ID&...,\n"
    "/api/folders, /thumb/ID, /image/ID.\n";

typedef struct {
    const char *db, *model, *host;
    int port, thumb_size, cache_mb, threads;
} serve_args;

static int parse_args(serve_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "--db", .kind = CLI_STRING, .dest = &a->db, .metavar = "FILE", .help = "the index (clipc index)"},
        {.name = "--model", .kind = CLI_STRING, .dest = &a->model, .metavar = "M",
         .help = "the model file, if not where the index recorded it (it must be the same model)"},
        {.name = "--port", .kind = CLI_INT, .dest = &a->port, .min = 0, .max = 65535, .metavar = "P",
         .help = "TCP port; 0 = any free port (printed)", .deflt = "8080"},
        {.name = "--host", .kind = CLI_STRING, .dest = &a->host, .metavar = "IP",
         .help = "IPv4 address to listen on", .deflt = "127.0.0.1"},
        {.name = "--thumb-size", .kind = CLI_INT, .dest = &a->thumb_size, .min = 16, .max = 1024, .metavar = "PX",
         .help = "thumbnails fit in PX x PX", .deflt = "256"},
        {.name = "--thumb-cache-mb", .kind = CLI_INT, .dest = &a->cache_mb, .min = 1, .max = 1000000, .metavar = "MB",
         .help = "bound on the thumbnail cache folder", .deflt = "512"},
        {.name = "--threads", .kind = CLI_INT, .dest = &a->threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads for encoding queries (default: all cores)"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "serve", .usage = usage, .width = 20, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    return cli_parse(&cmd, argc, argv, NULL);
}

/* Opens the index, checks and loads its model, the tokenizer and the
 * thumbnail cache into x. */
static clipc_status open_all(const serve_args *a, serve_ctx *x) {
    clipc_status s = clipc_index_open(a->db, &x->ix);
    char *model_path = NULL, *thumbs = NULL;
    if (!s && !a->model) {
        s = clipc_index_meta(x->ix, "model_path", &model_path);
        if (!s && !model_path) s = clipc_error(CLIPC_ERR_FORMAT, "%s: no model recorded (run clipc index first)", a->db);
    }
    const char *mp = a->model ? a->model : model_path;
    if (!s) s = clipc_index_check_model(x->ix, mp);
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    if (!s) s = clipc_model_load(mp, &lo, &x->model);
    if (!s) x->dim = clipc_model_config(x->model)->embed_dim;
    if (!s && clipc_index_size(x->ix) < 0) s = CLIPC_ERR_IO;
    if (!s) s = clipc_tokenizer_load(NULL, &x->tok);
    size_t n = strlen(a->db) + 8;
    if (!s && !(thumbs = malloc(n))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s) {
        snprintf(thumbs, n, "%s.thumbs", a->db);
        s = clipc_thumbs_open(thumbs, a->thumb_size, (int64_t)a->cache_mb << 20, &x->thumbs);
    }
    free(thumbs);
    free(model_path);
    return s;
}

static void close_all(serve_ctx *x) {
    clipc_thumbs_close(x->thumbs);
    clipc_tokenizer_free(x->tok);
    clipc_model_free(x->model);
    clipc_index_close(x->ix);
}

int cmd_serve(int argc, char **argv) {
    serve_args a = {.host = "127.0.0.1", .port = 8080, .thumb_size = 256, .cache_mb = 512};
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!a.db) return cli_usage_error("serve", "--db FILE is required");
    struct stat sb;
    if (stat(a.db, &sb)) return cli_report(clipc_error(CLIPC_ERR_IO, "%s: no such index (run clipc index first)", a.db));
    clipc_set_threads(a.threads);
    serve_ctx x = {.db = a.db};
    clipc_status s = open_all(&a, &x);
    if (s) {
        close_all(&x);
        return cli_report(s);
    }
    pthread_mutex_init(&x.mu, NULL);
    /* Blocked before the daemon's threads exist, so they inherit the mask
     * and only sigwait below takes the signals; a client that hangs up
     * mid-response must not kill the server with SIGPIPE. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int port = 0;
    struct MHD_Daemon *d = serve_start(&x, a.host, a.port, 2, &port);
    if (!d) {
        rc = cli_report(CLIPC_ERR_IO);
    } else {
        printf("clipc serve: http://%s:%d/ (%lld images; Ctrl-C stops)\n", a.host, port,
               (long long)clipc_index_size(x.ix));
        fflush(stdout);
        int sig = 0;
        sigwait(&stop, &sig);
        fprintf(stderr, "clipc serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        MHD_stop_daemon(d);
    }
    pthread_mutex_destroy(&x.mu);
    close_all(&x);
    return rc;
}
