/*
 * test_inputs.c — inputs that used to be wrong without a word: a NUL byte in
 * a tokenize line or a labels file, invalid recorded head counts, an empty
 * search query and control characters in plain-text result names, an
 * unreadable subfolder under `clipc index`, a read-only index under search,
 * and an image whose aspect ratio would make a huge resize target.
 */
#include <dirent.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_index.h"
#include "clipc_labels.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

static void write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    REQUIRE(fwrite(data, 1, n, f) == n);
    REQUIRE(fclose(f) == 0);
}

/* A w x h RGB PNG (libspng), pixels from seed. */
static void write_png(const char *path, int w, int h, unsigned seed) {
    uint8_t *px = malloc((size_t)w * h * 3);
    REQUIRE(px);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) px[i] = (uint8_t)(i * (seed % 7 + 1) + seed * 37);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    FILE *f = fopen(path, "wb");
    REQUIRE(ctx && f);
    spng_set_png_file(ctx, f);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
    spng_set_ihdr(ctx, &ihdr);
    REQUIRE(spng_encode_image(ctx, px, (size_t)w * h * 3, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE) == 0);
    spng_ctx_free(ctx);
    fclose(f);
    free(px);
}

static const clipc_config small_cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};

static void make_model(const char *path) {
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&small_cfg, 7, &m));
    REQUIRE_OK(clipc_model_save(m, path));
    clipc_model_free(m);
}

/* ------------------------------------------------------------- 1. NUL bytes */

TEST(inputs_tokenize_refuses_a_nul_byte) {
    const char *dir = test_tmpdir();
    char in[512], cmd[1200], *out;
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    /* Line 1: a raw NUL inside the string; 2: the escape \u0000; 3: an escaped
     * backslash then "u0000" (no NUL); 4: plain. */
    static const char data[] = "{\"text\": \"a\0b\"}\n{\"text\": \"a\\u0000b\"}\n{\"text\": \"a\\\\u0000\"}\n"
                               "{\"text\": \"a b\"}\n";
    write_bytes(in, data, sizeof data - 1);
    snprintf(cmd, sizeof cmd, "clipc tokenize < '%s'", in);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1, "exit status %d", rc);
    const char *l2 = strchr(out, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    REQUIREF(l2 && l3, "output:\n%s", out);
    CHECKF(!strncmp(out, "{\"line\":1,\"error\":\"a NUL byte in the text", 41), "output:\n%s", out);
    CHECKF(!strncmp(l2 + 1, "{\"line\":2,\"error\":\"a NUL byte in the text", 41), "output:\n%s", out);
    CHECKF(!strncmp(l3 + 1, "{\"ids\": [", 9) && strstr(l3, "\n{\"ids\": [320, 321]}\n"), "output:\n%s", out);
    free(out);
}

TEST(inputs_labels_file_refuses_a_nul_byte) {
    const char *dir = test_tmpdir();
    char lab[512], mp[512], img[512], csv[512], cmd[2000], *out;
    snprintf(lab, sizeof lab, "%s/labels.txt", dir);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    snprintf(img, sizeof img, "%s/a.png", dir);
    write_bytes(lab, "cat\ndog\0x\nbird\n", 15);
    make_model(mp);
    write_png(img, 20, 20, 1);
    snprintf(cmd, sizeof cmd, "clipc classify --model '%s' --labels-file '%s' '%s' 2>&1", mp, lab, img);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "labels.txt:2: a NUL byte in the text"), "rc %d, output:\n%s", rc, out);
    CHECKF(!strstr(out, "%"), "classified anyway:\n%s", out);
    free(out);
    /* The library's labels CSV (eval --labels-csv) too. */
    snprintf(csv, sizeof csv, "%s/l.csv", dir);
    write_bytes(csv, "image,label\na.png,cat\nb.png,do\0g\n", 33);
    clipc_labels L = {0};
    CHECK(clipc_labels_read_csv(csv, NULL, &L) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "l.csv:3: a NUL byte in the text"), "%s", clipc_last_error());
    clipc_labels_free(&L);
}

/* ------------------------------------------------------ 2. recorded heads */

/* m's tensors with metadata meta (key, value, ..., NULL). */
static void write_with_meta(const clipc_model *m, const char *path, const char *const *meta) {
    st_out_tensor *t = calloc((size_t)m->tab.n, sizeof *t);
    REQUIRE(t);
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = m->params + p->offset;
    }
    REQUIRE_OK(st_write(path, t, m->tab.n, meta));
    free(t);
}

TEST(inputs_invalid_recorded_heads_are_errors) {
    const char *dir = test_tmpdir();
    char p[512], want[256];
    snprintf(p, sizeof p, "%s/h.safetensors", dir);
    clipc_model *m, *l;
    REQUIRE_OK(clipc_model_create(&small_cfg, 1, &m)); /* widths 16 and 16 */
    static const char *const bad[] = {"0", "-1", "12345678901234567890", "3", "32", "2.5", "\"2\"", "[2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int text = 0; text < 2; text++) {
            const char *key = text ? "transformer_heads" : "vision_heads";
            const char *meta[] = {key, bad[i], text ? "vision_heads" : "transformer_heads", "2", NULL};
            write_with_meta(m, p, meta);
            CHECKF(clipc_model_load(p, NULL, &l) == CLIPC_ERR_FORMAT, "%s = %s loaded", key, bad[i]);
            snprintf(want, sizeof want, "h.safetensors: metadata %s '%s' is not a valid head count for width 16", key,
                     bad[i]);
            CHECKF(strstr(clipc_last_error(), want), "%s = %s: %s", key, bad[i], clipc_last_error());
        }
    /* Valid counts load; "null" still means not recorded (width/64 rule). */
    const char *ok[] = {"vision_heads", "4", "transformer_heads", "16", "act", "quickgelu", NULL};
    write_with_meta(m, p, ok);
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    CHECK(l->cfg.vision_heads == 4 && l->cfg.transformer_heads == 16);
    clipc_model_free(l);
    const char *nul[] = {"vision_heads", "null", "transformer_heads", "2", "act", "quickgelu", NULL};
    write_with_meta(m, p, nul);
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    CHECK(l->cfg.vision_heads == 1 && l->cfg.transformer_heads == 2);
    clipc_model_free(l);
    clipc_model_free(m);
}

/* ------------------------------------------- 3. empty query, escaped names */

TEST(inputs_search_refuses_an_empty_query_and_escapes_names) {
    const char *dir = test_tmpdir();
    char d[512], p[700], db[512], mp[512], cmd[3000], *out;
    snprintf(d, sizeof d, "%s/imgs", dir);
    REQUIRE(mkdir(d, 0755) == 0);
    snprintf(p, sizeof p, "%s/x\ny.png", d);
    write_png(p, 24, 24, 1);
    snprintf(p, sizeof p, "%s/back\\slash\t.png", d);
    write_png(p, 24, 24, 2);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    make_model(mp);
    snprintf(db, sizeof db, "%s/index.db", dir);
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' 2>&1", d, mp, db);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "index: %s", out);
    free(out);
    static const char *const empty[] = {"''", "'   '", "'\t\n'"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "clipc search --db '%s' %s 2>&1", db, empty[i]);
        rc = run_capture(cmd, &out);
        CHECKF(rc == 2 && strstr(out, "the query text is empty"), "query %s: rc %d: %s", empty[i], rc, out);
        free(out);
    }
    /* Plain text: one line per result, the newline and tab escaped, the backslash doubled. */
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' 'a photo'", db);
    rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "search: %s", out);
    int lines = 0;
    for (const char *q = out; *q; q++) lines += *q == '\n';
    CHECKF(lines == 2 && strstr(out, "/x\\ny.png\n") && strstr(out, "/back\\\\slash\\t.png\n"), "output:\n%s", out);
    free(out);
    /* classify, the same; a label with a tab too. */
    snprintf(cmd, sizeof cmd, "clipc classify --model '%s' --labels 'c\tt,dog' --top 2 '%s/x\ny.png'", mp, d);
    rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "classify: %s", out);
    lines = 0;
    for (const char *q = out; *q; q++) lines += *q == '\n';
    CHECKF(lines == 3 && strstr(out, "/x\\ny.png\n") && strstr(out, "%  c\\tt\n"), "output:\n%s", out);
    free(out);
}

/* ------------------------------------- 4. unreadable folders, read-only index */

/* Root reads every folder and writes every file whatever the mode bits: the
 * permission checks below then run with the effective ids of nobody (the
 * saved set-user-ID stays 0, so as_user(0) comes back).  Returns 0 when the
 * switch is not possible (then the mode bits are tested as they are). */
static int as_user(uid_t uid) {
    if (getuid() != 0) return geteuid() != 0;
    if (uid == 0) return seteuid(0) == 0 && setegid(0) == 0;
    if (setegid((gid_t)uid) != 0 || seteuid(uid) != 0) return 0;
    /* In a chroot whose root folder is 0700 (or under a 0700 parent) the
     * unprivileged user cannot reach the test folder at all: no test then. */
    DIR *probe = opendir(test_tmpdir()); /* with the effective ids, unlike access() */
    if (probe) closedir(probe);
    if (!probe) {
        if (seteuid(0) == 0 && setegid(0) == 0)
            printf("    note: an unprivileged user cannot reach the test folder here\n");
        return 0;
    }
    return 1;
}

static void on_failed(const char *path, const char *msg, void *ud) {
    (void)path;
    snprintf(ud, 1024, "%s", msg);
}

TEST(inputs_index_skips_an_unreadable_subfolder) {
    const char *dir = test_tmpdir();
    char d[512], p[700], db[512], mp[512], msg[1024] = "";
    snprintf(d, sizeof d, "%s/imgs", dir);
    snprintf(p, sizeof p, "%s/sub", d);
    REQUIRE(mkdir(d, 0777) == 0 && mkdir(p, 0777) == 0 && chmod(dir, 0777) == 0);
    snprintf(p, sizeof p, "%s/a.png", d);
    write_png(p, 20, 20, 1);
    snprintf(p, sizeof p, "%s/sub/b.png", d);
    write_png(p, 20, 20, 2);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    make_model(mp);
    snprintf(db, sizeof db, "%s/index.db", dir);
    clipc_model *m;
    REQUIRE_OK(clipc_model_load(mp, NULL, &m));
    clipc_index_opts o = {2, NULL, on_failed, NULL, msg, NULL, NULL};
    clipc_index_stats st;
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    REQUIRE(st.added == 2 && st.skipped_folders == 0);
    snprintf(p, sizeof p, "%s/sub", d);
    REQUIRE(chmod(p, 0) == 0);
    snprintf(p, sizeof p, "%s/c.png", d);
    write_png(p, 20, 20, 3);
    /* As nobody (when root): the index files must be nobody's to write. */
    chmod(db, 0666);
    snprintf(p, sizeof p, "%s-wal", db);
    chmod(p, 0666);
    snprintf(p, sizeof p, "%s-shm", db);
    chmod(p, 0666);
    snprintf(p, sizeof p, "%s.vec", db);
    chmod(p, 0666);
    chmod(d, 0777);
    int can = as_user(65534);
    clipc_status s = can ? clipc_index_update(db, d, m, mp, &o, &st) : CLIPC_OK;
    char err[512];
    snprintf(err, sizeof err, "%s", s ? clipc_last_error() : "");
    REQUIRE(as_user(0) || getuid() != 0);
    snprintf(p, sizeof p, "%s/sub", d);
    chmod(p, 0755);
    clipc_model_free(m);
    if (!can) harness_skip("cannot make a folder unreadable here (no unprivileged user can reach the test folder)");
    CHECKF(s == CLIPC_OK, "index: %s", err);
    CHECKF(st.skipped_folders == 1 && st.added == 1 && st.removed == 0 && st.unchanged == 1 && st.failed == 0,
           "added %d removed %d unchanged %d failed %d skipped_folders %d", st.added, st.removed, st.unchanged,
           st.failed, st.skipped_folders);
    CHECKF(strstr(msg, "/imgs/sub: Permission denied (a folder that cannot be read: skipped"), "warning: %s", msg);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

TEST(inputs_search_opens_the_index_read_only) {
    const char *dir = test_tmpdir();
    char d[512], p[700], ro[512], db[600], mp[512], *out;
    snprintf(d, sizeof d, "%s/imgs", dir);
    snprintf(ro, sizeof ro, "%s/ro", dir);
    REQUIRE(mkdir(d, 0755) == 0 && mkdir(ro, 0755) == 0 && chmod(dir, 0755) == 0);
    snprintf(p, sizeof p, "%s/a.png", d);
    write_png(p, 20, 20, 1);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    make_model(mp);
    snprintf(db, sizeof db, "%s/index.db", ro);
    clipc_model *m;
    REQUIRE_OK(clipc_model_load(mp, NULL, &m));
    clipc_index_stats st;
    REQUIRE_OK(clipc_index_update(db, d, m, mp, NULL, &st));
    clipc_model_free(m);
    /* The index, its folder and its matrix made read-only; the search runs as
     * nobody when root (root writes whatever the mode bits say). */
    snprintf(p, sizeof p, "%s.vec", db);
    REQUIRE(chmod(db, 0444) == 0 && chmod(p, 0444) == 0 && chmod(ro, 0555) == 0);
    long size = file_size(db);
    int can = as_user(65534);
    clipc_index *ix = NULL;
    clipc_status s = can ? clipc_index_open(db, &ix) : CLIPC_OK;
    char err[512] = "", *mpath = NULL;
    float q[20] = {1}, score = 0;
    char *path = NULL;
    int got = 0;
    if (!s && ix) s = clipc_index_meta(ix, "model_path", &mpath);
    if (!s && ix) s = clipc_index_search(ix, q, 20, 1, &score, &path, &got);
    if (s) snprintf(err, sizeof err, "%s", clipc_last_error());
    clipc_index_close(ix);
    REQUIRE(as_user(0) || getuid() != 0);
    chmod(ro, 0755);
    if (can) {
        CHECKF(s == CLIPC_OK && got == 1 && path && strstr(path, "/a.png") && mpath && !strcmp(mpath, mp),
               "search of a read-only index: %s", err);
        snprintf(p, sizeof p, "%s-wal", db);
        CHECKF(access(p, F_OK) != 0, "a -wal file was made");
        CHECK(file_size(db) == size);
    }
    free(path);
    free(mpath);
    /* Wherever it runs: a read-only open creates and writes nothing.  A
     * missing index is not created; an empty SQLite file gets no tables. */
    snprintf(db, sizeof db, "%s/none.db", dir);
    CHECK(clipc_index_open(db, &ix) != CLIPC_OK && !ix);
    CHECKF(access(db, F_OK) != 0, "search created %s", db);
    snprintf(db, sizeof db, "%s/empty.db", dir);
    write_bytes(db, "", 0);
    CHECK(clipc_index_open(db, &ix) != CLIPC_OK && !ix);
    CHECKF(strstr(clipc_last_error(), "not a clipc index"), "%s", clipc_last_error());
    CHECKF(file_size(db) == 0, "search wrote %ld bytes into an empty file", file_size(db));
    /* Through the CLI. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' 'a dog' 2>&1", db);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "not a clipc index") && file_size(db) == 0, "rc %d: %s", rc, out);
    free(out);
    if (!can)
        harness_skip("the read-only folder part needs a user without root's rights "
                     "(no unprivileged user can reach the test folder here)");
}

/* ------------------------------------------------- 5. extreme aspect ratios */

TEST(inputs_image_aspect_ratio_is_limited) {
    const char *dir = test_tmpdir();
    char p[512], want[600];
    clipc_image img;
    /* The reporter's 1 x 65535 PNG (a few hundred bytes): refused at decode,
     * before a pixel is allocated. */
    snprintf(p, sizeof p, "%s/thin.png", dir);
    write_png(p, 1, 65535, 1);
    CHECKF(file_size(p) < 200000, "thin.png is %ld bytes", file_size(p));
    double t0 = clipc_now();
    CHECK(clipc_image_load(p, &img) == CLIPC_ERR_RANGE);
    snprintf(want, sizeof want, "%s: 1 x 65535 pixels: aspect ratio over 1:1000 (limit: the longer side at most 1000", p);
    CHECKF(strstr(clipc_last_error(), want), "%s", clipc_last_error());
    CHECKF(clipc_now() - t0 < 1.0, "took %.2f s", clipc_now() - t0);
    /* The same through the CLI: the image named, nothing embedded. */
    char mp[512], cmd[1400], *out;
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    make_model(mp);
    snprintf(cmd, sizeof cmd, "clipc classify --model '%s' --labels a,b '%s' 2>&1", mp, p);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "thin.png: 1 x 65535 pixels: aspect ratio over 1:1000"), "rc %d: %s", rc, out);
    free(out);
    /* 1000:1 exactly still loads (and preprocesses); 1001:1 does not. */
    snprintf(p, sizeof p, "%s/wide.png", dir);
    write_png(p, 2000, 2, 2);
    REQUIRE_OK(clipc_image_load(p, &img));
    float *x = malloc(sizeof(float) * 3 * 16 * 16);
    REQUIRE(x);
    CHECK(clipc_preprocess(&img, 16, x, NULL) == CLIPC_OK);
    clipc_image_free(&img);
    write_png(p, 1001, 1, 3);
    CHECK(clipc_image_load(p, &img) == CLIPC_ERR_RANGE);
    /* An image built in memory: preprocess applies the same limit. */
    uint8_t px[1001] = {0};
    clipc_image mem = {.width = 1, .height = 1001, .channels = 1, .data = px};
    CHECK(clipc_preprocess(&mem, 16, x, NULL) == CLIPC_ERR_RANGE);
    CHECKF(strstr(clipc_last_error(), "1 x 1001 pixels: aspect ratio over 1:1000"), "%s", clipc_last_error());
    free(x);
}
