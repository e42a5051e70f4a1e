/*
 * index.h — the image index's internals beside its public API
 * (include/clipc_index.h): the SQLite handle, meta values, the model check,
 * the .vec matrix as a vecfile, and SHA-256 of a file.
 */
#ifndef CLIPC_INDEX_H
#define CLIPC_INDEX_H

#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "clipc.h"
#include "clipc_index.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"

/* SHA-256 of a file (OpenSSL's implementation), hex[65] NUL-terminated
 * and/or raw[32]; either may be NULL. */
clipc_status sha256_file(const char *path, uint8_t raw[32], char hex[65]);

/* Opens an index for update (created, WAL mode, schema made). */
clipc_status index_open(const char *db_path, sqlite3 **db);
/* Opens an existing index read-only (SQLITE_OPEN_READONLY: never creates or
 * writes it), for search; refuses a database without the index's tables. */
clipc_status index_open_readonly(const char *db_path, sqlite3 **db);
/* A meta value (model_path, model_sha256, model_config, ...), malloc'ed; NULL if absent. */
clipc_status index_meta(sqlite3 *db, const char *key, char **value);
/* Checks that the model file is the one the index was built with (stat
 * first, SHA-256 only if size or mtime changed). */
clipc_status index_check_model(sqlite3 *db, const char *db_path, const char *model_path);
/* Maps db_path.vec, rebuilding it from the database first when it is
 * missing or older than the database (an interrupted `index`). */
clipc_status index_open_vec(sqlite3 *db, const char *db_path, vecfile *out);
/* Maps db_path.vec8, the int8 copy of the mapped matrix v, rebuilding it
 * from v first when it is missing, damaged or of another generation. */
clipc_status index_open_vec8(const char *db_path, const vecfile *v, vec8file *out);
/* The path of row id, as stored (bytes, NUL-terminated), malloc'ed. */
clipc_status index_row_path(sqlite3 *db, int64_t id, char **path);

#endif
