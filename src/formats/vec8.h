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
 * Layout (little-endian, as the host):
 *   0   char[8]  "CLIPCV8\0"
 *   8   u32      version (1)
 *   12  u32      dim
 *   16  u64      n rows
 *   24  u64      generation (copied from FILE.vec: a stale copy is detected)
 *   32  u32      stride (bytes per row: dim rounded up to 64, zero padded)
 *   36  u32      0
 *   40  u64      offset of the scales (64 + n * stride)
 *   48  16 bytes zero
 *   64  int8     n x stride
 *   ..  float32  n scales
 * The file is derived data: it is rewritten atomically from FILE.vec (or
 * from the same rows) and rebuilt when missing, damaged or stale.
 */
#ifndef CLIPC_VEC8_H
#define CLIPC_VEC8_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef struct {
    int dim, stride;
    int64_t n;
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
/* Maps a file read-only and checks its header and size. */
clipc_status vec8_open(const char *path, vec8file *out);
void vec8_close(vec8file *v);

#endif
