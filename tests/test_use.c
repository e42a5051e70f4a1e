/*
 * test_use.c — using a model: SHA-256 vectors, exact top-k over the matrix
 * file, retrieval metrics from embeddings on a hand-computed 4x4 case,
 * prompt ensembling and class probabilities, the incremental index
 * (exactly the changed files re-embedded; search follows), search output
 * (JSON, grid PNG, HTML; a headless-Chromium screenshot in --slow), bulk
 * encode to .npy, and the installed library + example program.
 */
#include <cJSON.h>
#include <math.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/vecfile.h"
#include "index/index.h"
#include "kernels/onednn.h"
#include "harness.h"


/* A w x h RGB PNG whose pixels depend on seed (distinct seeds: distinct images). */
static void write_png(const char *path, int w, int h, unsigned seed) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * w + x) * 3 + c] = (uint8_t)((x * (seed % 7 + 1) + y * (seed % 5 + 2) + c * 50 + seed * 37) & 255);
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

static void make_model(const char *path, uint64_t seed) {
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, seed, &m));
    REQUIRE_OK(clipc_model_save(m, path));
    clipc_model_free(m);
}

TEST(use_sha256_known_vectors) {
    const char *tmp = test_tmpdir();
    char p[512], hex[65];
    snprintf(p, sizeof p, "%s/abc", tmp);
    REQUIRE_OK(clipc_write_file_atomic(p, "abc", 3));
    REQUIRE_OK(sha256_file(p, NULL, hex));
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    REQUIRE_OK(clipc_write_file_atomic(p, "", 0));
    REQUIRE_OK(sha256_file(p, NULL, hex));
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

TEST(use_vecfile_topk_matches_brute_force) {
    const char *tmp = test_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/m.vec", tmp);
    enum { N = 1000, D = 16, K = 7 };
    static float x[N * D], q[D], all[N];
    static int64_t ids[N];
    unsigned r = 12345;
    for (int i = 0; i < N * D; i++) x[i] = (float)((r = r * 1103515245u + 12345u) >> 16 & 0x7fff) / 32768.0f - 0.5f;
    for (int i = 0; i < N; i++) ids[i] = 1000 + 3 * i;
    x[5 * D] = x[6 * D]; /* rows 5 and 6 are identical: a tie, lower row first */
    memcpy(x + 6 * D, x + 5 * D, sizeof(float) * D);
    clipc_l2_normalize(x, N, D);
    memcpy(q, x + 5 * D, sizeof q);
    REQUIRE_OK(vecfile_write(p, x, ids, N, D, 42));
    vecfile v;
    REQUIRE_OK(vecfile_open(p, &v));
    CHECK(v.n == N && v.dim == D && v.generation == 42 && v.ids[3] == 1009);
    int64_t rows[K];
    float sc[K];
    int got;
    REQUIRE_OK(vecfile_topk(&v, q, K, all, rows, sc, &got));
    CHECK(got == K && rows[0] == 5 && rows[1] == 6);
    /* Brute force: every kept score >= every other score. */
    float worst = sc[K - 1];
    int above = 0;
    for (int i = 0; i < N; i++) {
        double d = 0;
        for (int j = 0; j < D; j++) d += (double)x[i * D + j] * q[j];
        if (d > worst + 1e-6) above++;
    }
    CHECK(above <= K - 1);
    for (int j = 1; j < K; j++) CHECK(sc[j] <= sc[j - 1]);
    vecfile_close(&v);
    /* A truncated file is refused, naming it. */
    REQUIRE_OK(clipc_write_file_atomic(p, "CLIPCVEC\x01\0\0\0", 12));
    CHECK(vecfile_open(p, &v) == CLIPC_ERR_FORMAT && strstr(clipc_last_error(), "m.vec"));
}

/* 4 images (unit basis vectors e0..e3) and 5 texts, so sim[i][t] = text_t[i].
 * Image 0 has texts 0 and 4, images 1..3 have texts 1..3.
 *            t0    t1    t2    t3    t4
 *   img0   0.80  0.60  0.00  0.10  0.00
 *   img1   0.60  0.00  0.00  0.00  0.00
 *   img2   0.00  0.80  0.60  0.00  0.00
 *   img3   0.00  0.00  0.80  0.995 1.00
 * i2t ranks (1 + other-image texts >= best own text):
 *   img0: best own 0.80 (t0); others >= 0.80: none -> 1
 *   img1: own t1 = 0.00; others >= 0: t0,t2,t3,t4 -> 5
 *   img2: own t2 = 0.60; others >= 0.6: t1 (0.8) -> 2
 *   img3: own t3 = 0.995; others >= 0.995: t4 (1.0) -> 2
 *   R@1 = 1/4, R@5 = 4/4, R@10 = 1; median floor(2) = 2; mean 10/4 = 2.5
 * t2i ranks (1 + other images >= own image):
 *   t0 (img0 0.8): img1 0.6 -> 1;  t1 (img1 0.0): img0 .6, img2 .8, img3 0 (tie) -> 4
 *   t2 (img2 0.6): img3 .8 -> 2;   t3 (img3 .995): -> 1;  t4 (img0 0.0): img3 1.0, img1 0, img2 0 -> 4
 *   R@1 = 2/5, R@5 = 1, median 2, mean 12/5 = 2.4 */
TEST(use_eval_embeddings_hand_computed_4x4) {
    float img[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    float txt[20] = {0.8f, 0.6f, 0, 0, 0.6f, 0, 0.8f, 0, 0, 0, 0.6f, 0.8f, 0.1f, 0, 0, 0.995f, 0, 0, 0, 1};
    int ti[5] = {0, 1, 2, 3, 0};
    clipc_l2_normalize(txt, 5, 4); /* t3 is (0.1, 0.995) before: scale is immaterial to ranks */
    clipc_retrieval_metrics r;
    REQUIRE_OK(clipc_eval_embeddings(img, 4, txt, 5, 4, ti, &r));
    CHECK(r.n_k == 3 && r.k[0] == 1 && r.k[1] == 5 && r.k[2] == 10);
    CHECK_NEAR(r.i2t_recall[0], 0.25, 1e-12);
    CHECK_NEAR(r.i2t_recall[1], 1.0, 1e-12);
    CHECK_NEAR(r.i2t_recall[2], 1.0, 1e-12);
    CHECK_NEAR(r.i2t_median_rank, 2, 1e-12);
    CHECK_NEAR(r.i2t_mean_rank, 2.5, 1e-12);
    CHECK_NEAR(r.t2i_recall[0], 0.4, 1e-12);
    CHECK_NEAR(r.t2i_recall[1], 1.0, 1e-12);
    CHECK_NEAR(r.t2i_median_rank, 2, 1e-12);
    CHECK_NEAR(r.t2i_mean_rank, 2.4, 1e-12);
    CHECK(r.n_i2t == 4 && r.n_t2i == 5);
}

TEST(use_zeroshot_ensembling_and_classify) {
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    clipc_tokenizer *tok;
    REQUIRE_OK(clipc_model_create(&cfg, 3, &m));
    REQUIRE_OK(clipc_tokenizer_load(NULL, &tok));
    const char *labels[] = {"cat", "dog", "car"}, *tmpl[] = {"a photo of a {}.", "a drawing of a {}"};
    float w[3 * 20], e[2 * 20];
    REQUIRE_OK(clipc_zeroshot_weights(m, tok, labels, 3, tmpl, 2, w));
    /* Label 1 by hand: mean of the normalised embeddings of both prompts, renormalised. */
    const char *prompts[] = {"a photo of a dog.", "a drawing of a dog"};
    REQUIRE_OK(clipc_embed_texts(m, tok, prompts, 2, e, NULL));
    float want[20];
    for (int j = 0; j < 20; j++) want[j] = 0.5f * (e[j] + e[20 + j]);
    clipc_l2_normalize(want, 1, 20);
    double worst = 0;
    for (int j = 0; j < 20; j++) worst = fmax(worst, fabs(w[20 + j] - want[j]));
    CHECKF(worst < 1e-6, "ensembled weight differs by %g", worst);
    /* Probabilities = softmax(100 * cos). */
    float img[20], p[3], lg[3];
    for (int j = 0; j < 20; j++) img[j] = 0.3f * w[j] + w[40 + j];
    REQUIRE_OK(clipc_classify(img, 1, w, 3, 20, 100.0f, p, lg));
    float in[20];
    memcpy(in, img, sizeof in);
    clipc_l2_normalize(in, 1, 20);
    double cs[3], mx = -1e9, z = 0;
    for (int c = 0; c < 3; c++) {
        cs[c] = 0;
        for (int j = 0; j < 20; j++) cs[c] += (double)in[j] * w[c * 20 + j];
        CHECK_NEAR(lg[c], 100 * cs[c], 1e-3);
        mx = fmax(mx, 100 * cs[c]);
    }
    for (int c = 0; c < 3; c++) z += exp(100 * cs[c] - mx);
    for (int c = 0; c < 3; c++) CHECK_NEAR(p[c], exp(100 * cs[c] - mx) / z, 1e-5);
    int idx[3];
    CHECK(clipc_topk(p, 3, 2, idx) == 2 && idx[0] == 2);
    /* A long text is truncated and counted. */
    char longt[2000];
    memset(longt, 0, sizeof longt);
    for (int i = 0; i < 150; i++) strcat(longt, "dog ");
    const char *lt[] = {longt};
    int trunc = 0;
    REQUIRE_OK(clipc_embed_texts(m, tok, lt, 1, e, &trunc));
    CHECK(trunc == 1);
    CHECK(clipc_classify(img, 1, w, 3, 20, 0.0f, p, NULL) == CLIPC_ERR_INVALID);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

typedef struct {
    char names[16][512];
    int n;
} seen;

static void on_embedded(const char *path, void *ud) {
    seen *s = ud;
    const char *b = strrchr(path, '/');
    if (s->n < 16) snprintf(s->names[s->n++], 512, "%s", b ? b + 1 : path);
}
static void on_failed(const char *path, const char *msg, void *ud) {
    (void)path, (void)msg, (void)ud;
}

static int seen_has(const seen *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) return 1;
    return 0;
}

TEST(use_index_incremental_and_search) {
    const char *tmp = test_tmpdir();
    char d[512], p[600], db[512], mp[512], mp2[512], cmd[4096], *out;
    snprintf(d, sizeof d, "%s/imgs", tmp);
    snprintf(p, sizeof p, "%s/sub", d);
    mkdir(d, 0755);
    mkdir(p, 0755);
    const char *names[] = {"a.png", "b.png", "sub/c.png", "d\xff\xfe.png", "e.PNG"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", d, names[i]);
        write_png(p, 40 + i, 30 + 2 * i, (unsigned)i + 1);
    }
    snprintf(p, sizeof p, "%s/bad.jpg", d);
    REQUIRE_OK(clipc_write_file_atomic(p, "\xff\xd8\xff\xe0 not a jpeg", 15));
    snprintf(p, sizeof p, "%s/notes.txt", d);
    REQUIRE_OK(clipc_write_file_atomic(p, "ignored", 7));
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    snprintf(mp2, sizeof mp2, "%s/model2.safetensors", tmp);
    make_model(mp, 7);
    make_model(mp2, 8);
    snprintf(db, sizeof db, "%s/index.db", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_load(mp, NULL, &m));
    seen sn = {0};
    clipc_index_opts o = {2, NULL, on_failed, on_embedded, &sn, NULL, NULL};
    clipc_index_stats st;
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    CHECK(st.added == 5 && st.updated == 0 && st.removed == 0 && st.unchanged == 0 && st.failed == 1);
    CHECK(st.embedded == 5 && sn.n == 5 && st.model_changed == 1);
    CHECK(st.vec_appended == 0); /* a new index: FILE.vec written whole */
    /* Nothing changed: nothing embedded, FILE.vec not rewritten (an
     * append of no rows commits the new generation in place). */
    sn.n = 0;
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    CHECK(st.added == 0 && st.updated == 0 && st.removed == 0 && st.unchanged == 5 && st.failed == 1 && sn.n == 0);
    CHECK(st.vec_appended == 1);
    /* Modify b (new content, new mtime), touch a (same bytes, new mtime),
     * delete sub/c, add f. */
    snprintf(p, sizeof p, "%s/b.png", d);
    write_png(p, 41, 32, 99);
    struct utimbuf ut = {1000000000, 1000000000};
    utime(p, &ut); /* a surely different mtime */
    snprintf(p, sizeof p, "%s/a.png", d);
    utime(p, &ut);
    snprintf(p, sizeof p, "%s/sub/c.png", d);
    REQUIRE(unlink(p) == 0);
    snprintf(p, sizeof p, "%s/sub/f.png", d);
    write_png(p, 50, 50, 123);
    sn.n = 0;
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    CHECKF(st.added == 1 && st.updated == 1 && st.removed == 1 && st.unchanged == 3 && st.failed == 1,
           "added %d updated %d removed %d unchanged %d failed %d", st.added, st.updated, st.removed, st.unchanged, st.failed);
    CHECK(st.embedded == 2 && sn.n == 2 && seen_has(&sn, "b.png") && seen_has(&sn, "f.png"));
    CHECK(st.vec_appended == 0); /* rows changed and removed: rewritten */
    clipc_model_free(m);

    /* Search by image through the CLI: the new file ranks first with cosine 1,
     * the deleted one is gone, the non-UTF-8 name survives (surrogate escape). */
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' --image '%s/sub/f.png' --top 10 --json 2>&1", db, d);
    int rc = run_capture(cmd, &out);
    REQUIRE(rc == 0);
    /* cJSON refuses lone surrogates, so the surrogate-escaped name is checked
     * as text: 5 results, f.png first with cosine 1, no c.png. */
    CHECK(count(out, "\"rank\"") == 5);
    const char *r1 = strstr(out, "{\"rank\": 1, \"score\": ");
    REQUIRE(r1);
    CHECK_NEAR(atof(r1 + 21), 1.0, 1e-4);
    CHECK(strstr(r1, "sub/f.png\"}") && strstr(r1, "sub/f.png\"}") < strstr(out, "\"rank\": 2"));
    CHECK(!strstr(out, "c.png") && strstr(out, "d\\udcff\\udcfe.png"));
    free(out);
    cJSON *j;
    /* Text search with a long query: a warning, ranked lines with raw bytes. */
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' --top 3 \"$(printf 'a dog %%.0s' $(seq 60))\" 2>&1", db);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && strstr(out, "truncated") && strstr(out, "\n1\t") , "search: %s", out);
    free(out);

    /* The CLI with another model: everything re-embedded, JSON summary. */
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' 2>/dev/null", d, mp2, db);
    rc = run_capture(cmd, &out);
    j = cJSON_Parse(out);
    REQUIREF(rc == 0 && j, "index: %d %s", rc, out);
    CHECK(cJSON_GetObjectItem(j, "updated")->valueint == 5 && cJSON_GetObjectItem(j, "added")->valueint == 0 &&
          cJSON_GetObjectItem(j, "failed")->valueint == 1 && cJSON_GetObjectItem(j, "embedded")->valueint == 5);
    cJSON_Delete(j);
    free(out);
    /* Search now refuses the old model file if it has changed?  It uses model2 (recorded). */
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' --image '%s/a.png' --top 1 --json 2>&1", db, d);
    rc = run_capture(cmd, &out);
    CHECK(rc == 0 && strstr(out, "a.png"));
    free(out);
    /* Precision is part of the index: re-indexing in bf16 re-embeds every
     * image (where the CPU has bf16; elsewhere the model stays f32 and
     * nothing changes), and a query in another precision gets a warning. */
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' --precision bf16 2>/dev/null", d, mp2, db);
    rc = run_capture(cmd, &out);
    j = cJSON_Parse(out);
    REQUIREF(rc == 0 && j, "index: %d %s", rc, out);
    int bf = onednn_bf16_available();
    CHECK(cJSON_GetObjectItem(j, "embedded")->valueint == (bf ? 5 : 0));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "model_changed")) == bf);
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' --image '%s/a.png' --top 1 2>&1", db, d);
    rc = run_capture(cmd, &out);
    CHECK(rc == 0 && strstr(out, "a.png"));
    CHECKF(!bf || strstr(out, "was indexed in bf16, the query is encoded in f32"), "search: %s", out);
    free(out);
    /* A stale .vec (as after an interrupt) is rebuilt by search. */
    snprintf(p, sizeof p, "%s.vec", db);
    unlink(p);
    snprintf(cmd, sizeof cmd, "clipc search --db '%s' --image '%s/a.png' --top 1 2>&1", db, d);
    rc = run_capture(cmd, &out);
    CHECK(rc == 0 && strstr(out, "a.png"));
    free(out);
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
}

/* Killed mid-run, an index stays valid and the next run finishes it. */
static int kill_after;
static void kill_on_embedded(const char *path, void *ud) {
    (void)path, (void)ud;
    if (--kill_after == 0) raise(SIGKILL); /* inside batch 2's open transaction */
}
static volatile sig_atomic_t stop_flag;
static void stop_after_first(int done, int total, void *ud) {
    (void)total, (void)ud;
    if (done > 0) stop_flag = 1; /* as SIGINT does in the CLI */
}

TEST(use_index_survives_kill_and_interrupt) {
    const char *tmp = test_tmpdir();
    char d[512], p[600], db[512], mp[512];
    snprintf(d, sizeof d, "%s/many", tmp);
    mkdir(d, 0755);
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/img%d.png", d, i);
        write_png(p, 24 + i, 20, (unsigned)(i * 13 + 1));
    }
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    make_model(mp, 3);
    snprintf(db, sizeof db, "%s/k.db", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_load(mp, NULL, &m));
    /* A child indexes in batches of 3 and is SIGKILLed at the 2nd image of
     * batch 2: batch 1 is committed, batch 2's transaction is not. */
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* One thread: the OpenMP pool of the parent (earlier tests) does
         * not survive fork, and a parallel region would wait for it. */
        clipc_set_threads(1);
        kill_after = 5;
        clipc_index_opts o = {3, NULL, NULL, kill_on_embedded, NULL, NULL, NULL};
        clipc_index_stats st;
        clipc_index_update(db, d, m, mp, &o, &st);
        _exit(0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    sqlite3 *sdb;
    REQUIRE_OK(index_open(db, &sdb));
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(sdb, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(q, 0), "ok"));
    sqlite3_finalize(q);
    REQUIRE(sqlite3_prepare_v2(sdb, "SELECT count(*) FROM images", -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 3);
    sqlite3_finalize(q);
    sqlite3_close(sdb);
    /* The next run embeds only the 4 images batch 1 did not commit. */
    clipc_index_stats st;
    clipc_index_opts o = {3, NULL, NULL, NULL, NULL, NULL, NULL};
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    CHECKF(st.added == 4 && st.unchanged == 3 && st.embedded == 4 && st.model_changed == 0,
           "added %d unchanged %d embedded %d", st.added, st.unchanged, st.embedded);
    vecfile v;
    REQUIRE_OK(index_open(db, &sdb));
    REQUIRE_OK(index_open_vec(sdb, db, &v));
    CHECK(v.n == 7 && v.dim == clipc_model_config(m)->embed_dim);
    vecfile_close(&v);
    sqlite3_close(sdb);
    /* Interrupted politely (the stop flag, as on SIGINT) after batch 1 of a
     * re-embed under another batch size: an error naming what was kept. */
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/img%d.png", d, i);
        write_png(p, 24 + i, 21, (unsigned)(i * 17 + 5)); /* new contents */
        struct utimbuf ut = {1000000000 + i, 1000000000 + i};
        utime(p, &ut);
    }
    stop_flag = 0;
    clipc_index_opts os = {4, stop_after_first, NULL, NULL, NULL, &stop_flag, NULL};
    clipc_status s = clipc_index_update(db, d, m, mp, &os, &st);
    CHECK(s == CLIPC_ERR_IO);
    CHECKF(strstr(clipc_last_error(), "interrupted after 4 of 7 images (committed)") != NULL, "%s", clipc_last_error());
    REQUIRE_OK(clipc_index_update(db, d, m, mp, &o, &st));
    CHECKF(st.updated == 3 && st.unchanged == 4 && st.embedded == 3, "updated %d unchanged %d embedded %d", st.updated,
           st.unchanged, st.embedded);
    clipc_model_free(m);
}

/* Indexes 4 images and draws the results; returns the HTML path in html. */
static void gallery_fixture(char *html, size_t cap, char *grid, size_t gcap) {
    const char *tmp = test_tmpdir();
    char d[512], p[600], db[512], mp[512], cmd[4096], *out;
    snprintf(d, sizeof d, "%s/g", tmp);
    mkdir(d, 0755);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/img%d <&>.png", d, i);
        write_png(p, 64 + 10 * i, 48, (unsigned)(i * 11 + 3));
    }
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    make_model(mp, 5);
    snprintf(db, sizeof db, "%s/g.db", tmp);
    snprintf(html, cap, "%s/out.html", tmp);
    snprintf(grid, gcap, "%s/grid.png", tmp);
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' >/dev/null 2>&1 && "
             "clipc search --db '%s' 'a red square' --html '%s' --grid '%s' 2>&1", d, mp, db, db, html, grid);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0 && count(out, "\n") == 4, "search: %s", out);
    free(out);
}

TEST(use_search_grid_and_html) {
    char html[600], grid[600];
    gallery_fixture(html, sizeof html, grid, sizeof grid);
    char *buf;
    size_t len;
    REQUIRE_OK(clipc_read_file(grid, &buf, &len));
    spng_ctx *ctx = spng_ctx_new(0);
    spng_set_png_buffer(ctx, buf, len);
    struct spng_ihdr ih;
    REQUIRE(spng_get_ihdr(ctx, &ih) == 0);
    CHECK(ih.width == 672 && ih.height == 672);
    size_t sz;
    REQUIRE(spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &sz) == 0 && sz == 672 * 672 * 3);
    uint8_t *px = malloc(sz);
    REQUIRE(spng_decode_image(ctx, px, sz, SPNG_FMT_RGB8, 0) == 0);
    /* Cells 0..3 hold pictures (not black), cells 4..8 are empty (black). */
    long lit[9] = {0};
    for (int y = 0; y < 672; y++)
        for (int x = 0; x < 672; x++)
            for (int c = 0; c < 3; c++) lit[(y / 224) * 3 + x / 224] += px[((size_t)y * 672 + x) * 3 + c] > 0;
    for (int c = 0; c < 4; c++) CHECK(lit[c] > 224 * 224);
    for (int c = 4; c < 9; c++) CHECK(lit[c] == 0);
    free(px);
    spng_ctx_free(ctx);
    free(buf);
    REQUIRE_OK(clipc_read_file(html, &buf, &len));
    CHECK(count(buf, "src=\"data:image/png;base64,") == 4);
    CHECK(strstr(buf, "img0 &lt;&amp;&gt;.png") && !strstr(buf, "<&>"));
    CHECK(!strstr(buf, "http") && !strstr(buf, "file:"));
    free(buf);
}

TEST_SLOW(use_html_gallery_in_headless_chromium) {
    if (system("command -v chromium >/dev/null 2>&1")) SKIP("chromium not installed (apt-get install -y chromium)");
    char html[600], grid[600], shot[700], cmd[4096];
    gallery_fixture(html, sizeof html, grid, sizeof grid);
    snprintf(shot, sizeof shot, "%s/shot.png", test_tmpdir());
    snprintf(cmd, sizeof cmd, "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
             "--screenshot='%s' --window-size=1000,500 'file://%s' >/dev/null 2>&1", shot, html);
    CHECK(system(cmd) == 0);
    char *buf;
    size_t len;
    REQUIRE_OK(clipc_read_file(shot, &buf, &len));
    spng_ctx *ctx = spng_ctx_new(0);
    spng_set_png_buffer(ctx, buf, len);
    struct spng_ihdr ih;
    REQUIRE(spng_get_ihdr(ctx, &ih) == 0);
    CHECK(ih.width == 1000 && ih.height == 500);
    size_t sz;
    spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &sz);
    uint8_t *px = malloc(sz);
    REQUIRE(spng_decode_image(ctx, px, sz, SPNG_FMT_RGB8, 0) == 0);
    /* The thumbnails are synthetic gradients: a rendered page has many
     * distinct colours in the thumbnail band; a page with broken images has
     * a handful (white, text, borders). */
    static uint8_t seen_c[1 << 15];
    memset(seen_c, 0, sizeof seen_c);
    int distinct = 0;
    for (int y = 120; y < 320; y++)
        for (int x = 0; x < 1000; x++) {
            const uint8_t *q = px + ((size_t)y * 1000 + x) * 3;
            int key = (q[0] >> 3) << 10 | (q[1] >> 3) << 5 | (q[2] >> 3);
            if (!seen_c[key]) seen_c[key] = 1, distinct++;
        }
    CHECKF(distinct > 200, "only %d distinct colours where the thumbnails should be", distinct);
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    chromium screenshot: %d distinct colours (%s)\n", distinct, shot);
    free(px);
    spng_ctx_free(ctx);
    free(buf);
}

TEST(use_encode_bulk_npy) {
    const char *tmp = test_tmpdir();
    char d[512], p[600], mp[512], cmd[4096], *out;
    snprintf(d, sizeof d, "%s/e", tmp);
    mkdir(d, 0755);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/x%d.png", d, i);
        write_png(p, 33, 33, (unsigned)i);
    }
    snprintf(p, sizeof p, "%s/broken.png", d);
    REQUIRE_OK(clipc_write_file_atomic(p, "\x89PNG\r\n\x1a\nxx", 10));
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    make_model(mp, 7);
    snprintf(cmd, sizeof cmd, "clipc encode --model '%s' --dir '%s' --normalize --out '%s/emb.npy' 2>&1", mp, d, tmp);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && strstr(out, "broken.png"), "encode: %s", out);
    free(out);
    char *buf;
    size_t len;
    snprintf(p, sizeof p, "%s/emb.npy", tmp);
    REQUIRE_OK(clipc_read_file(p, &buf, &len));
    REQUIRE(len > 10 && !memcmp(buf, "\x93NUMPY\x01\x00", 8));
    size_t hl = (size_t)(uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8;
    CHECK((10 + hl) % 64 == 0 && strstr(buf + 10, "'shape': (3, 20)") && strstr(buf + 10, "'<f4'"));
    CHECK(len == 10 + hl + 3 * 20 * 4);
    float row[20];
    memcpy(row, buf + 10 + hl, sizeof row);
    double n2 = 0;
    for (int k = 0; k < 20; k++) n2 += row[k] * row[k];
    CHECK_NEAR(n2, 1.0, 1e-5);
    free(buf);
    snprintf(p, sizeof p, "%s/emb.npy.paths", tmp);
    REQUIRE_OK(clipc_read_file(p, &buf, &len));
    CHECK(count(buf, "\n") == 3 && strstr(buf, "x0.png\"\n") && !strstr(buf, "broken"));
    free(buf);
}

TEST(use_install_and_example_program) {
    const char *tmp = test_tmpdir();
    char cmd[4096], mp[512], img[512], *out;
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    make_model(mp, 7);
    snprintf(img, sizeof img, "%s/x.png", tmp);
    write_png(img, 30, 20, 4);
    snprintf(cmd, sizeof cmd,
             "make -s install BUILD=build PREFIX='%s/prefix' >/dev/null 2>&1 && "
             "cc -std=c11 -Wall -Wextra -Werror examples/zero_shot.c "
             "$(PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' pkg-config --cflags --libs clipc) -o '%s/zs' 2>&1 && "
             "'%s/zs' '%s' '%s' cat dog car 2>&1",
             tmp, tmp, tmp, tmp, mp, img);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0, "install/example: %s", out);
    double sum = 0, pr;
    char lab[64];
    int lines = 0;
    for (char *s = out; sscanf(s, "%63s %lf", lab, &pr) == 2; s = strchr(s, '\n') + 1, lines++) {
        sum += pr;
        if (!strchr(s, '\n')) break;
    }
    CHECK(lines == 3);
    CHECK_NEAR(sum, 1.0, 1e-4);
    free(out);
}

/* clipc eval --labels-csv reads RFC 4180: a BOM, a header, CRLF, quoted
 * labels holding commas and doubled quotes, blank lines; a bad row is
 * named by file and line. */
TEST(use_cli_eval_labels_csv_quoting) {
    const char *dir = test_tmpdir();
    char model[512], csv[512], cmd[4096], p[600], *out;
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    make_model(model, 12);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/i%d.png", dir, i);
        write_png(p, 20 + i, 18, 200u + (unsigned)i);
    }
    snprintf(csv, sizeof csv, "%s/labels.csv", dir);
    const char *good = "\xEF\xBB\xBFimage,label\r\ni0.png,\"red, square\"\r\n\"i1.png\",\"say \"\"hi\"\"\"\r\n"
                       "i2.png,\"red, square\"\r\n\r\ni3.png,circle\r\n";
    REQUIRE_OK(clipc_write_file_atomic(csv, good, strlen(good)));
    snprintf(cmd, sizeof cmd, "clipc eval --model %s --labels-csv %s --json 2>&1", model, csv);
    REQUIRE(run_capture(cmd, &out) == 0);
    const char *js = strstr(out, "{\"images\"");
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    REQUIREF(j, "eval: %s", out);
    free(out);
    CHECK(cJSON_GetObjectItem(j, "images")->valueint == 4);
    CHECK(cJSON_GetObjectItem(j, "classes")->valueint == 3); /* "red, square", say "hi", circle */
    double top1 = cJSON_GetObjectItem(j, "top1")->valuedouble;
    CHECK(top1 >= 0.0 && top1 <= 1.0 && fabs(top1 * 4 - round(top1 * 4)) < 1e-6);
    cJSON_Delete(j);
    const char *bad[2] = {"image,label\ni0.png,circle\ni1.png\n", "i0.png,\"circle\ni1.png,square\n"};
    const char *want[2] = {"labels.csv:3: want image,label", "labels.csv:2: unterminated quoted field"};
    for (int k = 0; k < 2; k++) {
        REQUIRE_OK(clipc_write_file_atomic(csv, bad[k], strlen(bad[k])));
        int rc = run_capture(cmd, &out);
        CHECKF(rc != 0 && strstr(out, want[k]), "case %d: rc %d: %s", k, rc, out);
        free(out);
    }
}

/* `clipc eval` and `clipc classify` end to end: their printed figures equal
 * the library's on the same embeddings (retrieval through
 * clipc_eval_embeddings, zero-shot through clipc_zeroshot_weights and
 * clipc_classify), so the CLI adds no arithmetic of its own. */
TEST(use_cli_eval_and_classify_agree_with_library) {
    const char *dir = test_tmpdir();
    char model[512], csv[512], cmd[4096], *out, img[4][512];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    make_model(model, 11);
    const char *caps[5] = {"a red square", "a blue circle", "a green line", "a big dot", "red again"};
    int text_image[5] = {0, 1, 2, 3, 0};
    snprintf(csv, sizeof csv, "%s/caps.csv", dir);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "image,caption\n");
    for (int i = 0; i < 4; i++) {
        snprintf(img[i], sizeof img[i], "%s/i%d.png", dir, i);
        write_png(img[i], 20 + 3 * i, 18, 100u + (unsigned)i);
    }
    for (int t = 0; t < 5; t++) fprintf(f, "i%d.png,%s\n", text_image[t], caps[t]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "clipc eval --model %s --data %s --json 2>/dev/null", model, csv);
    REQUIRE(run_capture(cmd, &out) == 0);
    cJSON *j = cJSON_Parse(out);
    free(out);
    REQUIRE(j);
    /* The same figures from the library. */
    clipc_model *m;
    clipc_tokenizer *tok;
    REQUIRE_OK(clipc_model_load(model, NULL, &m));
    REQUIRE_OK(clipc_tokenizer_load(NULL, &tok));
    float ie[4 * 20], te[5 * 20];
    for (int i = 0; i < 4; i++) REQUIRE_OK(clipc_embed_image_file(m, img[i], ie + i * 20));
    int trunc = 0;
    REQUIRE_OK(clipc_embed_texts(m, tok, caps, 5, te, &trunc));
    clipc_retrieval_metrics r;
    REQUIRE_OK(clipc_eval_embeddings(ie, 4, te, 5, 20, text_image, &r));
    cJSON *i2t = cJSON_GetObjectItem(j, "i2t"), *t2i = cJSON_GetObjectItem(j, "t2i");
    REQUIRE(i2t && t2i);
    const char *keys[3] = {"R@1", "R@5", "R@10"};
    for (int k = 0; k < 3; k++) {
        CHECK_NEAR(cJSON_GetObjectItem(i2t, keys[k])->valuedouble, r.i2t_recall[k], 1e-6);
        CHECK_NEAR(cJSON_GetObjectItem(t2i, keys[k])->valuedouble, r.t2i_recall[k], 1e-6);
    }
    CHECK_NEAR(cJSON_GetObjectItem(t2i, "mean_rank")->valuedouble, r.t2i_mean_rank, 1e-4);
    CHECK(cJSON_GetObjectItem(j, "images")->valueint == 4 && cJSON_GetObjectItem(j, "captions")->valueint == 5);
    cJSON_Delete(j);
    /* classify --json: the library's probabilities, best first. */
    snprintf(cmd, sizeof cmd, "clipc classify --model %s --labels 'square,circle,line' --template 'a {}' "
             "--template 'a photo of a {}.' --top 3 --json %s 2>/dev/null", model, img[1]);
    REQUIRE(run_capture(cmd, &out) == 0);
    j = cJSON_Parse(out);
    free(out);
    REQUIRE(j);
    const char *labels[3] = {"square", "circle", "line"}, *tmpl[2] = {"a {}", "a photo of a {}."};
    float w[3 * 20], probs[3];
    REQUIRE_OK(clipc_zeroshot_weights(m, tok, labels, 3, tmpl, 2, w));
    REQUIRE_OK(clipc_classify(ie + 20, 1, w, 3, 20, 100.0f, probs, NULL));
    cJSON *top = cJSON_GetObjectItem(j, "top");
    REQUIRE(cJSON_GetArraySize(top) == 3);
    double sum = 0, prev = 2;
    for (int k = 0; k < 3; k++) {
        cJSON *e = cJSON_GetArrayItem(top, k);
        const char *lab = cJSON_GetObjectItem(e, "label")->valuestring;
        double p = cJSON_GetObjectItem(e, "prob")->valuedouble;
        int c = !strcmp(lab, "square") ? 0 : !strcmp(lab, "circle") ? 1 : 2;
        CHECK_NEAR(p, probs[c], 1e-5);
        CHECK(p <= prev);
        prev = p;
        sum += p;
    }
    CHECK_NEAR(sum, 1.0, 1e-5);
    cJSON_Delete(j);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
}
