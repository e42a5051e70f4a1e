/*
 * read_csv.c — the CSV / TSV reader (readers.h): "image,caption" rows
 * (RFC 4180 quoting through base/csv.h), with an optional header that may
 * name the image and caption columns in any order.
 */
#include <string.h>
#include <strings.h>

#include "data/readers.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/csv.h"
#include "base/utf8.h"

static int name_in(const char *s, const char *const *names) {
    const char *t = s;
    size_t n = strlen(s);
    text_trim(&t, &n);
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(t, names[i], n) == 0) return 1;
    return 0;
}

clipc_status read_csv(builder *b, const char *buf, size_t len, char delim) {
    static const char *const img_names[] = {"image", "images", "image_name", "image_path", "img",
                                            "img_path", "filename", "file_name", "file", "path",
                                            "filepath", NULL};
    static const char *const cap_names[] = {"caption", "captions", "text", "comment", "sentence",
                                            "raw", "title", NULL};
    clipc_status s = text_check(b->path, buf, len, 1);
    if (s) return s;
    size_t bom = utf8_bom_len(buf, len);
    const char *p = buf + bom, *end = buf + len;
    csv_record r = {0};
    int line = 1, first = 1, img_col = 0, cap_col = 1, n_fields = 2;
    for (;;) {
        int start = line;
        const char *bad;
        int got = csv_next(&p, end, delim, &r, &line, &bad);
        if (got < 0) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory reading %s", b->path);
            break;
        }
        if (got == 0) break;
        if (r.n == 1 && text_is_blank(r.buf, strlen(r.buf))) continue; /* empty line */
        if (bad) {
            ds_warn(b, W_MALFORMED, b->path, start, "%s", bad);
            continue;
        }
        if (first) {
            first = 0;
            int hi = -1, hc = -1;
            for (int f = 0; f < r.n; f++) {
                if (hi < 0 && name_in(r.buf + r.off[f], img_names)) hi = f;
                else if (hc < 0 && name_in(r.buf + r.off[f], cap_names)) hc = f;
            }
            if (hi >= 0 && hc >= 0) {
                img_col = hi, cap_col = hc, n_fields = r.n;
                continue;
            }
            if (hi == 0 && r.n == 2) continue; /* "image,<something>" header */
        }
        if (r.n != n_fields) {
            ds_warn(b, W_MALFORMED, b->path, start,
                    "%d fields where %d are expected (quote captions that contain '%s')", r.n,
                    n_fields, delim == '\t' ? "\\t" : ",");
            continue;
        }
        const char *name = r.buf + r.off[img_col], *cap = r.buf + r.off[cap_col];
        size_t nn = strlen(name), cn = strlen(cap);
        if (!text_utf8_valid(name, nn) || !text_utf8_valid(cap, cn)) {
            ds_warn(b, W_UTF8, b->path, start, "field is not valid UTF-8");
            continue;
        }
        text_trim(&name, &nn);
        if (!nn) {
            ds_warn(b, W_MALFORMED, b->path, start, "empty image name");
            continue;
        }
        s = builder_pair_add(b, name, nn, cap, cn, start, b->path);
        if (s) break;
    }
    csv_record_free(&r);
    return s;
}
