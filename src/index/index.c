/*
 * index.c — the incremental image index (see index.h).
 *
 * Schema:
 *   meta(key TEXT PRIMARY KEY, value TEXT): model_path, model_sha256,
 *        model_size, model_mtime, model_config (JSON), model_id, dim,
 *        precision (f32 or bf16: what the embeddings were encoded in),
 *        generation.
 *   images(id INTEGER PRIMARY KEY, path BLOB UNIQUE, mtime_ns, size,
 *        sha256 BLOB, model INTEGER, embedding BLOB).
 * Paths are BLOBs: Linux file names are bytes, and TEXT would invite SQLite
 * and its tools to treat them as UTF-8.
 *
 * Change detection is rsync's: same size and mtime = unchanged; otherwise
 * the SHA-256 decides (a touched but identical file is not re-embedded).
 * Each row carries the model_id it was embedded with, so switching models
 * re-embeds everything even across an interrupted run.  Every batch is one
 * transaction that also bumps `generation`; FILE.vec records the generation
 * it was written at, so a reader can tell a stale matrix and rebuild it.
 */
#include "index/index.h"
#include "index/walk.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "formats/appendable.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "model/model.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ------------------------------------------------------------------ hashing */

clipc_status sha256_file(const char *path, uint8_t raw[32], char hex[65]) {
    int fd = file_open_regular(path);
    if (fd < 0) return CLIPC_ERR_IO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(1 << 20), md[32];
    unsigned mdlen = 0;
    clipc_status s = CLIPC_OK;
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) s = clipc_error(CLIPC_ERR_NOMEM, "%s: sha256: out of memory", path);
    for (ssize_t r; !s && (r = read(fd, buf, 1 << 20)) != 0;) {
        if (r < 0) {
            if (errno == EINTR) continue;
            s = clipc_error(CLIPC_ERR_IO, "%s: read: %s", path, strerror(errno));
        } else if (!EVP_DigestUpdate(ctx, buf, (size_t)r)) {
            s = clipc_error(CLIPC_ERR_IO, "%s: sha256 failed", path);
        }
    }
    if (!s && !EVP_DigestFinal_ex(ctx, md, &mdlen)) s = clipc_error(CLIPC_ERR_IO, "%s: sha256 failed", path);
    close(fd);
    free(buf);
    EVP_MD_CTX_free(ctx);
    if (s) return s;
    if (raw) memcpy(raw, md, 32);
    if (hex)
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return CLIPC_OK;
}

/* ------------------------------------------------------------------- sqlite */

static clipc_status db_err(sqlite3 *db, const char *what) {
    return clipc_error(CLIPC_ERR_IO, "%s: %s: %s", sqlite3_db_filename(db, "main"), what, sqlite3_errmsg(db));
}

/* The I/O points of a transaction for the crash campaigns' hook (see
 * fileio.c): before BEGIN, before COMMIT and after it.  SQLite's own writes
 * inside are SQLite's business (its journal makes them atomic); what the
 * campaigns check is clipc's use of them: a kill on either side of a
 * commit, or a commit that fails, leaves an index that searches. */
static const char *tx_point(const char *sql) {
    if (!strcmp(sql, "BEGIN IMMEDIATE")) return "sqlite-begin";
    if (!strcmp(sql, "COMMIT")) return "sqlite-commit";
    return NULL;
}

static clipc_status exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    const char *point = tx_point(sql);
    const char *file = sqlite3_db_filename(db, "main");
    int injected = point ? io_fault(point, file) : 0;
    if (injected) return clipc_error(CLIPC_ERR_IO, "%s: %s failed: %s", file, sql, strerror(injected));
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: %s", file, msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return s;
    }
    if (point && !strcmp(sql, "COMMIT")) io_fault("sqlite-committed", file); /* a kill only: it is done */
    return CLIPC_OK;
}

/* After a failed statement: its error stays the one reported (a ROLLBACK
 * with no transaction open, when BEGIN itself failed, would replace it). */
static void rollback(sqlite3 *db) { sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); }

static const char *SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS images(id INTEGER PRIMARY KEY, path BLOB UNIQUE NOT NULL, mtime_ns INTEGER,"
    " size INTEGER, sha256 BLOB, model INTEGER, embedding BLOB);";

clipc_status index_open(const char *db_path, sqlite3 **db) {
    *db = NULL;
    if (sqlite3_open_v2(db_path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: %s", db_path, *db ? sqlite3_errmsg(*db) : "cannot open");
        sqlite3_close(*db);
        *db = NULL;
        return s;
    }
    sqlite3_busy_timeout(*db, 5000);
    clipc_status s = exec(*db, SCHEMA);
    if (s) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return s;
}

/* Opens name read-only (flags add SQLITE_OPEN_URI) and reads the schema:
 * an sqlite3 result code; *db is set either way. */
static int open_ro(const char *name, int flags, sqlite3 **db) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(name, db, SQLITE_OPEN_READONLY | flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(*db, 5000);
        rc = sqlite3_prepare_v2(*db, "SELECT 1 FROM meta, images LIMIT 0", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE) rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
    return rc;
}

clipc_status index_open_readonly(const char *db_path, sqlite3 **db) {
    /* SQLITE_OPEN_READONLY: nothing is created or written, so a user who may
     * only read the index can search it.  A WAL database needs its -wal and
     * -shm files, or the right to create them; when it has neither, no
     * writer is at work (a writer makes both) and the file is read as
     * immutable=1 (a URI, the path percent-encoded). */
    int rc = open_ro(db_path, 0, db);
    if ((rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN) {
        char *wal = sqlite3_mprintf("%s-wal", db_path);
        int no_wal = wal && access(wal, F_OK) != 0;
        sqlite3_free(wal);
        size_t n = strlen(db_path);
        char *uri = no_wal ? malloc(3 * n + 32) : NULL, *u = uri;
        if (uri) {
            u += sprintf(u, "file:");
            for (const unsigned char *c = (const unsigned char *)db_path; *c; c++)
                u += strchr("%?#", *c) || *c < 0x20 || *c >= 0x7f ? sprintf(u, "%%%02X", *c) : sprintf(u, "%c", *c);
            strcpy(u, "?immutable=1");
            sqlite3_close(*db);
            rc = open_ro(uri, SQLITE_OPEN_URI, db);
            free(uri);
        }
    }
    if (rc == SQLITE_OK) return CLIPC_OK;
    clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: %s (not a clipc index? run clipc index first)", db_path,
                                 *db ? sqlite3_errmsg(*db) : "cannot open");
    sqlite3_close(*db);
    *db = NULL;
    return s;
}

clipc_status index_meta(sqlite3 *db, const char *key, char **value) {
    *value = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL)) return db_err(db, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    clipc_status s = CLIPC_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !(*value = strdup(v))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    sqlite3_finalize(st);
    return s;
}

static clipc_status set_meta(sqlite3 *db, const char *key, const char *value) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &st, NULL))
        return db_err(db, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CLIPC_OK : db_err(db, "meta");
}

static int64_t meta_int(sqlite3 *db, const char *key) {
    char *v = NULL;
    if (index_meta(db, key, &v) || !v) return 0;
    int64_t x = strtoll(v, NULL, 10);
    free(v);
    return x;
}

static clipc_status set_meta_int(sqlite3 *db, const char *key, int64_t x) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)x);
    return set_meta(db, key, b);
}

static clipc_status bump_generation(sqlite3 *db) { return set_meta_int(db, "generation", meta_int(db, "generation") + 1); }

clipc_status index_row_path(sqlite3 *db, int64_t id, char **path) {
    *path = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT path FROM images WHERE id=?", -1, &st, NULL)) return db_err(db, "path");
    sqlite3_bind_int64(st, 1, id);
    clipc_status s = CLIPC_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 0);
        const void *b = sqlite3_column_blob(st, 0);
        *path = malloc((size_t)n + 1);
        if (!*path) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        else {
            if (n) memcpy(*path, b, (size_t)n);
            (*path)[n] = 0;
        }
    } else {
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: no image with id %lld (index changed during the search?)",
                        sqlite3_db_filename(db, "main"), (long long)id);
    }
    sqlite3_finalize(st);
    return s;
}

/* ------------------------------------------------------------ the model meta */

static clipc_status record_model(sqlite3 *db, const clipc_model *m, const char *model_path, int64_t *model_id,
                                 int *changed) {
    char hex[65], *old_sha = NULL, *old_cfg = NULL, *old_prec = NULL, *cfg = clipc_config_json(&m->cfg);
    /* The precision the model really encodes in (bf16 falls back to f32 on
     * CPUs without it); indexes made before it was recorded were f32. */
    const char *prec = clipc_precision_name(clipc_model_precision(m));
    if (!cfg) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = sha256_file(model_path, NULL, hex);
    if (!s) s = index_meta(db, "model_sha256", &old_sha);
    if (!s) s = index_meta(db, "model_config", &old_cfg);
    if (!s) s = index_meta(db, "precision", &old_prec);
    struct stat st;
    if (!s && stat(model_path, &st)) s = clipc_error(CLIPC_ERR_IO, "%s: %s", model_path, strerror(errno));
    char *abs = s ? NULL : realpath(model_path, NULL);
    if (!s) {
        *model_id = meta_int(db, "model_id");
        *changed = !old_sha || strcmp(old_sha, hex) || !old_cfg || strcmp(old_cfg, cfg) ||
                   strcmp(old_prec ? old_prec : "f32", prec);
        if (*changed) *model_id += 1;
        s = exec(db, "BEGIN IMMEDIATE");
        if (!s) s = set_meta(db, "model_path", abs ? abs : model_path);
        if (!s) s = set_meta(db, "model_sha256", hex);
        if (!s) s = set_meta(db, "model_config", cfg);
        if (!s) s = set_meta_int(db, "model_size", (int64_t)st.st_size);
        if (!s) s = set_meta_int(db, "model_mtime", (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
        if (!s) s = set_meta_int(db, "model_id", *model_id);
        if (!s) s = set_meta_int(db, "dim", m->cfg.embed_dim);
        if (!s) s = set_meta(db, "precision", prec);
        if (!s) s = exec(db, "COMMIT");
        else rollback(db);
    }
    free(abs);
    free(old_sha);
    free(old_cfg);
    free(old_prec);
    free(cfg);
    return s;
}

clipc_status index_check_model(sqlite3 *db, const char *db_path, const char *model_path) {
    struct stat st;
    if (stat(model_path, &st)) return clipc_error(CLIPC_ERR_IO, "%s: %s (the model %s was indexed with)", model_path, strerror(errno), db_path);
    if (st.st_size == meta_int(db, "model_size") &&
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == meta_int(db, "model_mtime"))
        return CLIPC_OK;
    char hex[65], *want = NULL;
    clipc_status s = sha256_file(model_path, NULL, hex);
    if (!s) s = index_meta(db, "model_sha256", &want);
    if (!s && (!want || strcmp(want, hex)))
        s = clipc_error(CLIPC_ERR_INVALID, "%s: the model file %s changed since it was indexed (SHA-256 %.12s..., "
                        "was %.12s...); run clipc index again", db_path, model_path, hex, want ? want : "none");
    free(want);
    return s;
}

/* ---------------------------------------------------------------- the matrix */

static char *suffixed(const char *db_path, const char *suffix) {
    size_t n = strlen(db_path) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", db_path, suffix);
    return p;
}

static char *vec_path(const char *db_path) { return suffixed(db_path, ".vec"); }

/* The embeddings of model_id with id > after_id, in id order (malloc'ed). */
static clipc_status read_rows(sqlite3 *db, const char *db_path, int64_t model_id, int dim, int64_t after_id,
                              float **data_out, int64_t **ids_out, size_t *n_out) {
    sqlite3_stmt *st;
    clipc_status s = CLIPC_OK;
    size_t cap = 1024, n = 0;
    float *data = malloc(cap * (size_t)dim * sizeof(float));
    int64_t *ids = malloc(cap * sizeof(int64_t));
    if (!data || !ids) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s && sqlite3_prepare_v2(db, "SELECT id, embedding FROM images WHERE model=? AND id>? ORDER BY id", -1, &st,
                                 NULL))
        s = db_err(db, "reading embeddings");
    if (!s) {
        sqlite3_bind_int64(st, 1, model_id);
        sqlite3_bind_int64(st, 2, after_id);
        int rc;
        while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 1) != dim * (int)sizeof(float)) {
                s = clipc_error(CLIPC_ERR_FORMAT, "%s: row %lld: embedding of %d bytes, want %d", db_path,
                                (long long)sqlite3_column_int64(st, 0), sqlite3_column_bytes(st, 1), dim * 4);
                break;
            }
            if (n == cap) {
                cap *= 2;
                float *nd = realloc(data, cap * (size_t)dim * sizeof(float));
                if (nd) data = nd;
                int64_t *ni = realloc(ids, cap * sizeof(int64_t));
                if (ni) ids = ni;
                if (!nd || !ni) {
                    s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                    break;
                }
            }
            ids[n] = sqlite3_column_int64(st, 0);
            memcpy(data + n * (size_t)dim, sqlite3_column_blob(st, 1), (size_t)dim * sizeof(float));
            n++;
        }
        if (!s && rc != SQLITE_DONE) s = db_err(db, "reading embeddings");
        sqlite3_finalize(st);
    }
    if (s) {
        free(data);
        free(ids);
        return s;
    }
    *data_out = data, *ids_out = ids, *n_out = n;
    return CLIPC_OK;
}

/* Rewrites FILE.vec and FILE.vec8 from the database, each with room to
 * append a quarter more rows (app_capacity_for: a hole, no disk). */
static clipc_status write_vec(sqlite3 *db, const char *db_path) {
    int dim = (int)meta_int(db, "dim");
    int64_t gen = meta_int(db, "generation"), model_id = meta_int(db, "model_id");
    char *vp = vec_path(db_path);
    if (!vp || dim <= 0) {
        free(vp);
        return vp ? clipc_error(CLIPC_ERR_FORMAT, "%s: no model recorded; run clipc index first", db_path)
                  : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    float *data = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    clipc_status s = read_rows(db, db_path, model_id, dim, INT64_MIN, &data, &ids, &n);
    int64_t cap = (int64_t)app_capacity_for(n);
    /* FILE.vec first, then its int8 copy: a kill between the two renames
     * leaves a copy of an older generation, which search detects and
     * rebuilds from FILE.vec (index_open_vec8). */
    if (!s) s = vecfile_write_room(vp, data, ids, (int64_t)n, cap, dim, (uint64_t)gen);
    char *v8 = s ? NULL : suffixed(db_path, ".vec8");
    if (!s && !v8) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s) s = vec8_write_room(v8, data, (int64_t)n, cap, dim, (uint64_t)gen);
    free(v8);
    free(data);
    free(ids);
    free(vp);
    return s;
}

/* What FILE.vec held when an update began: an append at its end is only
 * right if the database changed since by inserts alone (upd_only_inserts)
 * and by nobody else (the generation moved by this run's bumps only). */
typedef struct {
    int ok;            /* FILE.vec opened, version 2, current at gen0 */
    int64_t n, last_id; /* its rows and the id of its last row (0: none) */
    uint64_t gen0;
} vec_before;

static void vec_state_before(sqlite3 *db, const char *db_path, vec_before *vb) {
    memset(vb, 0, sizeof *vb);
    vb->gen0 = (uint64_t)meta_int(db, "generation");
    char *vp = vec_path(db_path);
    vecfile v;
    if (vp && !vecfile_open(vp, &v)) {
        vb->ok = v.version == 2 && v.generation == vb->gen0 && v.dim == (int)meta_int(db, "dim");
        vb->n = v.n;
        vb->last_id = v.n ? v.ids[v.n - 1] : 0;
        vecfile_close(&v);
    }
    /* no file (a new index) or an unreadable one: rewritten at the end */
    free(vp);
}

static int64_t count_rows(sqlite3 *db, int64_t model_id) {
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM images WHERE model=?", -1, &st, NULL)) return -1;
    sqlite3_bind_int64(st, 1, model_id);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Brings FILE.vec and FILE.vec8 to the database's state: by appending the
 * rows added since vb (crash-safe in place, formats/appendable.h) when the
 * run only inserted and nobody else wrote, else by rewriting them.
 * *appended says which (for the tests and the crash campaign). */
static clipc_status update_vec(sqlite3 *db, const char *db_path, const vec_before *vb, int only_inserts,
                               int64_t bumps, int *appended) {
    *appended = 0;
    int dim = (int)meta_int(db, "dim");
    int64_t gen = meta_int(db, "generation"), model_id = meta_int(db, "model_id");
    if (!vb->ok || !only_inserts || (uint64_t)gen != vb->gen0 + (uint64_t)bumps || dim <= 0)
        return write_vec(db, db_path);
    float *data = NULL;
    int64_t *ids = NULL;
    size_t m = 0;
    char *vp = vec_path(db_path), *v8 = suffixed(db_path, ".vec8");
    clipc_status s = vp && v8 ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s) s = read_rows(db, db_path, model_id, dim, vb->last_id, &data, &ids, &m);
    /* Every other row must be one FILE.vec holds (it held all rows of this
     * model at gen0, and since then rows were only added, at higher ids). */
    if (!s && count_rows(db, model_id) == vb->n + (int64_t)m)
        s = vecfile_append(vp, data, ids, (int64_t)m, dim, vb->n, vb->gen0, (uint64_t)gen, appended);
    if (!s && *appended) {
        int ok8 = 0;
        s = vec8_append(v8, data, (int64_t)m, dim, vb->n, vb->gen0, (uint64_t)gen, &ok8);
        if (!s && !ok8) { /* no int8 copy at gen0 (or no room): made again from FILE.vec */
            vecfile v;
            s = vecfile_open(vp, &v);
            if (!s) s = vec8_write_room(v8, v.data, v.n, (int64_t)app_capacity_for((uint64_t)v.n), dim, v.generation);
            vecfile_close(&v);
        }
    }
    free(data);
    free(ids);
    free(vp);
    free(v8);
    if (!s && !*appended) return write_vec(db, db_path);
    return s;
}

clipc_status index_open_vec(sqlite3 *db, const char *db_path, vecfile *out) {
    char *vp = vec_path(db_path);
    if (!vp) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    uint64_t gen = (uint64_t)meta_int(db, "generation");
    clipc_status s = vecfile_open(vp, out);
    if (!s && (out->generation != gen || out->dim != (int)meta_int(db, "dim"))) {
        vecfile_close(out);
        s = CLIPC_ERR_FORMAT;
    }
    if (s) {
        /* Missing, damaged or stale (an interrupted index): rebuild from the database. */
        s = write_vec(db, db_path);
        if (!s) s = vecfile_open(vp, out);
    }
    free(vp);
    return s;
}

clipc_status index_open_vec8(const char *db_path, const vecfile *v, vec8file *out) {
    char *p = suffixed(db_path, ".vec8");
    if (!p) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = vec8_open(p, out);
    if (!s && (out->generation != v->generation || out->n != v->n || out->dim != v->dim)) {
        vec8_close(out);
        s = CLIPC_ERR_FORMAT;
    }
    if (s) {
        /* Missing, damaged or stale: derived from FILE.vec, so rebuilt from it. */
        s = vec8_write_room(p, v->data, v->n, v->capacity > v->n ? v->capacity : (int64_t)app_capacity_for((uint64_t)v->n),
                            v->dim, v->generation);
        if (!s) s = vec8_open(p, out);
    }
    free(p);
    return s;
}

/* ---------------------------------------------------------------- the update */

typedef struct {
    int64_t id, mtime_ns, size, model;
    uint8_t sha[32];
    char *path;
} db_row;

static int cmp_row(const void *a, const void *b) { return strcmp(((const db_row *)a)->path, ((const db_row *)b)->path); }

static clipc_status load_rows(sqlite3 *db, db_row **rows, size_t *n) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, path, mtime_ns, size, sha256, model FROM images", -1, &st, NULL))
        return db_err(db, "reading the index");
    size_t cap = 0;
    clipc_status s = CLIPC_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            db_row *nr = realloc(*rows, cap * sizeof *nr);
            if (!nr) {
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                break;
            }
            *rows = nr;
        }
        db_row *r = &(*rows)[*n];
        memset(r, 0, sizeof *r);
        int len = sqlite3_column_bytes(st, 1);
        r->path = malloc((size_t)len + 1);
        if (!r->path) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        if (len) memcpy(r->path, sqlite3_column_blob(st, 1), (size_t)len);
        r->path[len] = 0;
        r->id = sqlite3_column_int64(st, 0);
        r->mtime_ns = sqlite3_column_int64(st, 2);
        r->size = sqlite3_column_int64(st, 3);
        if (sqlite3_column_bytes(st, 4) == 32) memcpy(r->sha, sqlite3_column_blob(st, 4), 32);
        r->model = sqlite3_column_int64(st, 5);
        (*n)++;
    }
    if (!s && rc != SQLITE_DONE) s = db_err(db, "reading the index");
    sqlite3_finalize(st);
    if (*rows && *n) qsort(*rows, *n, sizeof **rows, cmp_row);
    return s;
}

static clipc_status delete_row(sqlite3 *db, int64_t id) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM images WHERE id=?", -1, &st, NULL)) return db_err(db, "delete");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CLIPC_OK : db_err(db, "delete");
}

static clipc_status touch_row(sqlite3 *db, int64_t id, int64_t mtime_ns, int64_t size) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE images SET mtime_ns=?, size=? WHERE id=?", -1, &st, NULL)) return db_err(db, "update");
    sqlite3_bind_int64(st, 1, mtime_ns);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CLIPC_OK : db_err(db, "update");
}

typedef struct {
    walk_entry *e;
    db_row *row; /* NULL = new */
    uint8_t sha[32];
} todo;

static clipc_status upsert(sqlite3_stmt *st, const todo *t, int64_t model_id, const float *emb, int dim) {
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, t->e->path, (int)strlen(t->e->path), SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->e->mtime_ns);
    sqlite3_bind_int64(st, 3, t->e->size);
    sqlite3_bind_blob(st, 4, t->sha, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, model_id);
    sqlite3_bind_blob(st, 6, emb, dim * (int)sizeof(float), SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? CLIPC_OK : db_err(sqlite3_db_handle(st), "insert");
}


clipc_status clipc_index_update(const char *db_path, const char *dir, const clipc_model *m, const char *model_path,
                                const clipc_index_opts *o, clipc_index_stats *stats) {
    static const clipc_index_opts none = {0};
    if (!o) o = &none;
    memset(stats, 0, sizeof *stats);
    const clipc_config *c = &m->cfg;
    int B = o->batch > 0 ? o->batch : 32, E = c->embed_dim, R = c->image_resolution;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    size_t img_floats = (size_t)3 * R * R;
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    walk_list w = {0};
    db_row *rows = NULL;
    size_t n_rows = 0, n_todo = 0;
    todo *td = NULL;
    float *px = NULL, *emb = NULL;
    todo **ok = NULL;
    int64_t model_id = 0;
    char *root = realpath(dir, NULL);
    clipc_status s = root ? CLIPC_OK : clipc_error(CLIPC_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!s) {
        /* Strip a trailing slash so "/" + name is one separator. */
        size_t rl = strlen(root);
        if (rl > 1 && root[rl - 1] == '/') root[rl - 1] = 0;
        w.skip_unreadable = 1;
        s = walk_folder(&w, strcmp(root, "/") ? root : "", 0);
    }
    for (size_t i = 0; !s && i < w.n_skipped; i++) {
        char msg[8192];
        const char *f = w.skipped[i];
        snprintf(msg, sizeof msg, "%s: %s (a folder that cannot be read: skipped, its indexed images kept)", f,
                 f + strlen(f) + 1);
        stats->skipped_folders++;
        if (o->failed) o->failed(f, msg, o->ud);
    }
    walk_report_others(o, stats, &w);
    if (!s && w.n) qsort(w.e, w.n, sizeof *w.e, walk_entry_cmp);
    if (!s) s = index_open(db_path, &db);
    /* temporary files a killed run left beside the index (found by the
     * crash campaign: a kill while FILE.vec was written kept its temp) */
    const char *sfx[3] = {".vec", ".vec8", ".ann"};
    for (int i = 0; !s && i < 3; i++) {
        char *t = suffixed(db_path, sfx[i]);
        if (t) remove_stale_temps(t);
        free(t);
    }
    /* FILE.vec as it was, before this run changes the database */
    vec_before vb = {0};
    int only_inserts = 1, appended = 0;
    int64_t bumps = 0;
    if (!s) vec_state_before(db, db_path, &vb);
    if (!s) s = record_model(db, m, model_path, &model_id, &stats->model_changed);
    if (!s && stats->model_changed) only_inserts = 0;
    if (!s) s = load_rows(db, &rows, &n_rows);
    if (!s && !(td = calloc(w.n + 1, sizeof *td))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");

    /* Merge the sorted walk with the sorted rows: deletions, touches, work. */
    if (!s) s = exec(db, "BEGIN IMMEDIATE");
    if (!s) {
        size_t i = 0, j = 0;
        while (!s && (i < w.n || j < n_rows)) {
            int cmp = i == w.n ? 1 : j == n_rows ? -1 : strcmp(w.e[i].path, rows[j].path);
            if (cmp > 0) { /* in the index, gone from the folder (or in one that could not be read: kept) */
                if (!walk_in_skipped(&w, rows[j].path)) {
                    s = delete_row(db, rows[j].id);
                    stats->removed++;
                    only_inserts = 0;
                }
                j++;
                continue;
            }
            walk_entry *e = &w.e[i++];
            db_row *r = cmp == 0 ? &rows[j++] : NULL;
            if (r && r->model == model_id && r->mtime_ns == e->mtime_ns && r->size == e->size) {
                stats->unchanged++;
                continue;
            }
            todo *t = &td[n_todo];
            t->e = e;
            t->row = r;
            clipc_status hs = sha256_file(e->path, t->sha, NULL);
            if (hs) {
                walk_report_failed(o, stats, e->path, hs);
                if (r) s = delete_row(db, r->id), only_inserts = 0;
                continue;
            }
            if (r && r->model == model_id && !memcmp(r->sha, t->sha, 32)) {
                s = touch_row(db, r->id, e->mtime_ns, e->size); /* touched, same bytes */
                stats->unchanged++;
                continue;
            }
            if (r) only_inserts = 0; /* re-embedded in place: its row of FILE.vec changes */
            n_todo++;
        }
        if (!s) s = bump_generation(db), bumps++;
        if (!s) s = exec(db, "COMMIT");
        else rollback(db);
    }

    if (!s && sqlite3_prepare_v2(db,
                                 "INSERT INTO images(path, mtime_ns, size, sha256, model, embedding) VALUES(?,?,?,?,?,?)"
                                 " ON CONFLICT(path) DO UPDATE SET mtime_ns=excluded.mtime_ns, size=excluded.size,"
                                 " sha256=excluded.sha256, model=excluded.model, embedding=excluded.embedding",
                                 -1, &ins, NULL))
        s = db_err(db, "insert");
    if (!s) {
        px = malloc(sizeof(float) * img_floats * (size_t)B);
        emb = malloc(sizeof(float) * (size_t)E * (size_t)B);
        ok = malloc(sizeof *ok * (size_t)B);
        if (!px || !emb || !ok) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    size_t done = 0;
    if (!s && o->progress) o->progress(0, (int)n_todo, o->ud);
    while (!s && done < n_todo) {
        if (o->stop && *o->stop) break;
        size_t end = done + (size_t)B < n_todo ? done + (size_t)B : n_todo;
        int k = 0;
        for (size_t i = done; i < end; i++) {
            clipc_image im;
            clipc_status is = clipc_image_load(td[i].e->path, &im);
            if (!is) {
                is = clipc_preprocess_transform(&im, &tf, px + (size_t)k * img_floats, NULL);
                if (is) clipc_error_prefix("%s", td[i].e->path);
                clipc_image_free(&im);
            }
            if (is) {
                walk_report_failed(o, stats, td[i].e->path, is);
                td[i].e->size = -1; /* marks the failure for the transaction below */
                continue;
            }
            ok[k++] = &td[i];
        }
        s = clipc_encode_image(m, px, k, emb);
        if (s) break;
        clipc_l2_normalize(emb, k, E);
        s = exec(db, "BEGIN IMMEDIATE");
        for (int j = 0; j < k && !s; j++) {
            s = upsert(ins, ok[j], model_id, emb + (size_t)j * E, E);
            if (ok[j]->row) stats->updated++;
            else stats->added++;
            stats->embedded++;
            if (o->embedded) o->embedded(ok[j]->e->path, o->ud);
        }
        for (size_t i = done; i < end && !s; i++)
            if (td[i].e->size == -1 && td[i].row) s = delete_row(db, td[i].row->id), only_inserts = 0;
        if (!s) s = bump_generation(db), bumps++;
        if (!s) s = exec(db, "COMMIT");
        else rollback(db);
        done = end;
        if (!s && o->progress) o->progress((int)done, (int)n_todo, o->ud);
    }
    sqlite3_finalize(ins);
    if (!s) s = update_vec(db, db_path, &vb, only_inserts, bumps, &appended);
    if (!s) stats->vec_appended = appended;
    if (!s && o->stop && *o->stop) s = clipc_error(CLIPC_ERR_IO, "%s: interrupted after %zu of %zu images (committed)", db_path, done, n_todo);
    sqlite3_close(db);
    for (size_t i = 0; i < w.n; i++) free(w.e[i].path);
    free(w.e);
    for (size_t i = 0; i < w.n_skipped; i++) free(w.skipped[i]);
    free(w.skipped);
    for (size_t j = 0; j < n_rows; j++) free(rows[j].path);
    free(rows);
    free(td);
    free(px);
    free(emb);
    free(ok);
    free(root);
    return s;
}
