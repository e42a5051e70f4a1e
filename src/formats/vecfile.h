/*
 * vecfile.h — a plain float32 matrix of unit vectors on disk, mmap'd for
 * exact search.  `clipc index` keeps one beside its SQLite database so a
 * query is one BLAS sgemv over contiguous memory instead of a walk over
 * SQLite rows (1M x 512 floats = 2 GB: a table scan would decode every BLOB).
 *
 * Layout (little-endian, as the host):
 *   0   char[8]  "CLIPCVEC"
 *   8   u32      version (1)
 *   12  u32      dim
 *   16  u64      n rows
 *   24  u64      generation (the database's, so a stale file is detected)
 *   32  u64      offset of the data (64)
 *   40  u64      offset of the row -> id map (int64 per row; the first
 *                multiple of 8 after the matrix, zero padding before it)
 *   48  16 bytes zero
 *   64  float32  n x dim, row-major
 *   ..  int64    n ids (SQLite rowids)
 */
#ifndef CLIPC_VECFILE_H
#define CLIPC_VECFILE_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef struct {
    int dim;
    int64_t n;
    uint64_t generation;
    const float *data;  /* n x dim */
    const int64_t *ids; /* n */
    void *map;
    size_t map_len;
} vecfile;

/* Writes the matrix atomically (temp file + rename). */
clipc_status vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim,
                           uint64_t generation);
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
