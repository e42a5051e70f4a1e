/*
 * ann_faiss.c — FILE.ann: a FAISS index over FILE.vec's rows (see
 * ann_faiss.h for the kinds, the layout and why candidates are re-ranked).
 * FAISS reads and writes through a FILE*; the writer's FILE* is a glibc
 * cookie stream over the atomic-write helpers, hashing as it goes, so the
 * file appears whole (temp file + rename) or not at all.
 */
#include "index/ann_faiss.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "clipc_util.h"
#include "index/faiss_shim.h"
#include "index/scan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANN_MAGIC "CLIPCANN"
#define ANN_HDR 64
#define ANN_TRAILER 16

struct ann_index {
    fshim *ix;
    int dim;
    int64_t n;
    uint64_t generation;
    char kind[17];
};

int ann_kind_valid(const char *kind) { return kind && (!strcmp(kind, "ivf,pq") || !strcmp(kind, "hnsw")); }

/* The FAISS factory string for kind over n rows of dim. */
static void factory_for(const char *kind, int64_t n, int dim, int hnsw_m, char *out, size_t len) {
    if (!strcmp(kind, "hnsw")) {
        snprintf(out, len, "HNSW%d", hnsw_m > 0 ? hnsw_m : 32);
        return;
    }
    /* ~sqrt(n) lists, each trained on >= 39 points (FAISS's minimum). */
    int64_t nlist = (int64_t)sqrt((double)n);
    if (nlist > n / 39) nlist = n / 39;
    if (nlist < 1) nlist = 1;
    /* dim/8 sub-quantisers (8 dims each) when dim allows, else the largest divisor below. */
    int m = dim / 8 > 0 ? dim / 8 : 1;
    while (dim % m) m--;
    /* 256 codes need ~10k training points; small sets use 16. */
    int bits = n >= 256 * 39 ? 8 : 4;
    snprintf(out, len, "IVF%lld,PQ%dx%d", (long long)nlist, m, bits);
}

typedef struct {
    clipc_atomic_file *f;
    uint64_t hash, len;
    clipc_status err;
} sink;

static ssize_t sink_write(void *c, const char *buf, size_t n) {
    sink *k = c;
    if (k->err) return -1;
    k->err = clipc_atomic_write(k->f, buf, n);
    if (k->err) return -1;
    k->hash = hash_bytes(buf, n, k->hash);
    k->len += n;
    return (ssize_t)n;
}

/* Copies ntrain rows spread evenly over v (FAISS trains on a sample). */
static float *train_sample(const vecfile *v, int64_t ntrain) {
    float *t = malloc(sizeof(float) * (size_t)ntrain * (size_t)v->dim);
    for (int64_t i = 0; t && i < ntrain; i++)
        memcpy(t + (size_t)i * v->dim, v->data + (size_t)(i * v->n / ntrain) * v->dim, sizeof(float) * (size_t)v->dim);
    return t;
}

clipc_status ann_build(const char *path, const vecfile *v, const char *kind, int hnsw_m, int hnsw_efc) {
    if (!ann_kind_valid(kind))
        return clipc_error(CLIPC_ERR_INVALID, "%s: unknown ANN kind '%s' (ivf,pq or hnsw)", path, kind ? kind : "");
    if (hnsw_m < 0 || hnsw_m == 1 || hnsw_m > 256 || hnsw_efc < 0 || hnsw_efc > 4096)
        return clipc_error(CLIPC_ERR_INVALID, "%s: HNSW M %d / efConstruction %d out of range (2..256, 1..4096)", path,
                           hnsw_m, hnsw_efc);
    /* IVF-PQ's k-means wants >= 39 points per centroid (FAISS warns on
     * stderr otherwise): 1000 rows give 25 lists of 16 codes. */
    int64_t min_n = strcmp(kind, "hnsw") ? 1000 : 64;
    if (v->n < min_n)
        return clipc_error(CLIPC_ERR_INVALID, "%s: %lld vectors are too few for an %s index (%lld at least; exact "
                           "search is instant at this size)", path, (long long)v->n, kind, (long long)min_n);
    char fac[64], err[512];
    factory_for(kind, v->n, v->dim, hnsw_m, fac, sizeof fac);
    /* Training sample: 40 points per list (FAISS wants >= 39), and >= 16k
     * for the 256 codes of each sub-quantiser; more only costs time. */
    int64_t nlist = (int64_t)sqrt((double)v->n), ntrain = 40 * nlist > 16384 ? 40 * nlist : 16384;
    if (ntrain > v->n) ntrain = v->n;
    float *train = strcmp(kind, "hnsw") ? train_sample(v, ntrain) : NULL;
    if (strcmp(kind, "hnsw") && !train) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
    fshim *ix = NULL;
    int rc = fshim_build(fac, v->dim, train, ntrain, v->data, v->n, hnsw_efc, &ix, err, sizeof err);
    free(train);
    if (rc) return clipc_error(CLIPC_ERR_INVALID, "%s: FAISS %s: %s", path, fac, err);

    uint8_t h[ANN_HDR] = {0};
    memcpy(h, ANN_MAGIC, 8);
    uint32_t ver = 1, dim = (uint32_t)v->dim;
    uint64_t n = (uint64_t)v->n, gen = v->generation;
    memcpy(h + 8, &ver, 4);
    memcpy(h + 12, &dim, 4);
    memcpy(h + 16, &n, 8);
    memcpy(h + 24, &gen, 8);
    memcpy(h + 32, kind, strlen(kind));
    sink k = {NULL, HASH_FNV_OFFSET, 0, CLIPC_OK};
    clipc_status s = clipc_atomic_open(path, &k.f);
    if (!s) s = clipc_atomic_write(k.f, h, sizeof h);
    if (!s) {
        FILE *f = fopencookie(&k, "w", (cookie_io_functions_t){.write = sink_write});
        if (!f) s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
        else {
            rc = fshim_write(ix, f, err, sizeof err);
            if (fclose(f) && !k.err) k.err = clipc_error(CLIPC_ERR_IO, "%s: write failed", path);
            s = k.err ? k.err : rc ? clipc_error(CLIPC_ERR_IO, "%s: FAISS write: %s", path, err) : CLIPC_OK;
        }
    }
    uint64_t tr[2] = {k.len, k.hash};
    if (!s) s = clipc_atomic_write(k.f, tr, sizeof tr);
    fshim_free(ix);
    if (s) {
        if (k.f) clipc_atomic_abort(k.f);
        return s;
    }
    return clipc_atomic_commit(k.f);
}

/* The header's fixed fields: the magic, and the kind NUL-padded to byte
 * 48 with the 16 reserved bytes zero, as ann_build writes them (one rule
 * for check_file and ann_peek_kind: the fuzz target found a kind followed
 * by junk that one accepted and the other refused). */
static int header_ok(const uint8_t h[ANN_HDR]) {
    if (memcmp(h, ANN_MAGIC, 8)) return 0;
    size_t k = strnlen((const char *)h + 32, 16);
    for (size_t i = 32 + k; i < ANN_HDR; i++)
        if (h[i]) return 0;
    return 1;
}

/* Checks the header and the payload's length and hash; leaves f at the payload. */
static clipc_status check_file(const char *path, FILE *f, ann_index *a) {
    uint8_t h[ANN_HDR];
    uint64_t tr[2];
    struct stat st;
    const char *bad = "not a clipc ANN index or truncated";
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) return clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
    if (st.st_size < ANN_HDR + ANN_TRAILER || fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, ANN_MAGIC, 8))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: %s", path, bad);
    uint32_t ver, dim;
    memcpy(&ver, h + 8, 4);
    memcpy(&dim, h + 12, 4);
    memcpy(&a->n, h + 16, 8);
    memcpy(&a->generation, h + 24, 8);
    memcpy(a->kind, h + 32, 16);
    a->kind[16] = 0;
    a->dim = (int)dim;
    if (ver != 1 || dim == 0 || dim > 65536 || a->n < 0 || !ann_kind_valid(a->kind) || !header_ok(h))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: %s (bad header)", path, bad);
    if (fseeko(f, st.st_size - ANN_TRAILER, SEEK_SET) || fread(tr, 1, sizeof tr, f) != sizeof tr ||
        tr[0] != (uint64_t)st.st_size - ANN_HDR - ANN_TRAILER)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: %s (length mismatch)", path, bad);
    if (fseeko(f, ANN_HDR, SEEK_SET)) return clipc_error(CLIPC_ERR_IO, "%s: seek: %s", path, strerror(errno));
    uint8_t *buf = malloc(1 << 20);
    if (!buf) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
    uint64_t hash = HASH_FNV_OFFSET, left = tr[0];
    while (left) {
        size_t want = left < (1u << 20) ? (size_t)left : (1u << 20), got = fread(buf, 1, want, f);
        if (got != want) break;
        hash = hash_bytes(buf, got, hash);
        left -= got;
    }
    free(buf);
    if (left || hash != tr[1]) return clipc_error(CLIPC_ERR_FORMAT, "%s: damaged ANN index (checksum mismatch); "
                                                  "rebuild it with clipc index --ann KIND", path);
    if (fseeko(f, ANN_HDR, SEEK_SET)) return clipc_error(CLIPC_ERR_IO, "%s: seek: %s", path, strerror(errno));
    return CLIPC_OK;
}

/* Opens path and checks it (check_file); *f is left at the payload, or
 * NULL on an error. */
static clipc_status open_checked(const char *path, ann_index *a, FILE **f) {
    /* file_open_regular: a FIFO is refused, not waited on. */
    int fd = file_open_regular(path);
    *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fd >= 0 && !*f) close(fd);
    clipc_status s = fd < 0 ? CLIPC_ERR_IO : *f ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", path);
    if (!s) s = check_file(path, *f, a);
    if (s && *f) {
        fclose(*f);
        *f = NULL;
    }
    return s;
}

clipc_status ann_check_file(const char *path, int *dim, int64_t *rows, char kind[17]) {
    ann_index a;
    memset(&a, 0, sizeof a);
    FILE *f;
    clipc_status s = open_checked(path, &a, &f);
    if (s) return s;
    fclose(f);
    *dim = a.dim;
    *rows = a.n;
    memcpy(kind, a.kind, 17);
    return CLIPC_OK;
}

clipc_status ann_open(const char *path, ann_index **out) {
    *out = NULL;
    ann_index *a = calloc(1, sizeof *a);
    if (!a) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    FILE *f;
    clipc_status s = open_checked(path, a, &f);
    char err[512];
    if (!s && fshim_read(f, &a->ix, err, sizeof err))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: FAISS could not read the index: %s", path, err);
    if (!s && (fshim_ntotal(a->ix) != a->n || fshim_dim(a->ix) != a->dim))
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: the FAISS index holds %lld x %d vectors, the header says %lld x %d", path,
                        (long long)fshim_ntotal(a->ix), fshim_dim(a->ix), (long long)a->n, a->dim);
    if (f) fclose(f);
    if (s) {
        ann_free(a);
        return s;
    }
    *out = a;
    return CLIPC_OK;
}

int ann_peek_kind(const char *path, char kind[16]) {
    uint8_t h[ANN_HDR];
    int fd = file_open_regular(path);
    if (fd < 0) return 0;
    ssize_t r = read(fd, h, sizeof h);
    close(fd);
    if (r != (ssize_t)sizeof h || !header_ok(h)) return 0;
    memcpy(kind, h + 32, 16);
    return ann_kind_valid(kind);
}

void ann_free(ann_index *a) {
    if (!a) return;
    fshim_free(a->ix);
    free(a);
}

uint64_t ann_generation(const ann_index *a) { return a->generation; }
int64_t ann_rows(const ann_index *a) { return a->n; }
int ann_dim(const ann_index *a) { return a->dim; }
const char *ann_kind(const ann_index *a) { return a->kind; }

int ann_matches(const ann_index *a, const vecfile *v) {
    return a->n == v->n && a->dim == v->dim && a->generation == v->generation;
}

clipc_status ann_search(ann_index *a, const vecfile *v, const float *q, int k, int effort, int rerank, int64_t *rows,
                        float *scores, int *got) {
    *got = 0;
    if (!ann_matches(a, v))
        return clipc_error(CLIPC_ERR_FORMAT, "the ANN index (%lld rows, generation %llu) is not of this vector file "
                           "(%lld rows, generation %llu)", (long long)a->n, (unsigned long long)a->generation,
                           (long long)v->n, (unsigned long long)v->generation);
    if (k <= 0 || v->n == 0) return CLIPC_OK;
    /* The candidates FAISS returns are re-ranked in f32 (scan_rerank): PQ
     * distances are coarse, so the true top 10 is often just outside the
     * PQ top 64 (recall@10 0.796 at 1M with 64); re-scoring 256 rows of
     * 512 floats costs ~0.1 ms. */
    int kc = rerank > 0 ? rerank : 4 * k < 256 ? 256 : 4 * k;
    if (kc < k) kc = k;
    if (kc > v->n) kc = (int)v->n;
    if (effort <= 0) effort = strcmp(a->kind, "hnsw") ? 32 : 64;
    float *d = malloc(sizeof(float) * (size_t)kc);
    int64_t *lab = malloc(sizeof(int64_t) * (size_t)kc);
    char err[512];
    clipc_status s = d && lab ? CLIPC_OK : clipc_error(CLIPC_ERR_NOMEM, "search: out of memory");
    if (!s && fshim_search(a->ix, q, 1, kc, effort, d, lab, err, sizeof err))
        s = clipc_error(CLIPC_ERR_INVALID, "FAISS search: %s", err);
    if (!s) {
        /* Drop FAISS's -1 fillers and anything out of range, then re-rank. */
        int m = 0;
        for (int i = 0; i < kc; i++)
            if (lab[i] >= 0 && lab[i] < v->n) lab[m++] = lab[i];
        scan_rerank(v, q, lab, m, k, rows, scores, got);
    }
    free(d);
    free(lab);
    return s;
}
