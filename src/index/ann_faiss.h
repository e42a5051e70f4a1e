/*
 * ann_faiss.h — the approximate-nearest-neighbour index beside an index's
 * vector file (FILE.ann), built with FAISS (through faiss_shim.h).
 *
 * Kinds: "ivf,pq" (an inverted file of ~sqrt(n) lists, vectors product-
 * quantised to dim/8 bytes: small, fast to build) and "hnsw" (a 32-link
 * HNSW graph over the f32 vectors: best recall per query time, slow to
 * build, as large as FILE.vec).  FAISS returns 4k (at least 64) candidates
 * that are re-ranked with exact f32 dot products from FILE.vec, so scores
 * are exact and the order within the candidates is the exact one.
 *
 * Layout (little-endian, as the host):
 *   0   char[8]  "CLIPCANN"
 *   8   u32      version (1)
 *   12  u32      dim
 *   16  u64      n rows (FAISS labels are rows of FILE.vec)
 *   24  u64      generation of FILE.vec it was built from (stale otherwise)
 *   32  char[16] kind, NUL padded
 *   48  16 bytes zero
 *   64  ...      FAISS's own serialisation (write_index)
 *   end-16 u64   its length; u64 FNV-1a hash of it
 * The hash is checked before FAISS parses a byte, so a damaged file is
 * refused with a clear message instead of reaching FAISS's reader.
 */
#ifndef CLIPC_ANN_FAISS_H
#define CLIPC_ANN_FAISS_H

#include <stdint.h>

#include "clipc.h"
#include "formats/vecfile.h"

typedef struct ann_index ann_index;

/* Whether kind is one ann_build knows ("ivf,pq", "hnsw"). */
int ann_kind_valid(const char *kind);
/* Builds the kind of index over v's rows and writes it to path atomically.
 * hnsw_m / hnsw_efc: HNSW's links per node and efConstruction (0: 32 and
 * FAISS's 40; smaller builds faster at some recall, what the 1 M benchmark
 * on 2 cores needs); ignored for ivf,pq. */
clipc_status ann_build(const char *path, const vecfile *v, const char *kind, int hnsw_m, int hnsw_efc);
/* Reads path (header, hash, then FAISS's reader). */
clipc_status ann_open(const char *path, ann_index **out);
/* Everything ann_open checks before FAISS's reader sees a byte (the header,
 * the payload's length and hash), without FAISS: the header's dim, rows
 * and kind (NUL-terminated) when the checks pass (tests/fuzz/fuzz_ann.c). */
clipc_status ann_check_file(const char *path, int *dim, int64_t *rows, char kind[17]);
void ann_free(ann_index *a);
/* The kind recorded in path's header (kind[16]): 1, or 0 when there is no
 * readable ANN header there. */
int ann_peek_kind(const char *path, char kind[16]);
uint64_t ann_generation(const ann_index *a);
int64_t ann_rows(const ann_index *a);
int ann_dim(const ann_index *a);
const char *ann_kind(const ann_index *a);
/* Whether a was built from exactly v (rows, dim and generation). */
int ann_matches(const ann_index *a, const vecfile *v);
/* Top-k rows of v for the unit query q: FAISS's candidates (effort:
 * nprobe / efSearch, 0 = 32 / 64) re-ranked by f32 dot product.  rows[j],
 * scores[j] for j < *got, best first. */
clipc_status ann_search(ann_index *a, const vecfile *v, const float *q, int k, int effort, int rerank, int64_t *rows,
                        float *scores, int *got);

#endif
