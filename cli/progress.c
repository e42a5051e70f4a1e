/*
 * progress.c — a one-line progress meter with an ETA on stderr for long
 * runs (index, eval, encode).  Redrawn with \r at most 4 times a second when
 * stderr is a terminal; otherwise a line every 10 seconds, so logs stay short.
 */
#include <stdio.h>
#include <unistd.h>

#include "clipc_util.h"
#include "cli.h"

void progress_init(progress *p, const char *what) {
    p->what = what;
    p->start = p->last = clipc_now();
    p->tty = isatty(2);
    p->drawn = 0;
}

void progress_update(progress *p, long done, long total) {
    double now = clipc_now();
    int final = done >= total;
    if (!final && now - p->last < (p->tty ? 0.25 : 10.0)) return;
    if (final && !p->drawn && now - p->start < 1.0) return; /* quick runs print nothing */
    p->last = now;
    double el = now - p->start, eta = done > 0 ? el / (double)done * (double)(total - done) : 0;
    fprintf(stderr, "%s%s: %ld/%ld (%.0f%%) %.1fs elapsed, ETA %.1fs%s", p->tty ? "\r" : "", p->what, done, total,
            total ? 100.0 * (double)done / (double)total : 100.0, el, eta, p->tty && !final ? "  " : "\n");
    p->drawn = 1;
}
