/*
 * search_fixture.h — what test_search_compact.c and test_ann.c share:
 * clustered unit vectors from a seed (centres uniform on the sphere plus
 * Gaussian noise, normalised, like bench's generator) and an index
 * database made by hand (no model: rows and meta written with SQL), so the
 * search paths are tested on thousands of rows in milliseconds.
 */
#ifndef CLIPC_TESTS_SEARCH_FIXTURE_H
#define CLIPC_TESTS_SEARCH_FIXTURE_H

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "index/index.h"

static inline double fx_uniform(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}

static inline float fx_gauss(uint64_t *x) {
    return (float)(sqrt(-2.0 * log(fx_uniform(x))) * cos(6.283185307179586 * fx_uniform(x)));
}

/* n unit vectors of dim around C random centres, noise norm sigma. */
static inline float *fx_clustered(int64_t n, int dim, int C, double sigma, uint64_t seed) {
    float *cent = malloc(sizeof(float) * (size_t)C * dim), *x = malloc(sizeof(float) * (size_t)n * dim);
    uint64_t r = seed;
    for (int64_t i = 0; i < (int64_t)C * dim; i++) cent[i] = fx_gauss(&r);
    clipc_l2_normalize(cent, C, dim);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(fx_uniform(&r) * C);
        for (int j = 0; j < dim; j++)
            x[i * dim + j] = cent[(size_t)c * dim + j] + (float)(sigma / sqrt(dim)) * fx_gauss(&r);
    }
    clipc_l2_normalize(x, (int)n, dim);
    free(cent);
    return x;
}

/* Appends rows [from, to) of x to the index at db (paths "img/N.jpg"),
 * recording dim and bumping the generation as clipc index does. */
static inline int fx_add_rows(const char *db_path, const float *x, int64_t from, int64_t to, int dim) {
    sqlite3 *db;
    if (index_open(db_path, &db)) return -1;
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; INSERT OR REPLACE INTO meta VALUES('dim', '%d'); INSERT OR IGNORE INTO meta VALUES('model_id', '1');"
             "INSERT OR IGNORE INTO meta VALUES('generation', '0');"
             "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation';", dim);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    if (!rc) rc = sqlite3_prepare_v2(db, "INSERT INTO images(path, model, embedding) VALUES(?, 1, ?)", -1, &st, NULL);
    for (int64_t i = from; !rc && i < to; i++) {
        char p[64];
        int len = snprintf(p, sizeof p, "img/%lld.jpg", (long long)i);
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, p, len, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, x + (size_t)i * dim, dim * 4, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    if (!rc) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* Recall of got against truth (n each, -1 = none). */
static inline double fx_overlap(const int64_t *truth, const int64_t *got, int n) {
    int hit = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (truth[a] == got[b]) {
                hit++;
                break;
            }
    return (double)hit / n;
}

#endif
