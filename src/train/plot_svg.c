/*
 * plot_svg.c — writes the training curves as a small SVG by hand.  A plot
 * of two panels with polylines and a few labels is ~100 lines of printf;
 * the C plotting libraries (PLplot, gnuplot via a pipe) would add a large
 * dependency or an external program for that, and SVG opens in any browser.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/plot_svg.h"
#include "clipc.h"
#include "clipc_util.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) CLIPC_PRINTF(2, 3);
#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = 2 * b->cap + (size_t)n + 256;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
}

/* One panel at (x0, y0) of size w x h with up to 3 series over n epochs. */
static void panel(sbuf *b, int x0, int y0, int w, int h, const char *title, const double *const *ys,
                  const char *const *names, const char *const *colors, int ns, int n, double ref,
                  const char *ref_name) {
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < ns; s++)
        for (int i = 0; i < n; i++)
            if (ys[s] && isfinite(ys[s][i])) lo = fmin(lo, ys[s][i]), hi = fmax(hi, ys[s][i]);
    if (isfinite(ref)) lo = fmin(lo, ref), hi = fmax(hi, ref);
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    sb_printf(b, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", x0, y0, w, h);
    sb_printf(b, "<text x='%d' y='%d' font-size='14'>%s</text>\n", x0, y0 - 8, title);
    sb_printf(b, "<text x='%d' y='%d' font-size='11' text-anchor='end'>%.3g</text>\n", x0 - 4, y0 + 10, hi);
    sb_printf(b, "<text x='%d' y='%d' font-size='11' text-anchor='end'>%.3g</text>\n", x0 - 4, y0 + h, lo);
    sb_printf(b, "<text x='%d' y='%d' font-size='11'>epoch 1</text>\n", x0, y0 + h + 14);
    sb_printf(b, "<text x='%d' y='%d' font-size='11' text-anchor='end'>%d</text>\n", x0 + w, y0 + h + 14, n);
#define PX(i) (x0 + (n > 1 ? (double)(i) * w / (n - 1) : w / 2.0))
#define PY(v) (y0 + h - ((v) - lo) / (hi - lo) * h)
    if (isfinite(ref)) {
        sb_printf(b, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#aaa' stroke-dasharray='4 3'/>\n", x0,
                  x0 + w, PY(ref), PY(ref));
        sb_printf(b, "<text x='%d' y='%.1f' font-size='10' fill='#888' text-anchor='end'>%s</text>\n", x0 + w - 2,
                  PY(ref) - 3, ref_name);
    }
    for (int s = 0; s < ns; s++) {
        if (!ys[s]) continue;
        sb_printf(b, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colors[s]);
        for (int i = 0; i < n; i++)
            if (isfinite(ys[s][i])) sb_printf(b, "%.1f,%.1f ", PX(i), PY(ys[s][i]));
        sb_printf(b, "'/>\n");
        for (int i = 0; i < n; i++)
            if (isfinite(ys[s][i]))
                sb_printf(b, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>\n", PX(i), PY(ys[s][i]), colors[s]);
        sb_printf(b, "<text x='%d' y='%d' font-size='11' fill='%s'>%s</text>\n", x0 + 8 + 110 * s, y0 + 16,
                  colors[s], names[s]);
    }
#undef PX
#undef PY
}

clipc_status plot_svg_write(const char *path, const double *train_loss, const double *val_loss,
                            const double *recall, int n, double chance) {
    sbuf b = {0};
    sb_printf(&b, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' "
                  "width='900' height='360' font-family='sans-serif'>\n<rect width='900' height='360' "
                  "fill='white'/>\n");
    const double *l[2] = {train_loss, val_loss};
    const char *ln[2] = {"train loss", "validation loss"}, *lc[2] = {"#1f77b4", "#d62728"};
    panel(&b, 60, 40, 360, 270, "contrastive loss", l, ln, lc, 2, n, chance, "ln(batch): chance");
    const double *r[1] = {recall};
    const char *rn[1] = {"mean Recall@1/5/10"}, *rc[1] = {"#2ca02c"};
    panel(&b, 500, 40, 360, 270, "validation retrieval", r, rn, rc, 1, n, NAN, "");
    sb_printf(&b, "</svg>\n");
    if (b.oom) {
        free(b.buf);
        return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory building the plot", path);
    }
    clipc_status s = clipc_write_file_atomic(path, b.buf, b.len);
    free(b.buf);
    return s;
}
