/*
 * vec8.h — the compact copy of an index's vector file (FILE.vec8 beside
 * FILE.vec): every row quantised to int8 with its own scale, so an exact
 * search reads 1 byte per dimension instead of 4.  The scan of 1 M x 512
 * f32 rows (2 GB) is bound by memory bandwidth; the int8 copy (0.5 GB) is
 * scanned first and only the best few hundred rows are re-scored in f32
 * (index/scan.c).  int8 was chosen over f16 by measurement: see
 * docs/using.md ("Search at scale").
 *
 * Quantisation: s = max|x_j| / 127, q_j = round(x_j / s); a row that holds
 * nan/inf gets scale NaN (never ranked), a zero row scale 0.
 *
 * Layout, version 2 (little-endian, as the host), appendable in place
 * like FILE.vec (formats/appendable.h):
 *   0   char[8]  "CLIPCV8\0"
 *   8   u32      version (2)
 *   12  u32      dim
 *   16  u64      capacity (rows the file has room for)
 *   24  u32      stride (bytes per row: dim rounded up to 64, zero padded)
 *   28  u32      0
 *   32  u64      offset of the scales (128 + capacity * stride)
 *   40  24 bytes zero
 *   64  2 x 32   commit records: n rows, generation (FILE.vec's: a stale
 *                copy is detected), sequence, checksum
 *   128 int8     capacity x stride; rows n.. unused (a hole)
 *   ..  float32  capacity scales; n.. unused
 * Version 1 (read, never written): a 64-byte header with n at 16, the
 * generation at 24, the stride at 32, the scales' offset at 40, the rows at
 * 64 and the scales right after n rows.
 * The file is derived data: it is written from FILE.vec (or from the same
 * rows), appended to with the rows appended to FILE.vec, and rebuilt when
 * missing, damaged or stale.
 */
#ifndef CLIPC_VEC8_H
#define CLIPC_VEC8_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef struct {
    int dim, stride;
    int64_t n;
    int64_t capacity; /* rows that fit without a rewrite (version 1: n) */
    int version;
    uint64_t generation;
    const int8_t *data;   /* n x stride */
    const float *scales;  /* n */
    void *map;
    size_t map_len;
} vec8file;

/* Bytes per row for dim (a multiple of 64, so SIMD loads need no tail). */
int vec8_stride(int dim);
/* Quantises one row of dim floats into stride bytes; returns its scale. */
float vec8_quantize_row(const float *x, int dim, int stride, int8_t *out);
/* Writes the int8 copy of the n x dim matrix data atomically, streamed in
 * blocks (data may be a mapping of FILE.vec: nothing is held twice). */
clipc_status vec8_write(const char *path, const float *data, int64_t n, int dim, uint64_t generation);
/* The same with room for capacity >= n rows. */
clipc_status vec8_write_room(const char *path, const float *data, int64_t n, int64_t capacity, int dim,
                             uint64_t generation);
/* Appends the int8 form of m f32 rows in place, crash-safe, when the file is
 * version 2 with dim, n rows at expect_gen and room (see vecfile_append);
 * *appended = 0 otherwise (the caller rewrites it). */
clipc_status vec8_append(const char *path, const float *rows, int64_t m, int dim, int64_t n, uint64_t expect_gen,
                         uint64_t new_gen, int *appended);
/* Maps a file read-only and checks its header and size. */
clipc_status vec8_open(const char *path, vec8file *out);
void vec8_close(vec8file *v);

#endif
