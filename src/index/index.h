/*
 * index.h — the image index behind `clipc index` and `clipc search`: an
 * SQLite database (WAL) of files, their stat/hash and unit embeddings, and a
 * vecfile (FILE.vec) holding the same embeddings as one mmap'able matrix.
 */
#ifndef CLIPC_INDEX_H
#define CLIPC_INDEX_H

#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "clipc.h"
#include "formats/vecfile.h"

typedef struct {
    int added, updated, removed, unchanged, failed;
    int embedded;      /* images that went through the image encoder */
    int model_changed; /* 1 = the index held embeddings of another model */
} index_stats;

typedef struct {
    int batch; /* images per encode call and per transaction (0 = 32) */
    void (*progress)(int done, int total, void *ud);
    void (*failed)(const char *path, const char *msg, void *ud);
    void (*embedded)(const char *path, void *ud); /* every file embedded, in order */
    void *ud;
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT): stop after the current batch's commit */
} index_opts;

/* SHA-256 of a file (OpenSSL's implementation), hex[65] NUL-terminated
 * and/or raw[32]; either may be NULL. */
clipc_status sha256_file(const char *path, uint8_t raw[32], char hex[65]);

/* Brings the index at db_path up to date with the images under dir
 * (recursive; .jpg/.jpeg/.png, any case; symlinked folders not followed).
 * model_path is the file `m` was loaded from (recorded with its SHA-256 and
 * config).  Then rewrites db_path + ".vec". */
clipc_status index_update(const char *db_path, const char *dir, const clipc_model *m, const char *model_path,
                          const index_opts *o, index_stats *st);

/* Every .jpg/.jpeg/.png under dir (recursive, sorted by bytes), as the
 * index walks it: *paths is a malloc'ed array of malloc'ed strings. */
clipc_status index_list_images(const char *dir, char ***paths, size_t *n);

/* Opens an index read-only-ish (search may rebuild a stale .vec). */
clipc_status index_open(const char *db_path, sqlite3 **db);
/* A meta value (model_path, model_sha256, model_config, ...), malloc'ed; NULL if absent. */
clipc_status index_meta(sqlite3 *db, const char *key, char **value);
/* Checks that the model file is the one the index was built with (stat
 * first, SHA-256 only if size or mtime changed). */
clipc_status index_check_model(sqlite3 *db, const char *db_path, const char *model_path);
/* Maps db_path.vec, rebuilding it from the database first when it is
 * missing or older than the database (an interrupted `index`). */
clipc_status index_open_vec(sqlite3 *db, const char *db_path, vecfile *out);
/* The path of row id, as stored (bytes, NUL-terminated), malloc'ed. */
clipc_status index_row_path(sqlite3 *db, int64_t id, char **path);

#endif
