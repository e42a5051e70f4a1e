/*
 * encode_bulk.c — `clipc encode --dir DIR | --list FILE --out emb.npy`: bulk
 * image embedding as clip-retrieval users expect: a NumPy .npy float32
 * matrix [n, embed_dim] (rows L2-normalised with --normalize) and beside it
 * OUT.paths, one JSON string per line giving the image of each row
 * (surrogate-escaped, so any file name survives).  Unreadable images are
 * listed on stderr and left out (they get no row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_index.h"
#include "cli.h"

/* NPY v1.0: magic, version, header length, a Python dict padded with spaces
 * to a multiple of 64 bytes and ending in '\n', then the raw data. */
static clipc_status write_npy(const char *path, const float *x, int n, int d) {
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, d);
    int total = 10 + dl + 1, pad = (64 - total % 64) % 64;
    char hdr[256];
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    int hl = dl + pad + 1;
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);
    memcpy(hdr + 10, dict, (size_t)dl);
    memset(hdr + 10 + dl, ' ', (size_t)pad);
    hdr[10 + dl + pad] = '\n';
    clipc_atomic_file *f;
    clipc_status s = clipc_atomic_open(path, &f);
    if (s) return s;
    s = clipc_atomic_write(f, hdr, (size_t)(10 + hl));
    if (!s && n) s = clipc_atomic_write(f, x, sizeof(float) * (size_t)n * d);
    if (s) {
        clipc_atomic_abort(f);
        return s;
    }
    return clipc_atomic_commit(f);
}

int encode_bulk(const char *model_path, const clipc_load_opts *lo, const char *dir, const char *list, const char *out,
                int normalize) {
    char **paths = NULL;
    size_t n = 0;
    clipc_status s;
    if (dir) {
        s = clipc_index_list_images(dir, &paths, &n);
    } else {
        char *data;
        size_t len;
        s = clipc_read_file(list, &data, &len);
        if (!s) {
            paths = malloc(sizeof *paths * (len / 2 + 2));
            if (!paths) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            for (char *save = NULL, *l = paths ? strtok_r(data, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
                size_t k = strlen(l);
                if (k && l[k - 1] == '\r') l[--k] = 0;
                if (k) paths[n++] = strdup(l);
            }
            free(data);
        }
    }
    clipc_model *m = NULL;
    float *emb = NULL;
    char *meta = NULL;
    size_t mlen = 0;
    if (!s) s = clipc_model_load(model_path, lo, &m);
    if (s) goto done;
    int E = clipc_model_config(m)->embed_dim, rows = 0, R = clipc_model_config(m)->image_resolution, B = 32;
    size_t pxn = (size_t)3 * R * R;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    float *px = malloc(sizeof(float) * pxn * B);
    emb = malloc(sizeof(float) * (n + 1) * (size_t)E);
    FILE *mf = open_memstream(&meta, &mlen);
    if (!px || !emb || !mf) {
        free(px);
        if (mf) fclose(mf);
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    progress pr;
    progress_init(&pr, "encode");
    for (size_t i = 0; i < n && !s;) {
        int k = 0;
        size_t first = (size_t)rows;
        for (; i < n && k < B; i++) {
            clipc_image im;
            clipc_status is = clipc_image_load(paths[i], &im);
            if (!is) {
                is = clipc_preprocess_transform(&im, &tf, px + (size_t)k * pxn, NULL);
                if (is) clipc_error_prefix("%s", paths[i]);
                clipc_image_free(&im);
            }
            if (is) {
                fprintf(stderr, "clipc: skipped: %s\n", clipc_last_error());
                continue;
            }
            json_write_string(mf, paths[i]);
            fputc('\n', mf);
            k++;
        }
        s = clipc_encode_image(m, px, k, emb + first * E);
        rows += k;
        progress_update(&pr, (long)i, (long)n);
    }
    free(px);
    fclose(mf);
    if (s) goto done;
    if (normalize) clipc_l2_normalize(emb, rows, E);
    s = write_npy(out, emb, rows, E);
    if (!s) {
        size_t pl = strlen(out) + 7;
        char *pp = malloc(pl);
        snprintf(pp, pl, "%s.paths", out);
        s = clipc_write_file_atomic(pp, meta, mlen);
        free(pp);
    }
    if (!s) fprintf(stderr, "clipc: %d of %zu images -> %s (+ .paths)\n", rows, n, out);
done:
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(emb);
    free(meta);
    clipc_model_free(m);
    return s ? cli_report(s) : 0;
}
