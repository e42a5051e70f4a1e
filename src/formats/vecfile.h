/*
 * vecfile.h — a plain float32 matrix of unit vectors on disk, mmap'd for
 * exact search.  `clipc index` keeps one beside its SQLite database so a
 * query is one BLAS sgemv over contiguous memory instead of a walk over
 * SQLite rows (1M x 512 floats = 2 GB: a table scan would decode every BLOB).
 *
 * Layout, version 2 (little-endian, as the host), appendable in place
 * (formats/appendable.h: rows are added after row n, then a commit record):
 *   0   char[8]  "CLIPCVEC"
 *   8   u32      version (2)
 *   12  u32      dim
 *   16  u64      capacity (rows the file has room for)
 *   24  u64      offset of the data (128)
 *   32  u64      offset of the row -> id map (int64 per row; the first
 *                multiple of 8 after capacity rows)
 *   40  24 bytes zero
 *   64  2 x 32   commit records: n rows, generation (the database's, so a
 *                stale file is detected), sequence, checksum
 *   128 float32  capacity x dim, row-major; rows n.. unused (a hole)
 *   ..  int64    capacity ids (SQLite rowids); n.. unused
 * Version 1 (read, never written): a 64-byte header with n at 16, the
 * generation at 24, the data at 64 and the ids right after n rows (no room
 * to append: an index in this layout is rewritten as version 2 once).
 */
#ifndef CLIPC_VECFILE_H
#define CLIPC_VECFILE_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef struct {
    int dim;
    int64_t n;
    int64_t capacity; /* rows that fit without a rewrite (version 1: n) */
    int version;
    uint64_t generation;
    uint64_t seq;       /* the commit record's sequence (version 2) */
    const float *data;  /* n x dim */
    const int64_t *ids; /* n */
    void *map;
    size_t map_len;
} vecfile;

/* Writes the matrix atomically (temp file + rename), with room for no more
 * rows (vecfile_write) or for capacity >= n rows (vecfile_write_room). */
clipc_status vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim,
                           uint64_t generation);
clipc_status vecfile_write_room(const char *path, const float *data, const int64_t *ids, int64_t n, int64_t capacity,
                                int dim, uint64_t generation);
/* Appends m rows (ids) in place, crash-safe, if the file is still the one
 * the caller knows — version 2, dim, n rows at generation expect_gen — and
 * has room; the file then holds n + m rows at new_gen.  *appended = 0 (and
 * CLIPC_OK) when it is not or has no room: the caller rewrites it. */
clipc_status vecfile_append(const char *path, const float *rows, const int64_t *ids, int64_t m, int dim, int64_t n,
                            uint64_t expect_gen, uint64_t new_gen, int *appended);
/* The same file written as rows come (nothing held but a block of ids):
 * n rows announced, appended in any blocks, ids 1..n, committed by finish
 * (an error unless all n came); abort removes the temp file. */
typedef struct vecfile_writer vecfile_writer;
clipc_status vecfile_writer_open(const char *path, int64_t n, int dim, uint64_t generation, vecfile_writer **out);
clipc_status vecfile_writer_append(vecfile_writer *w, const float *rows, int64_t m);
clipc_status vecfile_writer_finish(vecfile_writer *w); /* frees w */
void vecfile_writer_abort(vecfile_writer *w);           /* frees w */
/* Maps a file read-only and checks its header and size. */
clipc_status vecfile_open(const char *path, vecfile *out);
void vecfile_close(vecfile *v);

/* Exact top-k by dot product (the rows and q are unit vectors, so cosine):
 * one cblas_sgemv into `scores_all` (n floats, caller's scratch), then a
 * k-element min-heap.  rows[j], scores[j] for j < *got, best first; ties go
 * to the lower row. */
clipc_status vecfile_topk(const vecfile *v, const float *q, int k, float *scores_all, int64_t *rows,
                          float *scores, int *got);

#endif
