/*
 * faiss_shim.h — the few FAISS calls clipc needs, as C functions
 * (faiss_shim.cc).  Why a shim: Debian's libfaiss-dev (1.7.3) ships the
 * headers of FAISS's C API (faiss/c_api/) but not its library — only the
 * C++ static library libfaiss.a, in which no faiss_* C symbol is defined —
 * so the narrowest working route is this one C++ file over the C++ API,
 * catching every exception at the boundary.
 *
 * Every function returns 0 on success or -1 with a message in err (errlen
 * bytes, NUL-terminated).  Distances are squared L2: on unit vectors they
 * rank as the cosine does (|a - b|^2 = 2 - 2 a.b).
 */
#ifndef CLIPC_FAISS_SHIM_H
#define CLIPC_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fshim fshim;

/* index_factory(dim, factory, L2), trained on ntrain rows of train, then
 * the n rows of x added (labels 0..n-1).  ef_construction > 0 sets an HNSW
 * index's efConstruction before the rows are added (0: FAISS's 40). */
int fshim_build(const char *factory, int dim, const float *train, int64_t ntrain, const float *x, int64_t n,
                int ef_construction, fshim **out, char *err, size_t errlen);
/* Serialises the index to f at its current position. */
int fshim_write(const fshim *ix, FILE *f, char *err, size_t errlen);
/* Reads an index from f at its current position. */
int fshim_read(FILE *f, fshim **out, char *err, size_t errlen);
int64_t fshim_ntotal(const fshim *ix);
int fshim_dim(const fshim *ix);
/* Searches nq queries for k labels each (-1 where fewer exist); effort is
 * nprobe for IVF indexes and efSearch for HNSW (0: leave as built). */
int fshim_search(fshim *ix, const float *q, int64_t nq, int k, int effort, float *dist, int64_t *labels, char *err,
                 size_t errlen);
void fshim_free(fshim *ix);

#ifdef __cplusplus
}
#endif
#endif
