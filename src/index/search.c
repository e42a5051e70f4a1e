/*
 * search.c — the public handles of include/clipc_index.h for searching: an
 * opened index (its SQLite database, its path and, once searched, its
 * mapped FILE.vec, FILE.vec8 and FILE.ann) and the matrix file on its own,
 * over index.c's, scan.c's, ann_faiss.c's and formats/'s functions.
 *
 * Which search runs (clipc_search_mode): AUTO takes FILE.ann when it is
 * current, else the int8 scan of FILE.vec8 with an f32 re-rank, else (the
 * copy cannot be written, e.g. a read-only folder) one sgemv over FILE.vec.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "index/ann_faiss.h"
#include "index/index.h"
#include "index/scan.h"

struct clipc_vecfile {
    vecfile v;
    vec8file c;
    int has_c;
    ann_index *ann;
    float *scratch; /* n + 1 floats for the f32 scan, made on first use */
};

struct clipc_index {
    sqlite3 *db;
    char *path;
    struct clipc_vecfile vs;
    int mapped, c_tried, ann_tried, ann_stale;
    char ann_error[256];
};

static void store_close(struct clipc_vecfile *st) {
    if (st->has_c) vec8_close(&st->c);
    ann_free(st->ann);
    free(st->scratch);
    vecfile_close(&st->v);
    memset(st, 0, sizeof *st);
}

/* Top-k rows of st by the resolved mode; *used says which ran. */
static clipc_status store_search(struct clipc_vecfile *st, const float *q, int k, const clipc_search_opts *o,
                                 int64_t *rows, float *scores, int *got, clipc_search_mode *used) {
    static const clipc_search_opts dflt = {0};
    if (!o) o = &dflt;
    clipc_search_mode m = o->mode;
    if (m == CLIPC_SEARCH_AUTO) m = st->ann ? CLIPC_SEARCH_ANN : CLIPC_SEARCH_EXACT;
    if (m == CLIPC_SEARCH_EXACT && !st->has_c) m = CLIPC_SEARCH_F32;
    *used = m;
    if (m == CLIPC_SEARCH_ANN) {
        if (!st->ann) return clipc_error(CLIPC_ERR_INVALID, "search: no ANN index to search");
        return ann_search(st->ann, &st->v, q, k, o->effort, o->rerank, rows, scores, got);
    }
    if (m == CLIPC_SEARCH_EXACT) return scan_topk(&st->v, &st->c, q, k, o->cand, o->threads, rows, scores, got);
    if (!st->scratch && !(st->scratch = malloc(sizeof(float) * (size_t)(st->v.n + 1))))
        return clipc_error(CLIPC_ERR_NOMEM, "search: out of memory");
    return vecfile_topk(&st->v, q, k, st->scratch, rows, scores, got);
}

/* ------------------------------------------------------------- the index */

clipc_status clipc_index_open(const char *db_path, clipc_index **out) {
    *out = NULL;
    clipc_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->path = strdup(db_path))) {
        free(ix);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    clipc_status s = index_open_readonly(db_path, &ix->db);
    if (s) {
        clipc_index_close(ix);
        return s;
    }
    *out = ix;
    return CLIPC_OK;
}

void clipc_index_close(clipc_index *ix) {
    if (!ix) return;
    if (ix->mapped) store_close(&ix->vs);
    sqlite3_close(ix->db);
    free(ix->path);
    free(ix);
}

clipc_status clipc_index_meta(clipc_index *ix, const char *key, char **value) { return index_meta(ix->db, key, value); }

clipc_status clipc_index_check_model(clipc_index *ix, const char *model_path) {
    return index_check_model(ix->db, ix->path, model_path);
}

static char *suffixed(const char *p, const char *suffix) {
    size_t n = strlen(p) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", p, suffix);
    return s;
}

/* Opens FILE.ann when there is one; a damaged or stale one is noted (ANN mode: an error). */
static clipc_status try_ann(clipc_index *ix, clipc_search_mode mode) {
    char *ap = suffixed(ix->path, ".ann");
    if (!ap) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = CLIPC_OK;
    if (access(ap, F_OK) == 0) {
        s = ann_open(ap, &ix->vs.ann);
        if (!s && !ann_matches(ix->vs.ann, &ix->vs.v)) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s is stale (built over %lld rows at generation %llu; the index has %lld "
                            "at generation %llu): run clipc index --ann %s", ap, (long long)ann_rows(ix->vs.ann),
                            (unsigned long long)ann_generation(ix->vs.ann), (long long)ix->vs.v.n,
                            (unsigned long long)ix->vs.v.generation, ann_kind(ix->vs.ann));
            ann_free(ix->vs.ann);
            ix->vs.ann = NULL;
        }
        if (s) {
            ix->ann_stale = 1;
            snprintf(ix->ann_error, sizeof ix->ann_error, "%s", clipc_last_error());
        }
    } else if (mode == CLIPC_SEARCH_ANN) {
        s = clipc_error(CLIPC_ERR_IO, "%s: no ANN index (make one with clipc index --ann ivf,pq|hnsw)", ap);
    }
    free(ap);
    return mode == CLIPC_SEARCH_ANN ? s : CLIPC_OK;
}

/* Maps what mode needs: FILE.vec, then FILE.vec8 and FILE.ann as asked. */
static clipc_status prepare(clipc_index *ix, int dim, clipc_search_mode mode) {
    clipc_status s = CLIPC_OK;
    if (!ix->mapped) {
        s = index_open_vec(ix->db, ix->path, &ix->vs.v);
        if (s) return s;
        ix->mapped = 1;
    }
    if (ix->vs.v.dim != dim)
        return clipc_error(CLIPC_ERR_FORMAT, "%s.vec: %d-d vectors, the model makes %d-d", ix->path, ix->vs.v.dim, dim);
    if ((mode == CLIPC_SEARCH_AUTO || mode == CLIPC_SEARCH_ANN) && !ix->ann_tried) {
        ix->ann_tried = 1;
        s = try_ann(ix, mode);
        if (s) {
            ix->ann_tried = 0;
            return s;
        }
    }
    if (mode == CLIPC_SEARCH_ANN && !ix->vs.ann)
        return clipc_error(CLIPC_ERR_FORMAT, "%s", ix->ann_error[0] ? ix->ann_error : "no ANN index");
    if (mode != CLIPC_SEARCH_F32 && !ix->c_tried) {
        ix->c_tried = 1;
        /* A copy that cannot be written (read-only folder) leaves the f32 scan. */
        ix->vs.has_c = index_open_vec8(ix->path, &ix->vs.v, &ix->vs.c) == CLIPC_OK;
    }
    return CLIPC_OK;
}

static clipc_status paths_of(clipc_index *ix, const int64_t *rows, int n, char **paths) {
    clipc_status s = CLIPC_OK;
    int i = 0;
    for (; i < n && !s; i++) s = index_row_path(ix->db, ix->vs.v.ids[rows[i]], &paths[i]);
    if (s)
        for (int j = 0; j < i; j++) {
            free(paths[j]);
            paths[j] = NULL;
        }
    return s;
}

clipc_status clipc_index_search_with(clipc_index *ix, const float *q, int dim, int k, const clipc_search_opts *o,
                                     float *scores, char **paths, int *got, clipc_search_info *info) {
    static const clipc_search_opts dflt = {0};
    if (!o) o = &dflt;
    *got = 0;
    clipc_status s = prepare(ix, dim, o->mode);
    if (s) return s;
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    if (!rows) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_search_mode used = CLIPC_SEARCH_F32;
    int n = 0;
    s = store_search(&ix->vs, q, k, o, rows, scores, &n, &used);
    if (!s) s = paths_of(ix, rows, n, paths);
    free(rows);
    if (info) {
        memset(info, 0, sizeof *info);
        info->used = used;
        info->ann_stale = ix->ann_stale;
        snprintf(info->ann_error, sizeof info->ann_error, "%s", ix->ann_error);
        if (ix->vs.ann) snprintf(info->ann_kind, sizeof info->ann_kind, "%s", ann_kind(ix->vs.ann));
    }
    if (!s) *got = n;
    return s;
}

clipc_status clipc_index_search(clipc_index *ix, const float *q, int dim, int k, float *scores, char **paths,
                                int *got) {
    return clipc_index_search_with(ix, q, dim, k, NULL, scores, paths, got, NULL);
}

clipc_status clipc_index_build_ann(const char *db_path, const char *kind) {
    if (!ann_kind_valid(kind))
        return clipc_error(CLIPC_ERR_INVALID, "unknown ANN kind '%s' (ivf,pq or hnsw)", kind ? kind : "");
    sqlite3 *db = NULL;
    vecfile v;
    char *ap = suffixed(db_path, ".ann");
    clipc_status s = ap ? index_open_readonly(db_path, &db) : clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s) s = index_open_vec(db, db_path, &v);
    if (!s) {
        s = ann_build(ap, &v, kind, 0, 0);
        vecfile_close(&v);
    }
    sqlite3_close(db);
    free(ap);
    return s;
}

int clipc_index_ann_kind(const char *db_path, char kind[16]) {
    char *ap = suffixed(db_path, ".ann");
    int r = ap && ann_peek_kind(ap, kind);
    free(ap);
    return r;
}

static double median_ms(double *x, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j]; x[j] = x[j - 1]; x[j - 1] = t;
        }
    return n == 0 ? 0 : 1e3 * (n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]));
}

static int overlap(const int64_t *a, int na, const int64_t *b, int nb) {
    int c = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i] == b[j]) {
                c++;
                break;
            }
    return c;
}

clipc_status clipc_index_check_recall(clipc_index *ix, int nq, int k, const clipc_search_opts *o,
                                      clipc_recall_report *r) {
    memset(r, 0, sizeof *r);
    clipc_status s = CLIPC_OK;
    if (!ix->mapped) {
        s = index_open_vec(ix->db, ix->path, &ix->vs.v);
        if (s) return s;
        ix->mapped = 1;
    }
    if ((s = prepare(ix, ix->vs.v.dim, CLIPC_SEARCH_AUTO))) return s;
    struct clipc_vecfile *st = &ix->vs;
    if (st->v.n == 0 || nq <= 0 || k <= 0) return clipc_error(CLIPC_ERR_INVALID, "%s: nothing to check (an empty index)", ix->path);
    if (nq > st->v.n) nq = (int)st->v.n;
    clipc_search_opts so = o ? *o : (clipc_search_opts){0};
    int64_t *rows = malloc(sizeof(int64_t) * 2 * (size_t)k);
    float *sc = malloc(sizeof(float) * (size_t)k);
    double *t = malloc(sizeof(double) * 3 * (size_t)nq);
    if (!rows || !sc || !t) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    double hit_c = 0, hit_a = 0;
    int nt = 0;
    clipc_search_mode used;
    for (int i = 0; i < nq && !s; i++) {
        const float *q = st->v.data + (size_t)(i * st->v.n / nq) * (size_t)st->v.dim;
        int gt = 0, g = 0;
        double t0 = clipc_now();
        so.mode = CLIPC_SEARCH_F32;
        s = store_search(st, q, k, &so, rows, sc, &gt, &used);
        t[i] = clipc_now() - t0;
        nt += gt;
        if (!s) {
            t0 = clipc_now();
            so.mode = CLIPC_SEARCH_EXACT;
            s = store_search(st, q, k, &so, rows + k, sc, &g, &used);
            t[nq + i] = clipc_now() - t0;
            hit_c += overlap(rows + k, g, rows, gt);
        }
        if (!s && st->ann) {
            t0 = clipc_now();
            so.mode = CLIPC_SEARCH_ANN;
            s = store_search(st, q, k, &so, rows + k, sc, &g, &used);
            t[2 * nq + i] = clipc_now() - t0;
            hit_a += overlap(rows + k, g, rows, gt);
        }
    }
    if (!s) {
        r->queries = nq;
        r->k = k;
        r->has_ann = st->ann != NULL;
        if (st->ann) snprintf(r->ann_kind, sizeof r->ann_kind, "%s", ann_kind(st->ann));
        r->recall_exact = nt ? hit_c / nt : 1.0;
        r->recall_ann = nt && st->ann ? hit_a / nt : 0.0;
        r->ms_f32 = median_ms(t, nq);
        r->ms_exact = median_ms(t + nq, nq);
        r->ms_ann = st->ann ? median_ms(t + 2 * nq, nq) : 0.0;
    }
    free(rows);
    free(sc);
    free(t);
    return s;
}

/* ----------------------------------------------------- the matrix on its own */

clipc_status clipc_vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim) {
    return vecfile_write(path, data, ids, n, dim, 0);
}

clipc_status clipc_vecfile_open(const char *path, clipc_vecfile **out) {
    *out = NULL;
    clipc_vecfile *v = calloc(1, sizeof *v);
    if (!v) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = vecfile_open(path, &v->v);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    return CLIPC_OK;
}

int clipc_vecfile_dim(const clipc_vecfile *v) { return v->v.dim; }

int64_t clipc_vecfile_rows(const clipc_vecfile *v) { return v->v.n; }

clipc_status clipc_vecfile_topk(const clipc_vecfile *v, const float *q, int k, float *scores_all, int64_t *rows,
                                float *scores, int *got) {
    return vecfile_topk(&v->v, q, k, scores_all, rows, scores, got);
}

void clipc_vecfile_close(clipc_vecfile *v) {
    if (!v) return;
    store_close(v);
    free(v);
}

clipc_status clipc_vecfile_create(const char *path, int64_t n, int dim, clipc_vecfile_writer **out) {
    *out = NULL;
    vecfile_writer *w;
    clipc_status s = vecfile_writer_open(path, n, dim, 0, &w);
    if (!s) *out = (clipc_vecfile_writer *)w; /* the public name of the same struct */
    return s;
}

clipc_status clipc_vecfile_append(clipc_vecfile_writer *w, const float *rows, int64_t m) {
    return vecfile_writer_append((vecfile_writer *)w, rows, m);
}

clipc_status clipc_vecfile_finish(clipc_vecfile_writer *w) { return vecfile_writer_finish((vecfile_writer *)w); }

void clipc_vecfile_abort(clipc_vecfile_writer *w) { vecfile_writer_abort((vecfile_writer *)w); }

clipc_status clipc_vecfile_build_compact(clipc_vecfile *v, const char *path) {
    if (v->has_c) vec8_close(&v->c);
    v->has_c = 0;
    clipc_status s = vec8_write(path, v->v.data, v->v.n, v->v.dim, v->v.generation);
    if (!s) s = vec8_open(path, &v->c);
    if (!s) v->has_c = 1;
    return s;
}

clipc_status clipc_vecfile_open_ann(clipc_vecfile *v, const char *path) {
    ann_free(v->ann);
    v->ann = NULL;
    ann_index *a;
    clipc_status s = ann_open(path, &a);
    if (s) return s;
    if (!ann_matches(a, &v->v)) {
        ann_free(a);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: built over another vector file (stale)", path);
    }
    v->ann = a;
    return CLIPC_OK;
}

clipc_status clipc_vecfile_build_ann(clipc_vecfile *v, const char *path, const char *kind) {
    return clipc_vecfile_build_ann_hnsw(v, path, kind, 0, 0);
}

clipc_status clipc_vecfile_build_ann_hnsw(clipc_vecfile *v, const char *path, const char *kind, int hnsw_m,
                                          int hnsw_ef_construction) {
    clipc_status s = ann_build(path, &v->v, kind, hnsw_m, hnsw_ef_construction);
    return s ? s : clipc_vecfile_open_ann(v, path);
}

clipc_status clipc_vecfile_search(clipc_vecfile *v, const float *q, int k, const clipc_search_opts *o, int64_t *rows,
                                  float *scores, int *got) {
    clipc_search_mode used;
    return store_search(v, q, k, o, rows, scores, got, &used);
}

/* ------------------------------------------------ pages, rows and folders */

/* 1 when path lies under folder (as stored; "" or NULL = everywhere):
 * folder is a prefix ending at a '/' of path, so "a/b" holds "a/b/x.jpg"
 * but not "a/bc/x.jpg". */
static int under_folder(const char *path, const char *folder) {
    if (!folder || !*folder) return 1;
    size_t n = strlen(folder);
    while (n > 1 && folder[n - 1] == '/') n--;
    if (n == 1 && folder[0] == '/') return path[0] == '/';
    return strncmp(path, folder, n) == 0 && path[n] == '/';
}

void clipc_hits_free(clipc_hit *h, int n) {
    for (int i = 0; h && i < n; i++) {
        free(h[i].path);
        h[i].path = NULL;
    }
}

/* The rank window [offset, offset + k) of the results under folder, from
 * the top `want` rows of the whole index: *avail counts the matching rows
 * seen; the window's hits are filled (paths malloc'ed). */
static clipc_status window_of(clipc_index *ix, const int64_t *rows, const float *sc, int n, const char *folder,
                              int offset, int k, clipc_hit *hits, int *got, int *avail) {
    clipc_status s = CLIPC_OK;
    int seen = 0;
    *got = 0;
    for (int i = 0; i < n && !s; i++) {
        int64_t id = ix->vs.v.ids[rows[i]];
        char *p = NULL;
        int need_path = (folder && *folder) || (seen >= offset && seen < offset + k);
        if (!need_path) {
            seen++;
            continue;
        }
        if ((s = index_row_path(ix->db, id, &p))) break;
        if (!under_folder(p, folder)) {
            free(p);
            continue;
        }
        if (seen >= offset && seen < offset + k) {
            hits[*got] = (clipc_hit){id, sc[i], p};
            (*got)++;
        } else {
            free(p);
        }
        seen++;
    }
    if (s) {
        clipc_hits_free(hits, *got);
        *got = 0;
    }
    *avail = seen;
    return s;
}

clipc_status clipc_index_search_page(clipc_index *ix, const float *q, int dim, const clipc_page *pg, clipc_hit *hits,
                                     int *got, int *more) {
    *got = 0;
    *more = 0;
    if (pg->offset < 0 || pg->k < 1 || pg->offset > 1000000 || pg->k > 100000)
        return clipc_error(CLIPC_ERR_RANGE, "search: offset %d and k %d out of range (0..1000000, 1..100000)",
                           pg->offset, pg->k);
    clipc_status s = prepare(ix, dim, CLIPC_SEARCH_AUTO);
    if (s) return s;
    int64_t n = ix->vs.v.n;
    /* One more than the window, to tell whether a next page exists; with a
     * folder, widen the top-K until the window is filled or all rows seen. */
    int64_t need = (int64_t)pg->offset + pg->k + 1, want = need < n ? need : n;
    int64_t *rows = NULL;
    float *sc = NULL;
    for (;;) {
        int64_t *nr = realloc(rows, sizeof(int64_t) * (size_t)(want > 0 ? want : 1));
        float *ns = nr ? realloc(sc, sizeof(float) * (size_t)(want > 0 ? want : 1)) : NULL;
        if (nr) rows = nr;
        if (ns) sc = ns;
        if (!nr || !ns) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        int n_got = 0, avail = 0;
        clipc_search_mode used;
        if (want > 0) s = store_search(&ix->vs, q, (int)want, NULL, rows, sc, &n_got, &used);
        if (s) break;
        s = window_of(ix, rows, sc, n_got, pg->folder, pg->offset, pg->k, hits, got, &avail);
        if (s) break;
        if (avail >= need || want >= n) {
            *more = avail >= need;
            break;
        }
        clipc_hits_free(hits, *got);
        *got = 0;
        want = want * 4 < n ? want * 4 : n;
    }
    free(rows);
    free(sc);
    return s;
}

/* The row of id in the mapped matrix (ids ascending, as write_vec orders
 * them), or -1. */
static int64_t row_of(const vecfile *v, int64_t id) {
    int64_t lo = 0, hi = v->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v->ids[mid] == id) return mid;
        if (v->ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* Maps FILE.vec (rebuilt when stale) if it is not mapped yet. */
static clipc_status map_vec(clipc_index *ix) {
    if (ix->mapped) return CLIPC_OK;
    clipc_status s = index_open_vec(ix->db, ix->path, &ix->vs.v);
    if (!s) ix->mapped = 1;
    return s;
}

clipc_status clipc_index_image(clipc_index *ix, int64_t id, char **path, float *vec, int dim) {
    if (path) *path = NULL;
    clipc_status s = map_vec(ix);
    if (s) return s;
    int64_t r = row_of(&ix->vs.v, id);
    if (r < 0) return clipc_error(CLIPC_ERR_RANGE, "%s: no image with id %lld", ix->path, (long long)id);
    if (vec && dim != ix->vs.v.dim)
        return clipc_error(CLIPC_ERR_FORMAT, "%s.vec: %d-d vectors, asked for %d", ix->path, ix->vs.v.dim, dim);
    if (vec) memcpy(vec, ix->vs.v.data + (size_t)r * (size_t)dim, sizeof(float) * (size_t)dim);
    return path ? index_row_path(ix->db, id, path) : CLIPC_OK;
}

int64_t clipc_index_size(clipc_index *ix) { return map_vec(ix) ? -1 : ix->vs.v.n; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

clipc_status clipc_index_folders(clipc_index *ix, char ***folders, int *n) {
    *folders = NULL;
    *n = 0;
    clipc_status s = map_vec(ix);
    if (s) return s;
    char **f = NULL;
    int cnt = 0, cap = 0;
    for (int64_t r = 0; r < ix->vs.v.n && !s; r++) {
        char *p = NULL;
        if ((s = index_row_path(ix->db, ix->vs.v.ids[r], &p))) break;
        char *slash = strrchr(p, '/');
        if (!slash) {
            free(p);
            continue;
        }
        *(slash == p ? slash + 1 : slash) = 0; /* the folder of "/x.jpg" is "/" */
        if (cnt == cap) {
            char **nf = realloc(f, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 16));
            if (!nf) {
                free(p);
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                break;
            }
            f = nf;
        }
        f[cnt++] = p;
    }
    if (!s && cnt) {
        qsort(f, (size_t)cnt, sizeof *f, cmp_str);
        int w = 0;
        for (int i = 0; i < cnt; i++) {
            if (w && !strcmp(f[w - 1], f[i])) free(f[i]);
            else f[w++] = f[i];
        }
        cnt = w;
    }
    if (s) {
        for (int i = 0; i < cnt; i++) free(f[i]);
        free(f);
        return s;
    }
    *folders = f;
    *n = cnt;
    return CLIPC_OK;
}
