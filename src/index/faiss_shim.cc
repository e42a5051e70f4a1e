/*
 * faiss_shim.cc — C entry points over FAISS's C++ API (see faiss_shim.h for
 * why this file exists).  Nothing here may let a C++ exception reach C.
 */
#include "index/faiss_shim.h"

#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>

struct fshim {
    faiss::Index *ix;
};

static int fail(char *err, size_t errlen, const char *msg) {
    if (errlen) {
        std::strncpy(err, msg, errlen - 1);
        err[errlen - 1] = 0;
        /* FAISS messages span lines ("Error in ... at file:line: ..."): keep the last. */
        for (char *c = err; *c; c++)
            if (*c == '\n') *c = ' ';
    }
    return -1;
}

#define GUARD(body)                                                                                  \
    try {                                                                                            \
        body                                                                                         \
    } catch (const std::exception &e) {                                                              \
        return fail(err, errlen, e.what());                                                          \
    } catch (...) {                                                                                  \
        return fail(err, errlen, "unknown FAISS error");                                             \
    }

extern "C" int fshim_build(const char *factory, int dim, const float *train, int64_t ntrain, const float *x,
                           int64_t n, int ef_construction, fshim **out, char *err, size_t errlen) {
    *out = nullptr;
    GUARD({
        std::unique_ptr<faiss::Index> ix(faiss::index_factory(dim, factory, faiss::METRIC_L2));
        /* The factory turns on polysemous training for 8-bit PQ: minutes of
         * simulated annealing for Hamming-distance filtering we never use. */
        if (auto *pq = dynamic_cast<faiss::IndexIVFPQ *>(ix.get())) pq->do_polysemous_training = false;
        if (auto *h = dynamic_cast<faiss::IndexHNSW *>(ix.get()))
            if (ef_construction > 0) h->hnsw.efConstruction = ef_construction;
        if (!ix->is_trained) ix->train(ntrain, train);
        ix->add(n, x);
        *out = new fshim{ix.release()};
        return 0;
    })
}

extern "C" int fshim_write(const fshim *ix, FILE *f, char *err, size_t errlen) {
    GUARD({
        faiss::write_index(ix->ix, f);
        return 0;
    })
}

extern "C" int fshim_read(FILE *f, fshim **out, char *err, size_t errlen) {
    *out = nullptr;
    GUARD({
        std::unique_ptr<faiss::Index> ix(faiss::read_index(f));
        *out = new fshim{ix.release()};
        return 0;
    })
}

extern "C" int64_t fshim_ntotal(const fshim *ix) { return ix->ix->ntotal; }

extern "C" int fshim_dim(const fshim *ix) { return ix->ix->d; }

extern "C" int fshim_search(fshim *ix, const float *q, int64_t nq, int k, int effort, float *dist, int64_t *labels,
                            char *err, size_t errlen) {
    GUARD({
        if (effort > 0) {
            if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(ix->ix))
                ivf->nprobe = std::min<size_t>((size_t)effort, ivf->nlist);
            else if (auto *h = dynamic_cast<faiss::IndexHNSW *>(ix->ix))
                h->hnsw.efSearch = std::max(effort, k);
        }
        /* FAISS parallelises over queries: one query gains nothing from a
         * parallel region and loses much when a core is busy elsewhere. */
        int nt = omp_get_max_threads();
        if (nq == 1) omp_set_num_threads(1);
        try {
            ix->ix->search(nq, q, k, dist, labels);
        } catch (...) {
            omp_set_num_threads(nt);
            throw;
        }
        omp_set_num_threads(nt);
        return 0;
    })
}

extern "C" void fshim_free(fshim *ix) {
    if (!ix) return;
    delete ix->ix;
    delete ix;
}
