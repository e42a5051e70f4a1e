/*
 * serve_http.c — the routes of `clipc serve` over libmicrohttpd:
 *
 *   GET /                 the page (serve_page.c); /app.js, /app.css
 *   GET /api/search       ?q=TEXT[&k=&offset=&folder=]  results as JSON
 *   GET /api/similar      ?id=ID[&k=&offset=&folder=]   by the stored vector of image ID
 *   GET /api/folders      {"images": N, "folders": [...]}
 *   GET /thumb/ID         a JPEG thumbnail (the cache, clipc_thumbs_*)
 *   GET /image/ID         the indexed file itself
 *
 * What keeps files outside the collection out of reach: a file is named
 * only by its row id in the index (digits, nothing else), and its path
 * comes from the index, never from the client.  Before MHD decodes the
 * request target, check_raw_uri looks at the raw bytes: over
 * SERVE_MAX_URI is 414, an encoded NUL (%00, which would cut the decoded
 * string short and hide what follows) is 400, and a path part that holds
 * ".." or a backslash once decoded is 404.  Every route then matches the
 * decoded path exactly; anything else is 404.
 *
 * Escaping: JSON through json_write_string (json_out.c: every control
 * character, quote and backslash, invalid UTF-8 as \udcXX); no HTML is
 * ever made from data (the page uses textContent).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc_util.h"
#include "cli.h"
#include "serve.h"

/* The verdict on the raw request target, carried to the handler as its
 * *con_cls (a small integer in a pointer: nothing to allocate or free,
 * even for a request MHD refuses before the handler runs). */
enum { RAW_OK = 1 };

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* RAW_OK, or the HTTP status refusing the raw request target. */
static int check_raw_uri(const char *uri) {
    size_t n = strlen(uri);
    if (n > SERVE_MAX_URI) return MHD_HTTP_URI_TOO_LONG;
    if (strstr(uri, "%00")) return MHD_HTTP_BAD_REQUEST;
    char path[SERVE_MAX_URI + 1];
    size_t w = 0;
    for (size_t i = 0; i < n && uri[i] != '?'; i++) {
        int c = (unsigned char)uri[i];
        if (c == '%' && i + 2 < n && hexval(uri[i + 1]) >= 0 && hexval(uri[i + 2]) >= 0) {
            c = hexval(uri[i + 1]) * 16 + hexval(uri[i + 2]);
            i += 2;
        }
        path[w++] = (char)c;
    }
    path[w] = 0;
    if (strstr(path, "..") || strchr(path, '\\') || strlen(path) != w) return MHD_HTTP_NOT_FOUND;
    return RAW_OK;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)c;
    return (void *)(uintptr_t)check_raw_uri(uri);
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, char *body, size_t len, const char *type,
                                const char *cache) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; img-src 'self'");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *c, const char *text, const char *type) {
    char *copy = strdup(text);
    return copy ? send_buf(c, MHD_HTTP_OK, copy, strlen(copy), type, "no-cache") : MHD_NO;
}

/* A memory stream for a JSON body. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} membuf;

static int mem_open(membuf *m) {
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f != NULL;
}

static enum MHD_Result mem_send(struct MHD_Connection *c, unsigned status, membuf *m) {
    if (fclose(m->f)) {
        free(m->buf);
        return MHD_NO;
    }
    return send_buf(c, status, m->buf, m->len, "application/json; charset=utf-8", "no-store");
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
    membuf m;
    if (!mem_open(&m)) return MHD_NO;
    fputs("{\"error\": ", m.f);
    json_write_string(m.f, msg);
    fputs("}\n", m.f);
    return mem_send(c, status, &m);
}

/* The HTTP status for a library error: the client's fault or ours. */
static unsigned status_of(clipc_status s) {
    return s == CLIPC_ERR_INVALID || s == CLIPC_ERR_RANGE ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Under x->mu: when `clipc index` has changed the index since it was
 * opened (its generation moved), opens it again, so the server follows a
 * re-index without a restart.  On a failure the old handle stays and the
 * next request retries. */
static void refresh_index(serve_ctx *x) {
    char *g = NULL;
    if (clipc_index_meta(x->ix, "generation", &g) || !g) return;
    if (x->generation[0] && strcmp(g, x->generation)) {
        clipc_index *nix = NULL;
        if (clipc_index_open(x->db, &nix) == CLIPC_OK && clipc_index_size(nix) >= 0) {
            clipc_index_close(x->ix);
            x->ix = nix;
        } else {
            fprintf(stderr, "clipc serve: %s changed but cannot be reopened: %s\n", x->db, clipc_last_error());
            clipc_index_close(nix);
            free(g);
            return;
        }
    }
    snprintf(x->generation, sizeof x->generation, "%s", g);
    free(g);
}

/* ------------------------------------------------------------ arguments */

/* A decimal integer argument in [lo, hi], dflt when absent: 0, or -1 when
 * malformed or out of range. */
static int int_arg(struct MHD_Connection *c, const char *key, long long lo, long long hi, long long dflt,
                   long long *out) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    *out = dflt;
    if (!v) return 0;
    if (!*v || strlen(v) > 18) return -1;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    long long x = strtoll(v, NULL, 10);
    if (x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

/* The id of "/thumb/123": digits only (no sign, space, dot or slash), or -1. */
static long long id_of(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 18) return -1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return -1;
    return strtoll(s, NULL, 10);
}

/* ------------------------------------------------------------------ API */

static void write_hits(FILE *f, const clipc_hit *h, int got, int offset) {
    fputs("\"results\": [", f);
    for (int i = 0; i < got; i++) {
        const char *slash = strrchr(h[i].path, '/');
        fprintf(f, "%s{\"rank\": %d, \"id\": %lld, \"score\": %.6f, \"path\": ", i ? ", " : "", offset + i + 1,
                (long long)h[i].id, (double)h[i].score);
        json_write_string(f, h[i].path);
        fputs(", \"name\": ", f);
        json_write_string(f, slash ? slash + 1 : h[i].path);
        fputs("}", f);
    }
    fputs("]", f);
}

/* /api/search (similar = 0) and /api/similar (1). */
static enum MHD_Result api_search(serve_ctx *x, struct MHD_Connection *c, int similar) {
    long long k, offset, id = 0;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    const char *folder = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "folder");
    if (int_arg(c, "k", 1, SERVE_MAX_K, 24, &k))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "k must be an integer in 1..100");
    if (int_arg(c, "offset", 0, SERVE_MAX_OFFSET, 0, &offset))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "offset must be an integer in 0..100000");
    if (folder && strlen(folder) > SERVE_MAX_URI)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "folder is too long");
    if (similar) {
        if (int_arg(c, "id", 0, INT64_MAX / 2, -1, &id) || id < 0)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "id must be the id of an indexed image");
    } else {
        if (!q || !q[strspn(q, " \t\n\r\f\v")]) return send_error(c, MHD_HTTP_BAD_REQUEST, "q is empty; give words to search for");
        if (strlen(q) > SERVE_MAX_QUERY)
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "q is longer than 512 bytes");
    }
    clipc_hit hits[SERVE_MAX_K];
    float *vec = malloc(sizeof(float) * (size_t)x->dim);
    if (!vec) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    int got = 0, more = 0, trunc = 0;
    clipc_page pg = {(int)offset, (int)k, folder};
    pthread_mutex_lock(&x->mu);
    refresh_index(x);
    clipc_status s = similar ? clipc_index_image(x->ix, id, NULL, vec, x->dim)
                             : clipc_embed_texts(x->model, x->tok, &q, 1, vec, &trunc);
    unsigned fail = similar && s == CLIPC_ERR_RANGE ? MHD_HTTP_NOT_FOUND : status_of(s);
    if (!s) {
        s = clipc_index_search_page(x->ix, vec, x->dim, &pg, hits, &got, &more);
        fail = status_of(s);
    }
    char err[512];
    if (s) snprintf(err, sizeof err, "%s", clipc_last_error());
    pthread_mutex_unlock(&x->mu);
    free(vec);
    if (s) return send_error(c, fail, err);
    membuf m;
    if (!mem_open(&m)) {
        clipc_hits_free(hits, got);
        return MHD_NO;
    }
    fputs("{\"query\": ", m.f);
    if (similar) fprintf(m.f, "%lld, \"kind\": \"image\"", id);
    else {
        json_write_string(m.f, q);
        fprintf(m.f, ", \"kind\": \"text\", \"truncated\": %s", trunc ? "true" : "false");
    }
    fputs(", \"folder\": ", m.f);
    json_write_string(m.f, folder ? folder : "");
    fprintf(m.f, ", \"offset\": %lld, \"k\": %lld, \"more\": %s, ", offset, k, more ? "true" : "false");
    write_hits(m.f, hits, got, (int)offset);
    fputs("}\n", m.f);
    clipc_hits_free(hits, got);
    return mem_send(c, MHD_HTTP_OK, &m);
}

static enum MHD_Result api_folders(serve_ctx *x, struct MHD_Connection *c) {
    char **f = NULL;
    int n = 0;
    pthread_mutex_lock(&x->mu);
    refresh_index(x);
    int64_t images = clipc_index_size(x->ix);
    clipc_status s = images < 0 ? CLIPC_ERR_IO : clipc_index_folders(x->ix, &f, &n);
    pthread_mutex_unlock(&x->mu);
    if (s) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, clipc_last_error());
    membuf m;
    enum MHD_Result ret = MHD_NO;
    if (mem_open(&m)) {
        fprintf(m.f, "{\"images\": %lld, \"folders\": [", (long long)images);
        for (int i = 0; i < n; i++) {
            if (i) fputs(", ", m.f);
            json_write_string(m.f, f[i]);
        }
        fputs("]}\n", m.f);
        ret = mem_send(c, MHD_HTTP_OK, &m);
    }
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
    return ret;
}

/* ------------------------------------------------------------ the files */

/* The path of indexed image id (malloc'ed), or NULL: unknown id. */
static char *path_of(serve_ctx *x, long long id) {
    char *p = NULL;
    if (id < 0) return NULL;
    pthread_mutex_lock(&x->mu);
    refresh_index(x);
    if (clipc_index_image(x->ix, id, &p, NULL, 0)) p = NULL;
    pthread_mutex_unlock(&x->mu);
    return p;
}

static enum MHD_Result send_thumb(serve_ctx *x, struct MHD_Connection *c, const char *ids) {
    char *p = path_of(x, id_of(ids));
    if (!p) return send_error(c, MHD_HTTP_NOT_FOUND, "no such image");
    uint8_t *jpeg;
    size_t len;
    clipc_status s = clipc_thumbs_get(x->thumbs, p, &jpeg, &len, NULL);
    free(p);
    if (s) {
        fprintf(stderr, "clipc serve: thumbnail: %s\n", clipc_last_error());
        return send_error(c, MHD_HTTP_NOT_FOUND, "no thumbnail for this image (the file is gone or unreadable)");
    }
    return send_buf(c, MHD_HTTP_OK, (char *)jpeg, len, "image/jpeg", "private, max-age=3600");
}

/* The Content-Type of an image file by its first bytes. */
static const char *image_type(const unsigned char *b, ssize_t n) {
    if (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)) return "image/jpeg";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "image/webp";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "image/gif";
    if (n >= 2 && !memcmp(b, "BM", 2)) return "image/bmp";
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return "image/tiff";
    if (n >= 12 && !memcmp(b + 4, "ftypavif", 8)) return "image/avif";
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) return "image/heic";
    return "application/octet-stream";
}

static enum MHD_Result send_image(serve_ctx *x, struct MHD_Connection *c, const char *ids) {
    char *p = path_of(x, id_of(ids));
    if (!p) return send_error(c, MHD_HTTP_NOT_FOUND, "no such image");
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    free(p);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return send_error(c, MHD_HTTP_NOT_FOUND, "the image file is gone or unreadable");
    }
    unsigned char head[16];
    ssize_t n = pread(fd, head, sizeof head, 0);
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)st.st_size, fd); /* closes fd */
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, image_type(head, n));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=3600");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ------------------------------------------------------------- dispatch */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    (void)upload;
    serve_ctx *x = cls;
    int verdict = (int)(uintptr_t)*con_cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET");
    if (*upload_size) return send_error(c, MHD_HTTP_BAD_REQUEST, "a GET request has no body");
    if (verdict == MHD_HTTP_URI_TOO_LONG || verdict == MHD_HTTP_BAD_REQUEST)
        return send_error(c, (unsigned)verdict, verdict == MHD_HTTP_BAD_REQUEST ? "encoded NUL in the request"
                                                                               : "request target too long");
    if (verdict != RAW_OK) return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return send_static(c, serve_page_html, "text/html; charset=utf-8");
    if (!strcmp(url, "/app.js")) return send_static(c, serve_page_js, "text/javascript; charset=utf-8");
    if (!strcmp(url, "/app.css")) return send_static(c, serve_page_css, "text/css; charset=utf-8");
    if (!strcmp(url, "/api/search")) return api_search(x, c, 0);
    if (!strcmp(url, "/api/similar")) return api_search(x, c, 1);
    if (!strcmp(url, "/api/folders")) return api_folders(x, c);
    if (!strncmp(url, "/thumb/", 7)) return send_thumb(x, c, url + 7);
    if (!strncmp(url, "/image/", 7)) return send_image(x, c, url + 7);
    return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

struct MHD_Daemon *serve_start(serve_ctx *ctx, const char *host, int port, int threads, int *bound) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        clipc_error(CLIPC_ERR_INVALID, "--host %s: not an IPv4 address (e.g. 127.0.0.1)", host);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port, NULL, NULL, on_request, ctx,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d) {
        clipc_error(CLIPC_ERR_IO, "cannot listen on %s:%d (%s)", host, port, errno ? strerror(errno) : "in use?");
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    return d;
}
