/*
 * search.c — the public handles of include/clipc_index.h for searching: an
 * opened index (its SQLite database, its path and, once searched, its
 * mapped FILE.vec) and the matrix file on its own, over index.c's and
 * formats/vecfile.c's functions.
 */
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "clipc.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "formats/vecfile.h"

struct clipc_index {
    sqlite3 *db;
    char *path;
    vecfile v;
    int mapped;
};

struct clipc_vecfile {
    vecfile v;
};

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
    if (ix->mapped) vecfile_close(&ix->v);
    sqlite3_close(ix->db);
    free(ix->path);
    free(ix);
}

clipc_status clipc_index_meta(clipc_index *ix, const char *key, char **value) { return index_meta(ix->db, key, value); }

clipc_status clipc_index_check_model(clipc_index *ix, const char *model_path) {
    return index_check_model(ix->db, ix->path, model_path);
}

clipc_status clipc_index_search(clipc_index *ix, const float *q, int dim, int k, float *scores, char **paths,
                                int *got) {
    *got = 0;
    clipc_status s = CLIPC_OK;
    if (!ix->mapped) {
        s = index_open_vec(ix->db, ix->path, &ix->v);
        if (s) return s;
        ix->mapped = 1;
    }
    if (ix->v.dim != dim)
        return clipc_error(CLIPC_ERR_FORMAT, "%s.vec: %d-d vectors, the model makes %d-d", ix->path, ix->v.dim, dim);
    float *all = malloc(sizeof(float) * (size_t)(ix->v.n + 1));
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)k);
    if (!all || !rows) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    int n = 0;
    if (!s) s = vecfile_topk(&ix->v, q, k, all, rows, scores, &n);
    int i = 0;
    for (; i < n && !s; i++) s = index_row_path(ix->db, ix->v.ids[rows[i]], &paths[i]);
    if (s) {
        for (int j = 0; j < i; j++) {
            free(paths[j]);
            paths[j] = NULL;
        }
        n = 0;
    }
    free(all);
    free(rows);
    *got = n;
    return s;
}

clipc_status clipc_vecfile_write(const char *path, const float *data, const int64_t *ids, int64_t n, int dim) {
    return vecfile_write(path, data, ids, n, dim, 0);
}

clipc_status clipc_vecfile_open(const char *path, clipc_vecfile **out) {
    *out = NULL;
    clipc_vecfile *v = malloc(sizeof *v);
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
    vecfile_close(&v->v);
    free(v);
}
