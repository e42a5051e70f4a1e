/*
 * serve_fixture.h — what test_serve.c and test_serve_browser.c share: a
 * tiny index of emoji images (data/emoji-mini, a random test model, two
 * folders and a file name that needs escaping), `clipc serve` started on a
 * free port as a child process (the folder of the test binary is first on
 * PATH, so this is the build under test), and a raw HTTP/1.1 client that
 * sends the request target byte for byte (no client-side normalisation, so
 * "..", "%2e%2e" and "%00" reach the server as written).
 */
#ifndef CLIPC_TESTS_SERVE_FIXTURE_H
#define CLIPC_TESTS_SERVE_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"

typedef struct {
    char db[512], pics[400], model[512];
    char paths[64][700]; /* the indexed files, as given to clipc index */
    int n;
} serve_fx;

static inline void sfx_copy(const char *from, const char *to) {
    char *data;
    size_t len;
    REQUIRE_OK(clipc_read_file(from, &data, &len));
    REQUIRE_OK(clipc_write_file_atomic(to, data, len));
    free(data);
}

/* 24 emoji in pics/faces and pics/things, one with a name full of HTML and
 * JSON specials; indexed with a random 16-d model.  SKIPs when run from
 * elsewhere than the repository root. */
static void sfx_build(serve_fx *fx) {
    static const char *const faces[] = {"1f600", "1f601", "1f602", "1f603", "1f604", "1f605",
                                        "1f606", "1f609", "1f60a", "1f60d", "1f60e", "1f622"};
    static const char *const things[] = {"1f34e", "1f355", "1f697", "1f680", "1f3e0", "1f431",
                                         "1f436", "1f33b", "1f4a9", "2764-fe0f", "26bd", "1f3b8"};
    struct stat st;
    if (stat("data/emoji-mini/twemoji/1f600.png", &st)) SKIP("run from the repository root (data/emoji-mini)");
    const char *tmp = test_tmpdir();
    memset(fx, 0, sizeof *fx);
    snprintf(fx->pics, sizeof fx->pics, "%s/pics", tmp);
    char sub[450], src[600];
    mkdir(fx->pics, 0755);
    for (int f = 0; f < 2; f++) {
        snprintf(sub, sizeof sub, "%s/%s", fx->pics, f ? "things" : "faces");
        mkdir(sub, 0755);
        for (int i = 0; i < 12; i++) {
            const char *name = f ? things[i] : faces[i];
            snprintf(src, sizeof src, "data/emoji-mini/twemoji/%s.png", name);
            if (stat(src, &st)) snprintf(src, sizeof src, "data/emoji-mini/noto/%s.png", name);
            if (f == 1 && i == 11) /* quotes, angle brackets, ampersand, a space */
                snprintf(fx->paths[fx->n], sizeof fx->paths[0], "%s/we\"ird <b>&amp; %s.png", sub, name);
            else
                snprintf(fx->paths[fx->n], sizeof fx->paths[0], "%s/%s.png", sub, name);
            sfx_copy(src, fx->paths[fx->n]);
            fx->n++;
        }
    }
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0},
                        CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 11, &m));
    snprintf(fx->model, sizeof fx->model, "%s/model.safetensors", tmp);
    REQUIRE_OK(clipc_model_save(m, fx->model));
    clipc_model_free(m);
    snprintf(fx->db, sizeof fx->db, "%s/pics.db", tmp);
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' 2>&1", fx->pics, fx->model, fx->db);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "clipc index: %s", out);
    free(out);
}

/* ------------------------------------------------------------ the server */

typedef struct {
    pid_t pid;
    int port;
} serve_proc;

static pid_t sfx_live = 0; /* killed if a test is aborted with the server up */

static void sfx_kill_live(void) {
    if (sfx_live > 0) {
        kill(sfx_live, SIGKILL);
        waitpid(sfx_live, NULL, 0);
        sfx_live = 0;
    }
}

/* Starts `clipc serve --db DB --port 0 EXTRA...` and reads the port from
 * its first line ("clipc serve: http://127.0.0.1:PORT/ ..."). */
static void sfx_start(serve_proc *sp, const char *db, const char *const *extra) {
    static int registered = 0;
    if (!registered) atexit(sfx_kill_live), registered = 1;
    sfx_kill_live();
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const char *argv[24] = {"clipc", "serve", "--db", db, "--port", "0", "--threads", "1"};
    int argc = 8;
    for (int i = 0; extra && extra[i] && argc < 22; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp("clipc", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    sfx_live = pid;
    sp->pid = pid;
    sp->port = 0;
    char line[512];
    size_t n = 0;
    struct pollfd pf = {fds[0], POLLIN, 0};
    while (n + 1 < sizeof line && poll(&pf, 1, 60000) == 1) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0 || line[n] == '\n') break;
        n++;
    }
    line[n] = 0;
    close(fds[0]);
    const char *p = strstr(line, "http://127.0.0.1:");
    if (p) sp->port = atoi(p + 17);
    REQUIREF(sp->port > 0, "clipc serve did not start: '%s'", line);
}

/* SIGTERM (or SIGINT: sfx_stop_with), then the exit status (0 = clean
 * shutdown; under ASan a leak makes it non-zero). */
static inline int sfx_stop_with(serve_proc *sp, int sig) {
    int status = -1;
    kill(sp->pid, sig);
    waitpid(sp->pid, &status, 0);
    sfx_live = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int sfx_stop(serve_proc *sp) { return sfx_stop_with(sp, SIGTERM); }

/* --------------------------------------------------------- a raw client */

static int sfx_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int sfx_send_all(int fd, const char *buf, size_t n) {
    while (n) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response on a keep-alive connection: status, body (malloc'ed,
 * NUL-terminated) and length, by Content-Length; *closing = 1 when the
 * server said "Connection: close" (may be NULL).  -1 on a broken response. */
static int sfx_read_response_ex(int fd, int *status, char **body, size_t *len, int *closing) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1), *hdr_end = NULL;
    *body = NULL;
    while (!hdr_end) {
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = recv(fd, buf + n, 1, 0); /* byte by byte: never read past this response */
        if (r <= 0) {
            free(buf);
            return -1;
        }
        n++;
        buf[n] = 0;
        if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4)) hdr_end = buf + n;
    }
    *status = atoi(buf + 9);
    if (closing) *closing = strcasestr(buf, "\r\nConnection: close") != NULL;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    long want = cl ? atol(cl + 17) : -1;
    free(buf);
    if (want < 0) return -1;
    char *b = malloc((size_t)want + 1);
    size_t got = 0;
    while (got < (size_t)want) {
        ssize_t r = recv(fd, b + got, (size_t)want - got, 0);
        if (r <= 0) {
            free(b);
            return -1;
        }
        got += (size_t)r;
    }
    b[got] = 0;
    *body = b;
    *len = got;
    return 0;
}

static inline int sfx_read_response(int fd, int *status, char **body, size_t *len) {
    return sfx_read_response_ex(fd, status, body, len, NULL);
}

/* One request on a new connection: the status (-1 when no response came). */
static int sfx_request(int port, const char *method, const char *target, char **body, size_t *len) {
    *body = NULL;
    *len = 0;
    int fd = sfx_connect(port), status = -1;
    if (fd < 0) return -1;
    size_t n = strlen(target) + strlen(method) + 96;
    char *req = malloc(n);
    snprintf(req, n, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method, target);
    if (sfx_send_all(fd, req, strlen(req)) || sfx_read_response(fd, &status, body, len)) status = -1;
    free(req);
    close(fd);
    return status;
}

static inline int sfx_get(int port, const char *target, char **body) {
    size_t len;
    return sfx_request(port, "GET", target, body, &len);
}

/* Percent-encodes s for a query value (unreserved characters kept). */
static inline void sfx_urlencode(const char *s, char *out, size_t cap) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && w + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
            out[w++] = (char)*p;
        else
            w += (size_t)snprintf(out + w, cap - w, "%%%02X", *p);
    }
    out[w] = 0;
}

#endif
