/*
 * clipc_index.h — the image index behind `clipc index` and `clipc search`:
 * an SQLite database (WAL) of image files, their stat/hash and unit
 * embeddings, and beside it FILE.vec, the same embeddings as one mmap'able
 * matrix, so a search is one matrix-vector product.  Also what `clipc serve`
 * browses with: result pages with a folder filter, rows by id, and a
 * thumbnail cache.
 */
#ifndef CLIPC_INDEX_PUBLIC_H
#define CLIPC_INDEX_PUBLIC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a file under the folder was not indexed: its name is not an image's
 * (clipc_image_path_supported), a format clipc does not read
 * (CLIPC_ERR_UNSUPPORTED), damaged (CLIPC_ERR_FORMAT), over the size limits
 * (CLIPC_ERR_RANGE), unreadable (CLIPC_ERR_IO: permissions, a broken
 * symbolic link, vanished), anything else (out of memory ...). */
typedef enum {
    CLIPC_SKIP_NOT_IMAGE,
    CLIPC_SKIP_UNSUPPORTED,
    CLIPC_SKIP_CORRUPT,
    CLIPC_SKIP_TOO_LARGE,
    CLIPC_SKIP_UNREADABLE,
    CLIPC_SKIP_OTHER,
    CLIPC_SKIP_N
} clipc_skip_reason;
/* "not_image", "unsupported", "corrupt", "too_large", "unreadable", "other". */
const char *clipc_skip_reason_name(clipc_skip_reason r);
/* The reason for a failed clipc_image_load (or read) status. */
clipc_skip_reason clipc_skip_reason_of(clipc_status s);

typedef struct {
    int added, updated, removed, unchanged;
    int failed; /* image files that could not be indexed (the reasons other than not_image) */
    int skipped[CLIPC_SKIP_N]; /* every file not indexed, by reason (not_image is not in `failed`) */
    int embedded;      /* images that went through the image encoder */
    int model_changed; /* 1 = the index held embeddings of another model */
    int skipped_folders; /* subfolders that could not be read (reported through `failed`; their rows kept) */
    int vec_appended;    /* 1 = FILE.vec and FILE.vec8 were appended to in place, 0 = rewritten */
} clipc_index_stats;

typedef struct {
    int batch; /* images per encode call and per transaction (0 = 32) */
    void (*progress)(int done, int total, void *ud);
    void (*failed)(const char *path, const char *msg, void *ud); /* an image, or a subfolder that cannot be read */
    void (*embedded)(const char *path, void *ud); /* every file embedded, in order */
    void *ud;
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT): stop after the current batch's commit */
    /* Every file not indexed, with its reason and message (after `failed`
     * for the image files that failed); NULL: not told. */
    void (*skipped)(const char *path, clipc_skip_reason why, const char *msg, void *ud);
} clipc_index_opts;

/* Brings the index at db_path up to date with the images under dir
 * (recursive; the files clipc_image_path_supported() names, any case;
 * symlinked folders not followed; every other file is counted in
 * st->skipped as not_image).
 * model_path is the file `m` was loaded from (recorded with its SHA-256 and
 * config).  Then rewrites db_path + ".vec". */
clipc_status clipc_index_update(const char *db_path, const char *dir, const clipc_model *m, const char *model_path,
                                const clipc_index_opts *o, clipc_index_stats *st);

/* Every image file (clipc_image_path_supported) under dir (recursive, sorted by bytes), as the
 * index walks it: *paths is a malloc'ed array of malloc'ed strings. */
clipc_status clipc_index_list_images(const char *dir, char ***paths, size_t *n);

/* An index opened for searching. */
typedef struct clipc_index clipc_index;

/* Opens the existing index at db_path read-only (SQLITE_OPEN_READONLY: the
 * database is never created or written, so a read-only index can be searched;
 * search may still rebuild a stale .vec beside it). */
clipc_status clipc_index_open(const char *db_path, clipc_index **out);
void clipc_index_close(clipc_index *ix);
/* A meta value (model_path, model_sha256, model_config, precision, ...),
 * malloc'ed; NULL if absent. */
clipc_status clipc_index_meta(clipc_index *ix, const char *key, char **value);
/* Checks that the model file is the one the index was built with (stat
 * first, SHA-256 only if size or mtime changed). */
clipc_status clipc_index_check_model(clipc_index *ix, const char *model_path);
/* Top-k by cosine of the unit query q (dim floats) over the index's
 * images, in mode CLIPC_SEARCH_AUTO (see clipc_search_mode below): maps
 * FILE.vec (rebuilt from the database first when missing or older than
 * it), FILE.vec8 and FILE.ann.  scores[j] and paths[j] (as stored,
 * malloc'ed) for j < *got, best first; ties go to the earlier row. */
clipc_status clipc_index_search(clipc_index *ix, const float *q, int dim, int k, float *scores, char **paths,
                                int *got);

/* ---- browsing an index (what `clipc serve` needs) */

/* A result with its row id (stable for as long as the file stays indexed). */
typedef struct {
    int64_t id;
    float score;
    char *path; /* as stored, malloc'ed */
} clipc_hit;
void clipc_hits_free(clipc_hit *h, int n); /* frees the paths of h[0..n) */

/* A page of results: ranks offset .. offset+k-1 (0-based) among the images
 * under folder (a folder as stored, as clipc_index_folders gives it; NULL
 * or "" = all; "a/b" holds "a/b/x.jpg" and "a/b/c/y.jpg", not "a/bc/z.jpg"). */
typedef struct {
    int offset, k; /* 0..1000000, 1..100000 (CLIPC_ERR_RANGE otherwise) */
    const char *folder;
} clipc_page;

/* The page of the search for the unit query q (CLIPC_SEARCH_AUTO, as
 * clipc_index_search: without a folder, page 0 of k is its top k).
 * hits holds pg->k; *more = 1 when a later page has results. */
clipc_status clipc_index_search_page(clipc_index *ix, const float *q, int dim, const clipc_page *pg, clipc_hit *hits,
                                     int *got, int *more);
/* Row id's path (malloc'ed; path may be NULL) and stored unit embedding
 * (vec: dim floats, may be NULL); CLIPC_ERR_RANGE when no image has id. */
clipc_status clipc_index_image(clipc_index *ix, int64_t id, char **path, float *vec, int dim);
/* The number of searchable images, -1 on error (clipc_last_error says). */
int64_t clipc_index_size(clipc_index *ix);
/* The distinct folders of the indexed paths (the part before the last
 * '/', "/" for a file at the root; paths without '/' have none), sorted
 * by bytes: *folders a malloc'ed array of malloc'ed strings. */
clipc_status clipc_index_folders(clipc_index *ix, char ***folders, int *n);

/* ---- the thumbnail cache: small JPEGs of indexed images, made once */

typedef struct clipc_thumbs clipc_thumbs;
/* Opens (creating it, mode 0700) the cache folder dir for thumbnails that
 * fit in size x size pixels (16..1024), holding at most max_bytes of files
 * (>= 64 KiB): past it, the oldest thumbnails are removed.  Safe to use
 * from several threads. */
clipc_status clipc_thumbs_open(const char *dir, int size, int64_t max_bytes, clipc_thumbs **out);
/* The JPEG thumbnail of the image file at path (malloc'ed, *len bytes):
 * read from the cache when a thumbnail of this path, size and mtime is
 * there, else decoded (clipc_image_load), resized (Pillow's bicubic),
 * encoded (libjpeg-turbo, quality 85) and stored atomically.  *made = 1
 * when it was made now (may be NULL). */
clipc_status clipc_thumbs_get(clipc_thumbs *t, const char *path, uint8_t **jpeg, size_t *len, int *made);
/* Bytes of thumbnails in the cache folder, as counted by the cache. */
int64_t clipc_thumbs_bytes(clipc_thumbs *t);
void clipc_thumbs_close(clipc_thumbs *t);

/* How a search finds the top k. */
typedef enum {
    CLIPC_SEARCH_AUTO = 0, /* FILE.ann when present and current, else EXACT */
    CLIPC_SEARCH_EXACT,    /* scan the int8 copy FILE.vec8 (made when missing or stale), re-rank the best
                            * k + 256 rows in f32: the f32 top k in all but rare near-ties; F32 when the
                            * copy cannot be made (a read-only folder) */
    CLIPC_SEARCH_F32,      /* one sgemv over FILE.vec: the reference */
    CLIPC_SEARCH_ANN       /* FILE.ann (an error when missing or stale) */
} clipc_search_mode;

typedef struct {
    clipc_search_mode mode;
    int threads; /* EXACT's scan threads (0: clipc_set_threads') */
    int cand;    /* EXACT: rows re-ranked in f32 (0: k + 256) */
    int effort;  /* ANN: nprobe for ivf,pq, efSearch for hnsw (0: 32 / 64) */
    int rerank;  /* ANN: candidates FAISS returns, re-ranked in f32 (0: max(256, 4k)) */
} clipc_search_opts;

typedef struct {
    clipc_search_mode used; /* EXACT, F32 or ANN */
    int ann_stale;          /* AUTO: FILE.ann is of another generation or damaged (ann_error says): not used */
    char ann_kind[16];      /* the kind of FILE.ann when used */
    char ann_error[256];
} clipc_search_info;

/* clipc_index_search with options (NULL: AUTO); info may be NULL. */
clipc_status clipc_index_search_with(clipc_index *ix, const float *q, int dim, int k, const clipc_search_opts *o,
                                     float *scores, char **paths, int *got, clipc_search_info *info);

/* Recall@k of EXACT (the int8 scan) and of ANN (when FILE.ann is present
 * and current) against F32, over nq queries: the stored embeddings of nq
 * rows spread evenly over the index (so each query's own image is among
 * its results, as for a near-duplicate search), with per-query times. */
typedef struct {
    int queries, k, has_ann;
    char ann_kind[16];
    double recall_exact, recall_ann;             /* mean |found & truth| / k */
    double ms_f32, ms_exact, ms_ann;             /* median milliseconds per query */
} clipc_recall_report;
clipc_status clipc_index_check_recall(clipc_index *ix, int nq, int k, const clipc_search_opts *o,
                                      clipc_recall_report *r);

/* Builds FILE.ann of kind "ivf,pq" or "hnsw" over the index's current
 * vectors (atomically written; search uses it while it is current). */
clipc_status clipc_index_build_ann(const char *db_path, const char *kind);
/* The kind of db_path's FILE.ann, when one is there (readable header):
 * kind[16] set, 1 returned; 0 when there is none. */
int clipc_index_ann_kind(const char *db_path, char kind[16]);

/* The matrix file on its own (what `clipc search --bench` times): n rows
 * of dim floats with an int64 id each. */
typedef struct clipc_vecfile clipc_vecfile;
/* Writes the file atomically (temp file + rename). */
clipc_status clipc_vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim);
/* Maps a file read-only and checks its header and size. */
clipc_status clipc_vecfile_open(const char *path, clipc_vecfile **out);
int clipc_vecfile_dim(const clipc_vecfile *v);
int64_t clipc_vecfile_rows(const clipc_vecfile *v);
/* Exact top-k by dot product: scores_all is the caller's scratch of
 * clipc_vecfile_rows() floats; rows[j], scores[j] for j < *got, best first. */
clipc_status clipc_vecfile_topk(const clipc_vecfile *v, const float *q, int k, float *scores_all, int64_t *rows,
                                float *scores, int *got);
void clipc_vecfile_close(clipc_vecfile *v);

/* A vector file written as it is generated (nothing held in memory but the
 * row ids): n rows of dim floats, appended in blocks, ids 1..n. */
typedef struct clipc_vecfile_writer clipc_vecfile_writer;
clipc_status clipc_vecfile_create(const char *path, int64_t n, int dim, clipc_vecfile_writer **out);
clipc_status clipc_vecfile_append(clipc_vecfile_writer *w, const float *rows, int64_t m);
/* Commits the file once all n rows are in (an error otherwise); frees w. */
clipc_status clipc_vecfile_finish(clipc_vecfile_writer *w);
void clipc_vecfile_abort(clipc_vecfile_writer *w);

/* Writes the int8 copy of v to path (FILE.vec8 layout) and uses it for EXACT. */
clipc_status clipc_vecfile_build_compact(clipc_vecfile *v, const char *path);
/* Writes an ANN index of kind over v to path, or reads one, and uses it for ANN. */
clipc_status clipc_vecfile_build_ann(clipc_vecfile *v, const char *path, const char *kind);
clipc_status clipc_vecfile_open_ann(clipc_vecfile *v, const char *path);
/* The same with HNSW's M (links per node, 2..256) and efConstruction
 * (1..4096); 0 keeps the defaults (32, FAISS's 40). */
clipc_status clipc_vecfile_build_ann_hnsw(clipc_vecfile *v, const char *path, const char *kind, int hnsw_m,
                                          int hnsw_ef_construction);
/* Top-k of v by mode (AUTO: ANN when one is attached, else EXACT when the
 * copy is attached, else F32). */
clipc_status clipc_vecfile_search(clipc_vecfile *v, const float *q, int k, const clipc_search_opts *o, int64_t *rows,
                                  float *scores, int *got);

#ifdef __cplusplus
}
#endif
#endif
