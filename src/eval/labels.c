/*
 * labels.c — labelled image sets (include/clipc_labels.h): the CSV of
 * image,label rows `clipc eval --labels-csv` reads, through the library's
 * RFC 4180 reader (base/csv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clipc.h"
#include "clipc_labels.h"
#include "clipc_util.h"
#include "base/csv.h"
#include "base/utf8.h"

static int push_str(char ***a, int *n, const char *s) {
    char **na = realloc(*a, sizeof **a * (size_t)(*n + 1));
    if (!na) return -1;
    *a = na;
    if (!(na[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

clipc_status clipc_labels_read_csv(const char *path, const char *root, clipc_labels *L) {
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(path, &data, &len);
    if (s) return s;
    const char *nul = memchr(data, 0, len);
    if (nul) { /* the fields are C strings: a NUL would cut a path or a label */
        int line = 1;
        for (const char *q = data; q < nul; q++) line += *q == '\n';
        free(data);
        return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: a NUL byte in the text; remove it", path, line);
    }
    char rootbuf[4096];
    if (!root) {
        snprintf(rootbuf, sizeof rootbuf, "%s", path);
        char *sl = strrchr(rootbuf, '/');
        if (sl) *sl = 0;
        else strcpy(rootbuf, ".");
        root = rootbuf;
    }
    const char *p = data + utf8_bom_len(data, len), *end = data + len, *bad;
    csv_record r = {0};
    int line = 1, got;
    while (!s && (got = csv_next(&p, end, ',', &r, &line, &bad)) != 0) {
        int at = p > data && p[-1] == '\n' ? line - 1 : line; /* the line the record ends on */
        if (got < 0) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        if (bad) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s:%d: %s", path, at, bad);
            break;
        }
        const char *img = r.buf + r.off[0], *label = r.buf + r.off[r.n - 1];
        if (r.n == 1 && !*img) continue; /* blank line */
        if (L->n == 0 && r.n == 2 && !strcasecmp(img, "image") && !strcasecmp(label, "label")) continue;
        if (r.n < 2 || !*img || !*label) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s:%d: want image,label", path, at);
            break;
        }
        for (int f = 1; f < r.n - 1; f++) r.buf[r.off[f] - 1] = ','; /* unquoted commas in the path */
        int c = 0;
        while (c < L->n_classes && strcmp(L->classes[c], label)) c++;
        if (c == L->n_classes && push_str(&L->classes, &L->n_classes, label)) s = CLIPC_ERR_NOMEM;
        char f[8192];
        snprintf(f, sizeof f, "%s/%s", root, img);
        int *nl = s ? NULL : realloc(L->labels, sizeof(int) * (size_t)(L->n + 1));
        if (!nl || (L->labels = nl, push_str(&L->paths, &L->n, f))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        else L->labels[L->n - 1] = c;
    }
    csv_record_free(&r);
    free(data);
    if (!s && !L->n) s = clipc_error(CLIPC_ERR_FORMAT, "%s: no rows", path);
    return s;
}

void clipc_labels_free(clipc_labels *L) {
    for (int i = 0; i < L->n; i++) free(L->paths[i]);
    for (int i = 0; i < L->n_classes; i++) free(L->classes[i]);
    free(L->paths);
    free(L->classes);
    free(L->labels);
    memset(L, 0, sizeof *L);
}
