/*
 * test_serve.c — `clipc serve` from the outside (serve_fixture.h): its API
 * answers as `clipc search --json` does, it refuses path traversal and
 * oversized requests, it survives 10,000 requests from a local load
 * generator without errors or memory growth, and its thumbnail cache
 * (clipc_thumbs_*) makes each thumbnail once and keeps its bound.  The
 * browser test is test_serve_browser.c.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>

#include "clipc_index.h"
#include "image/encode_jpeg.h"
#include "serve_fixture.h"

/* GET target, parsed as JSON (status in *status); NULL when not JSON. */
static cJSON *get_json(int port, const char *target, int *status) {
    char *body = NULL;
    *status = sfx_get(port, target, &body);
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    free(body);
    return j;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1e300;
}

/* `clipc search --json` of a text (image = 0) or --image path. */
static cJSON *cli_search(const serve_fx *fx, const char *query, int image, int top) {
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' %s '%s' --top %d --json 2>/dev/null", fx->db,
             image ? "--image" : "", query, top);
    int rc = run_capture(cmd, &out);
    cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
    CHECKF(j != NULL, "clipc search: %d %s", rc, out);
    free(out);
    return j;
}

/* The API's results [from, from+n) equal the CLI's ranks from+1..: the same
 * paths, the same scores (both printed with %.6f). */
static void check_same_results(const cJSON *api, const cJSON *cli, int from, int n, const char *what) {
    const cJSON *ar = cJSON_GetObjectItem(api, "results"), *cr = cJSON_GetObjectItem(cli, "results");
    CHECKF(cJSON_GetArraySize(ar) == n, "%s: %d results, want %d", what, cJSON_GetArraySize(ar), n);
    for (int i = 0; i < n && i < cJSON_GetArraySize(ar); i++) {
        const cJSON *a = cJSON_GetArrayItem(ar, i), *c = cJSON_GetArrayItem(cr, from + i);
        REQUIREF(c, "%s: the CLI has no rank %d", what, from + i + 1);
        CHECKF(!strcmp(jstr(a, "path"), jstr(c, "path")), "%s rank %d: %s vs %s", what, from + i + 1, jstr(a, "path"),
               jstr(c, "path"));
        CHECKF(jnum(a, "score") == jnum(c, "score"), "%s rank %d: score %.6f vs %.6f", what, from + i + 1,
               jnum(a, "score"), jnum(c, "score"));
        CHECK(jnum(a, "rank") == from + i + 1);
        const char *slash = strrchr(jstr(c, "path"), '/');
        CHECK(slash && !strcmp(jstr(a, "name"), slash + 1));
    }
}

TEST(serve_api_equals_clipc_search_json) {
    serve_fx fx;
    sfx_build(&fx);
    serve_proc sp;
    sfx_start(&sp, fx.db, NULL);
    static const char *const queries[] = {"a smiling face", "a red car", "pizza", "a cat"};
    char target[4096], enc[512];
    int st;
    for (int qi = 0; qi < 4; qi++) {
        cJSON *cli = cli_search(&fx, queries[qi], 0, 24);
        sfx_urlencode(queries[qi], enc, sizeof enc);
        snprintf(target, sizeof target, "/api/search?q=%s&k=10", enc);
        cJSON *api = get_json(sp.port, target, &st);
        REQUIREF(st == 200 && api && cli, "%s: HTTP %d", target, st);
        CHECK(!strcmp(jstr(api, "query"), queries[qi]) && !strcmp(jstr(api, "kind"), "text"));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(api, "more")));
        check_same_results(api, cli, 0, 10, queries[qi]);
        cJSON_Delete(api);
        /* Paging: ranks 4..7, and the last page. */
        snprintf(target, sizeof target, "/api/search?q=%s&k=4&offset=3", enc);
        api = get_json(sp.port, target, &st);
        REQUIRE(st == 200 && api);
        check_same_results(api, cli, 3, 4, "offset 3");
        cJSON_Delete(api);
        snprintf(target, sizeof target, "/api/search?q=%s&k=10&offset=20", enc);
        api = get_json(sp.port, target, &st);
        REQUIRE(st == 200 && api);
        check_same_results(api, cli, 20, 4, "offset 20");
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(api, "more")));
        cJSON_Delete(api);
        /* The folder filter: the things of the full ranking, in its order. */
        char folder[600], fenc[1200];
        snprintf(folder, sizeof folder, "%s/things", fx.pics);
        sfx_urlencode(folder, fenc, sizeof fenc);
        snprintf(target, sizeof target, "/api/search?q=%s&k=5&offset=2&folder=%s", enc, fenc);
        api = get_json(sp.port, target, &st);
        REQUIRE(st == 200 && api);
        const cJSON *ar = cJSON_GetObjectItem(api, "results"), *cr = cJSON_GetObjectItem(cli, "results");
        CHECK(cJSON_GetArraySize(ar) == 5);
        int seen = 0, w = 0;
        for (int i = 0; i < cJSON_GetArraySize(cr); i++) {
            const char *p = jstr(cJSON_GetArrayItem(cr, i), "path");
            if (strncmp(p, folder, strlen(folder)) || p[strlen(folder)] != '/') continue;
            if (seen++ < 2 || w >= 5) continue;
            const cJSON *a = cJSON_GetArrayItem(ar, w++);
            CHECKF(a && !strcmp(jstr(a, "path"), p), "folder filter rank %d: %s vs %s", w, a ? jstr(a, "path") : "-", p);
            CHECK(a && jnum(a, "rank") == 2 + w);
        }
        CHECK(seen == 12 && w == 5);
        cJSON_Delete(api);
        /* More like the top result: the stored vector ranks as the CLI's --image search of the file. */
        const cJSON *top = cJSON_GetArrayItem(cr, 0);
        cJSON *img = cli_search(&fx, jstr(top, "path"), 1, 10);
        snprintf(target, sizeof target, "/api/search?q=%s&k=1", enc);
        api = get_json(sp.port, target, &st);
        REQUIRE(api);
        long long id = (long long)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(api, "results"), 0), "id");
        cJSON_Delete(api);
        snprintf(target, sizeof target, "/api/similar?id=%lld&k=10", id);
        api = get_json(sp.port, target, &st);
        REQUIRE(st == 200 && api && img);
        CHECK(!strcmp(jstr(api, "kind"), "image") && jnum(api, "query") == (double)id);
        check_same_results(api, img, 0, 10, "similar");
        const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(api, "results"), 0);
        CHECK(jnum(a0, "id") == (double)id);
        CHECK_NEAR(jnum(a0, "score"), 1.0, 1e-5);
        cJSON_Delete(api);
        cJSON_Delete(img);
        cJSON_Delete(cli);
    }
    /* Folders and the escaped name; the image and its thumbnail by id. */
    cJSON *f = get_json(sp.port, "/api/folders", &st);
    REQUIRE(st == 200 && f);
    CHECK(jnum(f, "images") == 24);
    const cJSON *fl = cJSON_GetObjectItem(f, "folders");
    char want[600];
    snprintf(want, sizeof want, "%s/faces", fx.pics);
    CHECK(cJSON_GetArraySize(fl) == 2 && !strcmp(cJSON_GetArrayItem(fl, 0)->valuestring, want));
    cJSON_Delete(f);
    cJSON *all = get_json(sp.port, "/api/search?q=anything&k=24", &st);
    REQUIRE(st == 200 && all);
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(all, "results")) {
        if (strcmp(jstr(it, "name"), "we\"ird <b>&amp; 1f3b8.png")) continue;
        found = 1;
        CHECK(!strcmp(jstr(it, "path"), fx.paths[23]));
        snprintf(target, sizeof target, "/image/%lld", (long long)jnum(it, "id"));
        char *body, *file;
        size_t len, flen;
        CHECK(sfx_request(sp.port, "GET", target, &body, &len) == 200);
        REQUIRE_OK(clipc_read_file(fx.paths[23], &file, &flen));
        CHECK(body && len == flen && !memcmp(body, file, len));
        free(body);
        free(file);
        snprintf(target, sizeof target, "/thumb/%lld", (long long)jnum(it, "id"));
        CHECK(sfx_request(sp.port, "GET", target, &body, &len) == 200);
        clipc_image im;
        REQUIRE_OK(clipc_image_decode(body, len, "thumb.jpg", &im));
        CHECK(im.width == 32 && im.height == 32 && im.channels == 3 && (uint8_t)body[0] == 0xff);
        clipc_image_free(&im);
        free(body);
    }
    CHECK(found);
    cJSON_Delete(all);
    CHECK(sfx_stop(&sp) == 0);
}

/* The raw request targets refused, with their status. */
TEST(serve_refuses_traversal_and_oversized_queries) {
    serve_fx fx;
    sfx_build(&fx);
    char secret[600];
    snprintf(secret, sizeof secret, "%s/secret.txt", fx.pics); /* beside the images, not indexed */
    REQUIRE_OK(clipc_write_file_atomic(secret, "TOPSECRET", 9));
    serve_proc sp;
    sfx_start(&sp, fx.db, NULL);
    char longq[700], target[8000];
    memset(longq, 'a', 600);
    longq[600] = 0;
    static const struct {
        const char *target;
        int status;
    } cases[] = {
        {"/image/../../../../etc/passwd", 404},
        {"/image/..%2f..%2f..%2fetc%2fpasswd", 404},
        {"/image/%2e%2e/%2e%2e/etc/passwd", 404},
        {"/image/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", 404},
        {"/%2e%2e/%2e%2e/etc/passwd", 404},
        {"/thumb/..%5c..%5cetc%5cpasswd", 404},
        {"/image//etc/passwd", 404},
        {"/image/%2fetc%2fpasswd", 404},
        {"//etc/passwd", 404},
        {"/etc/passwd", 404},
        {"/image/secret.txt", 404},
        {"/image/1%00.jpg", 400},
        {"/thumb/1%00", 400},
        {"/api/search?q=a%00b", 400},
        {"/image/999999", 404},
        {"/image/-1", 404},
        {"/image/+1", 404},
        {"/image/1.0", 404},
        {"/image/0x1", 404},
        {"/image/", 404},
        {"/thumb/99999999999999999999", 404},
        {"/api/similar?id=999999", 404},
        {"/api/similar?id=-3", 400},
        {"/api/search", 400},
        {"/api/search?q=", 400},
        {"/api/search?q=%20%20", 400},
        {"/api/search?q=cat&k=0", 400},
        {"/api/search?q=cat&k=101", 400},
        {"/api/search?q=cat&k=ten", 400},
        {"/api/search?q=cat&offset=-1", 400},
        {"/api/search?q=%ff%fe", 400},
    };
    char *body;
    size_t len;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = sfx_request(sp.port, "GET", cases[i].target, &body, &len);
        CHECKF(st == cases[i].status, "%s: HTTP %d, want %d (%s)", cases[i].target, st, cases[i].status,
               body ? body : "");
        CHECKF(body && !strstr(body, "root:") && !strstr(body, "TOPSECRET"), "%s leaked a file", cases[i].target);
        cJSON *j = body ? cJSON_Parse(body) : NULL; /* every refusal is a JSON {"error": ...} */
        CHECKF(j && *jstr(j, "error"), "%s: not a JSON error: %s", cases[i].target, body ? body : "");
        cJSON_Delete(j);
        free(body);
    }
    /* Oversized: a 600-byte query (413), a 5000-byte request target (414). */
    snprintf(target, sizeof target, "/api/search?q=%s", longq);
    CHECK(sfx_request(sp.port, "GET", target, &body, &len) == 413);
    CHECKF(body && strstr(body, "\"q is longer than 512 bytes\""), "%s", body ? body : "");
    free(body);
    memset(target, 'b', 5000);
    memcpy(target, "/api/search?q=", 14);
    target[5000] = 0;
    CHECK(sfx_request(sp.port, "GET", target, &body, &len) == 414);
    free(body);
    CHECK(sfx_request(sp.port, "POST", "/api/search?q=cat", &body, &len) == 405);
    free(body);
    /* The id of an indexed image still works after all that. */
    CHECK(sfx_request(sp.port, "GET", "/api/search?q=cat&k=1", &body, &len) == 200);
    free(body);
    CHECK(sfx_stop_with(&sp, SIGINT) == 0); /* Ctrl-C stops it as cleanly as SIGTERM */
}

/* ------------------------------------------------------- the load test */

#if defined(__SANITIZE_ADDRESS__)
#define SERVE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SERVE_SANITIZED 1
#endif
#endif

typedef struct {
    int port, worker, workers, total;
    const long long *ids;
    int n_ids;
    int done, errors;
    char first_error[400];
} load_worker;

/* Request i of the mix: searches (4 in 10), similar, thumbnails (3), folders,
 * original images; every 50th a traversal attempt.  *want: the status. */
static void load_target(const load_worker *w, int i, char *t, size_t cap, int *want) {
    static const char *const qs[] = {"a+smiling+face", "a+red+car", "pizza", "a+cat", "a+house%20with+a+roof"};
    long long id = w->ids[(unsigned)i * 7u % (unsigned)w->n_ids];
    *want = 200;
    if (i % 50 == 49) {
        snprintf(t, cap, "/image/..%%2f..%%2f..%%2fetc%%2fpasswd");
        *want = 404;
        return;
    }
    switch (i % 10) {
    case 0: case 1: case 2: case 3:
        snprintf(t, cap, "/api/search?q=%s&k=12&offset=%d", qs[i % 5], (i / 10 % 3) * 4);
        break;
    case 4: snprintf(t, cap, "/api/similar?id=%lld&k=8", id); break;
    case 5: case 6: case 7: snprintf(t, cap, "/thumb/%lld", id); break;
    case 8: snprintf(t, cap, "/api/folders"); break;
    default: snprintf(t, cap, "/image/%lld", id); break;
    }
}

/* One keep-alive connection making requests worker, worker + workers, ... */
static void *load_run(void *arg) {
    load_worker *w = arg;
    int fd = -1;
    char target[256], req[512];
    for (int i = w->worker; i < w->total; i += w->workers) {
        int want, status = -1, closing = 0;
        load_target(w, i, target, sizeof target, &want);
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target);
        if (fd < 0) fd = sfx_connect(w->port);
        char *body = NULL;
        size_t len = 0;
        int bad = fd < 0 || sfx_send_all(fd, req, strlen(req)) ||
                  sfx_read_response_ex(fd, &status, &body, &len, &closing) || status != want ||
                  (want == 200 && len == 0);
        if (bad) {
            if (!w->errors)
                snprintf(w->first_error, sizeof w->first_error, "request %d %s: status %d (want %d)", i, target,
                         status, want);
            w->errors++;
        }
        free(body);
        w->done++;
        if (bad || closing) {
            if (fd >= 0) close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* Runs total requests over `conns` connections; returns the errors. */
static int load(int port, int conns, int total, const long long *ids, int n_ids, int *done, char *first, size_t cap) {
    load_worker w[16];
    pthread_t th[16];
    int errors = 0;
    *done = 0;
    for (int i = 0; i < conns; i++) {
        w[i] = (load_worker){port, i, conns, total, ids, n_ids, 0, 0, ""};
        pthread_create(&th[i], NULL, load_run, &w[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        *done += w[i].done;
        if (w[i].errors && !errors) snprintf(first, cap, "%s", w[i].first_error);
        errors += w[i].errors;
    }
    return errors;
}

/* VmRSS of pid in kB (/proc: its size reads as 0, so line by line). */
static long rss_kb(pid_t pid) {
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static long long dir_bytes(const char *dir, int *files) {
    char cmd[700], *out;
    snprintf(cmd, sizeof cmd, "find '%s' -type f -name '*.jpg' -printf '%%s\\n'", dir);
    long long sum = 0;
    *files = 0;
    if (run_capture(cmd, &out) == 0)
        for (char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) sum += atoll(l), ++*files;
    free(out);
    return sum;
}

TEST(serve_survives_10000_requests_without_growth) {
    serve_fx fx;
    sfx_build(&fx);
    serve_proc sp;
    sfx_start(&sp, fx.db, NULL);
    int st;
    cJSON *all = get_json(sp.port, "/api/search?q=x&k=24", &st);
    REQUIRE(st == 200 && all);
    long long ids[24];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(all, "results")) if (n < 24) ids[n++] = (long long)jnum(it, "id");
    cJSON_Delete(all);
    REQUIRE(n == 24);
    char first[400] = "";
    int done;
    /* Warm-up: every thumbnail made, every code path and both server threads' allocator arenas used. */
    int errors = load(sp.port, 8, 1000, ids, n, &done, first, sizeof first);
    CHECKF(errors == 0 && done == 1000, "warm-up: %d errors of %d: %s", errors, done, first);
    char thumbs[600];
    snprintf(thumbs, sizeof thumbs, "%s.thumbs", fx.db);
    int files0, files1;
    long long cache0 = dir_bytes(thumbs, &files0);
    CHECKF(files0 == 24, "%d thumbnails cached after the warm-up, want 24", files0);
    long rss0 = rss_kb(sp.pid);
    const int total = 10000;
    double t0 = clipc_now();
    errors = load(sp.port, 8, total, ids, n, &done, first, sizeof first);
    double secs = clipc_now() - t0;
    long rss1 = rss_kb(sp.pid);
    long long cache1 = dir_bytes(thumbs, &files1);
    CHECKF(errors == 0 && done == total, "%d errors in %d requests: %s", errors, done, first);
    printf("  [serve load: %d requests over 8 connections in %.2f s (%.0f/s); RSS %ld -> %ld kB; thumbnail cache "
           "%lld -> %lld bytes]\n", done, secs, done / secs, rss0, rss1, cache0, cache1);
    CHECK(rss0 > 0 && rss1 > 0);
    CHECK(files1 == files0 && cache1 == cache0); /* nothing re-made: the cache served them */
#ifndef SERVE_SANITIZED /* ASan's quarantine keeps freed memory on purpose: no RSS bound there */
    /* The thumbnails live on disk, not in the server: after the warm-up
     * its memory must not grow (1 MiB of slack for allocator noise). */
    CHECKF(rss1 - rss0 <= 1024, "RSS grew by %ld kB over %d requests", rss1 - rss0, total);
#endif
    CHECK(sfx_stop(&sp) == 0);
}

/* ---------------------------------------------------- the thumbnail cache */

/* A w x h JPEG of a gradient (seeded) at path; its pixels in *img. */
static void write_jpeg(const char *path, int w, int h, int seed, clipc_image *img) {
    img->width = w, img->height = h, img->channels = 3, img->nearest = 0;
    img->data = malloc((size_t)w * h * 3);
    uint32_t r = (uint32_t)seed * 2654435761u;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                r = r * 1664525u + 1013904223u;
                img->data[((size_t)y * w + x) * 3 + c] = (uint8_t)((x * (c + 1) + y * (3 - c) + seed * 40) / 2 + (r >> 29));
            }
    uint8_t *jpeg;
    size_t len;
    REQUIRE_OK(jpeg_encode(img, 95, &jpeg, &len));
    REQUIRE_OK(clipc_write_file_atomic(path, jpeg, len));
    free(jpeg);
}

TEST(serve_thumbs_made_once_and_bounded) {
    const char *tmp = test_tmpdir();
    char src[512], dir[512];
    snprintf(dir, sizeof dir, "%s/cache", tmp);
    snprintf(src, sizeof src, "%s/big.jpg", tmp);
    clipc_image orig;
    write_jpeg(src, 300, 200, 1, &orig);
    clipc_thumbs *t;
    CHECK(clipc_thumbs_open(dir, 8, 1 << 20, &t) == CLIPC_ERR_RANGE);
    CHECK(strstr(clipc_last_error(), "thumbnail size 8 outside 16..1024") != NULL);
    REQUIRE_OK(clipc_thumbs_open(dir, 128, 65536, &t));
    uint8_t *a, *b;
    size_t la, lb;
    int made;
    REQUIRE_OK(clipc_thumbs_get(t, src, &a, &la, &made));
    CHECK(made == 1 && clipc_thumbs_bytes(t) == (int64_t)la);
    clipc_image th;
    REQUIRE_OK(clipc_image_decode(a, la, "t.jpg", &th));
    CHECKF(th.width == 128 && th.height == 85 && th.channels == 3, "%dx%dx%d", th.width, th.height, th.channels);
    /* The thumbnail looks like the picture: mean colour within 3 levels. */
    for (int c = 0; c < 3; c++) {
        double m0 = 0, m1 = 0;
        for (int i = 0; i < 300 * 200; i++) m0 += orig.data[i * 3 + c];
        for (int i = 0; i < th.width * th.height; i++) m1 += th.data[i * 3 + c];
        CHECK_NEAR(m1 / (th.width * th.height), m0 / (300 * 200), 3.0);
    }
    clipc_image_free(&th);
    clipc_image_free(&orig);
    REQUIRE_OK(clipc_thumbs_get(t, src, &b, &lb, &made));
    CHECK(made == 0 && lb == la && !memcmp(a, b, la));
    free(b);
    /* A changed file (new mtime) gets a new thumbnail. */
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    REQUIRE(utimensat(AT_FDCWD, src, ts, 0) == 0);
    REQUIRE_OK(clipc_thumbs_get(t, src, &b, &lb, &made));
    CHECK(made == 1 && lb == la && !memcmp(a, b, la));
    free(a);
    free(b);
    /* 40 more images: the folder never holds more than the bound. */
    int files;
    for (int i = 0; i < 40; i++) {
        snprintf(src, sizeof src, "%s/img%d.jpg", tmp, i);
        write_jpeg(src, 256, 256, i + 2, &orig);
        clipc_image_free(&orig);
        REQUIRE_OK(clipc_thumbs_get(t, src, &a, &la, &made));
        free(a);
        CHECK(made == 1 && dir_bytes(dir, &files) <= 65536 && clipc_thumbs_bytes(t) <= 65536);
    }
    CHECKF(dir_bytes(dir, &files) == clipc_thumbs_bytes(t), "%lld on disk, %lld counted", dir_bytes(dir, &files),
           (long long)clipc_thumbs_bytes(t));
    CHECK(files >= 3 && files < 41);
    clipc_thumbs_close(t);
    /* Reopened: the count is read from the folder; a missing image is an error naming it. */
    REQUIRE_OK(clipc_thumbs_open(dir, 128, 65536, &t));
    CHECK(clipc_thumbs_bytes(t) == dir_bytes(dir, &files));
    snprintf(src, sizeof src, "%s/gone.jpg", tmp);
    CHECK(clipc_thumbs_get(t, src, &a, &la, &made) == CLIPC_ERR_IO && strstr(clipc_last_error(), "gone.jpg"));
    clipc_thumbs_close(t);
}

/* Usage and start-up errors: exit status and message. */
TEST(serve_cli_errors) {
    serve_fx fx;
    sfx_build(&fx);
    char cmd[2048], other[600], *out;
    int rc = run_capture("clipc serve 2>&1", &out);
    CHECKF(rc == 2 && strstr(out, "clipc serve: --db FILE is required"), "%d %s", rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "clipc serve --db '%s/none.db' 2>&1", test_tmpdir());
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "none.db: no such index (run clipc index first)"), "%d %s", rc, out);
    free(out);
    /* Another model than the index's is refused (its embeddings would not match). */
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0},
                        CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 12, &m));
    snprintf(other, sizeof other, "%s/other.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, other));
    clipc_model_free(m);
    snprintf(cmd, sizeof cmd, "clipc serve --db '%s' --model '%s' --port 0 2>&1", fx.db, other);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "changed since it was indexed"), "%d %s", rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "clipc serve --db '%s' --host localhost --port 0 2>&1", fx.db);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "--host localhost: not an IPv4 address"), "%d %s", rc, out);
    free(out);
    /* A port in use: a clear error, not a hang. */
    serve_proc sp;
    sfx_start(&sp, fx.db, NULL);
    snprintf(cmd, sizeof cmd, "clipc serve --db '%s' --port %d 2>&1", fx.db, sp.port);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "cannot listen on 127.0.0.1:"), "%d %s", rc, out);
    free(out);
    CHECK(sfx_stop(&sp) == 0);
}

/* A `clipc index` run while the server runs: the next request sees it. */
TEST(serve_follows_a_reindex) {
    serve_fx fx;
    sfx_build(&fx);
    serve_proc sp;
    sfx_start(&sp, fx.db, NULL);
    int st;
    cJSON *f = get_json(sp.port, "/api/folders", &st);
    CHECK(st == 200 && f && jnum(f, "images") == 24);
    cJSON_Delete(f);
    char p[800], cmd[2048], *out;
    snprintf(p, sizeof p, "%s/faces/new 1f607.png", fx.pics);
    sfx_copy("data/emoji-mini/twemoji/1f607.png", p);
    REQUIRE(unlink(fx.paths[0]) == 0);
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' 2>&1", fx.pics, fx.model, fx.db);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "clipc index: %s", out);
    free(out);
    f = get_json(sp.port, "/api/folders", &st);
    CHECK(st == 200 && f && jnum(f, "images") == 24);
    cJSON_Delete(f);
    cJSON *all = get_json(sp.port, "/api/search?q=face&k=100", &st);
    REQUIRE(st == 200 && all);
    int has_new = 0, has_gone = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(all, "results")) {
        has_new |= !strcmp(jstr(it, "path"), p);
        has_gone |= !strcmp(jstr(it, "path"), fx.paths[0]);
    }
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(all, "results")) == 24 && has_new && !has_gone);
    cJSON_Delete(all);
    CHECK(sfx_stop(&sp) == 0);
}
