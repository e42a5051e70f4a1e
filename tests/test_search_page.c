/*
 * test_search_page.c — the browsing API of include/clipc_index.h that
 * `clipc serve` stands on (clipc_index_search_page, clipc_index_image,
 * clipc_index_folders, clipc_index_size), on a 3,000-row index made by
 * hand (search_fixture.h: no model) with paths in three folders, one of
 * them a prefix of another's name ("a/b" and "a/bc"), against the full
 * f32 ranking.
 */
#include "clipc_index.h"
#include "harness.h"
#include "search_fixture.h"

enum { N = 3000, D = 32 };

/* Rows of x with paths a/b/N.jpg (i % 3 == 0), a/bc/N.jpg (1), top/N.jpg (2). */
static void make_index(const char *db_path, const float *x) {
    sqlite3 *db;
    REQUIRE_OK(index_open(db_path, &db));
    char sql[256];
    snprintf(sql, sizeof sql, "BEGIN; INSERT INTO meta VALUES('dim', '%d'); INSERT INTO meta VALUES('model_id', '1');"
             "INSERT INTO meta VALUES('generation', '1');", D);
    REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO images(path, model, embedding) VALUES(?, 1, ?)", -1, &st, NULL) == SQLITE_OK);
    for (int i = 0; i < N; i++) {
        char p[64];
        static const char *const dirs[] = {"a/b", "a/bc", "top"};
        int len = snprintf(p, sizeof p, "%s/%d.jpg", dirs[i % 3], i);
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, p, len, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, x + (size_t)i * D, D * 4, SQLITE_STATIC);
        REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    }
    sqlite3_finalize(st);
    REQUIRE(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

TEST(search_page_windows_folders_and_rows) {
    char db[512];
    snprintf(db, sizeof db, "%s/p.db", test_tmpdir());
    float *x = fx_clustered(N, D, 40, 1.0, 77);
    make_index(db, x);
    clipc_index *ix;
    REQUIRE_OK(clipc_index_open(db, &ix));
    CHECK(clipc_index_size(ix) == N);
    /* The full ranking (f32 scan) of row 123's vector: the reference. */
    const float *q = x + 123 * D;
    static float sc[N];
    static char *paths[N];
    int got;
    clipc_search_opts f32 = {CLIPC_SEARCH_F32, 0, 0, 0, 0};
    REQUIRE_OK(clipc_index_search_with(ix, q, D, N, &f32, sc, paths, &got, NULL));
    REQUIRE(got == N && !strcmp(paths[0], "a/b/123.jpg"));
    clipc_hit hits[100];
    int more;
    static const char *const folders[] = {NULL, "a/b", "a/bc", "top", "a", "a/b/", "nowhere"};
    for (int f = 0; f < 7; f++) {
        /* The reference: the full ranking filtered to the folder. */
        int ref[N], nref = 0;
        for (int i = 0; i < N; i++) {
            const char *fo = folders[f];
            size_t n = fo ? strlen(fo) : 0;
            while (n > 1 && fo[n - 1] == '/') n--;
            if (!fo || (!strncmp(paths[i], fo, n) && paths[i][n] == '/')) ref[nref++] = i;
        }
        static const int offsets[] = {0, 7, 250, 990, 2990};
        for (int o = 0; o < 5; o++) {
            clipc_page pg = {offsets[o], 10, folders[f]};
            REQUIRE_OK(clipc_index_search_page(ix, q, D, &pg, hits, &got, &more));
            int want = nref - offsets[o] < 0 ? 0 : nref - offsets[o] > 10 ? 10 : nref - offsets[o];
            CHECKF(got == want && more == (offsets[o] + 10 < nref), "folder %s offset %d: %d results (want %d), more %d",
                   folders[f] ? folders[f] : "-", offsets[o], got, want, more);
            for (int j = 0; j < got && j < want; j++) {
                const int r = ref[offsets[o] + j];
                CHECKF(!strcmp(hits[j].path, paths[r]), "folder %s rank %d: %s, want %s", folders[f] ? folders[f] : "-",
                       offsets[o] + j + 1, hits[j].path, paths[r]);
                CHECK_NEAR(hits[j].score, sc[r], 1e-6);
            }
            clipc_hits_free(hits, got);
        }
    }
    for (int i = 0; i < N; i++) free(paths[i]);
    /* A row by id: its path and stored vector; unknown ids are CLIPC_ERR_RANGE. */
    char *p;
    float v[D];
    REQUIRE_OK(clipc_index_image(ix, 124, &p, v, D)); /* SQLite ids start at 1: row 123 */
    CHECK(!strcmp(p, "a/b/123.jpg") && !memcmp(v, q, sizeof v));
    free(p);
    CHECK(clipc_index_image(ix, N + 1, &p, NULL, 0) == CLIPC_ERR_RANGE && !p);
    CHECK(strstr(clipc_last_error(), "no image with id 3001") != NULL);
    CHECK(clipc_index_image(ix, 0, NULL, v, D) == CLIPC_ERR_RANGE);
    CHECK(clipc_index_image(ix, 5, NULL, v, D + 1) == CLIPC_ERR_FORMAT);
    clipc_page bad = {-1, 10, NULL};
    CHECK(clipc_index_search_page(ix, q, D, &bad, hits, &got, &more) == CLIPC_ERR_RANGE);
    /* The folders, sorted and distinct. */
    char **fl;
    int nf;
    REQUIRE_OK(clipc_index_folders(ix, &fl, &nf));
    CHECK(nf == 3 && !strcmp(fl[0], "a/b") && !strcmp(fl[1], "a/bc") && !strcmp(fl[2], "top"));
    for (int i = 0; i < nf; i++) free(fl[i]);
    free(fl);
    clipc_index_close(ix);
    free(x);
}
