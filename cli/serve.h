/*
 * serve.h — the parts of `clipc serve` (cmd_serve.c: options, start,
 * shutdown; serve_http.c: the routes; serve_page.c: the embedded page).
 */
#ifndef CLIPC_CLI_SERVE_H
#define CLIPC_CLI_SERVE_H

#include <pthread.h>
#include <stddef.h>

#include "clipc.h"
#include "clipc_index.h"

extern const char serve_page_html[], serve_page_css[], serve_page_js[];

/* Limits on what a request may ask. */
#define SERVE_MAX_QUERY 512   /* bytes of q: 413 past it */
#define SERVE_MAX_URI 4096    /* bytes of the raw request target: 414 past it */
#define SERVE_MAX_K 100
#define SERVE_MAX_OFFSET 100000

/* What every request handler shares.  `mu` serialises the index and the
 * model (a clipc_index is one SQLite connection and lazily mapped files;
 * the model's scratch is not shared between threads); thumbnails are made
 * outside it (the cache has its own lock). */
typedef struct {
    const char *db;
    char generation[32]; /* the index's, when last looked at (serve_http.c: refresh_index) */
    clipc_index *ix;
    clipc_model *model;
    clipc_tokenizer *tok;
    clipc_thumbs *thumbs;
    int dim;
    pthread_mutex_t mu;
} serve_ctx;

struct MHD_Daemon;
/* Starts the daemon on host:port (port 0: any free port) with a pool of
 * `threads` threads; the port in use is put in *bound. */
struct MHD_Daemon *serve_start(serve_ctx *ctx, const char *host, int port, int threads, int *bound);

#endif
