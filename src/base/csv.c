/*
 * csv.c — RFC 4180 records (caption files, eval's labels).
 *
 * Written by hand: the format is a few dozen lines, and Debian's CSV
 * libraries (libcsv) add a callback API for no gain here.  Quoted fields
 * may hold the separator, doubled quotes and newlines; CRLF line ends are
 * accepted.
 */
#include "base/csv.h"

#include <stdlib.h>

static int rec_putc(csv_record *r, char c) {
    if (r->len + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        char *p = realloc(r->buf, cap);
        if (!p) return -1;
        r->buf = p;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return 0;
}

static int rec_field(csv_record *r) {
    if (r->n == r->ncap) {
        int cap = r->ncap ? r->ncap * 2 : 8;
        size_t *p = realloc(r->off, (size_t)cap * sizeof *p);
        if (!p) return -1;
        r->off = p;
        r->ncap = cap;
    }
    r->off[r->n++] = r->len;
    return 0;
}

int csv_next(const char **pp, const char *end, char delim, csv_record *r, int *line, const char **bad) {
    const char *p = *pp;
    r->len = 0;
    r->n = 0;
    *bad = NULL;
    if (p >= end) return 0;
    for (;;) {
        if (rec_field(r)) return -1;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    *bad = "unterminated quoted field";
                    break;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if (rec_putc(r, '"')) return -1;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n') (*line)++;
                if (rec_putc(r, *p++)) return -1;
            }
            /* After the closing quote only a separator or end of line may follow. */
            if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n')) p++;
            if (p < end && *p != delim && *p != '\n') {
                if (!*bad) *bad = "text after a closing quote";
                while (p < end && *p != delim && *p != '\n') p++;
            }
        } else {
            while (p < end && *p != delim && *p != '\n') {
                if (rec_putc(r, *p++)) return -1;
            }
            if (r->len > r->off[r->n - 1] && r->buf[r->len - 1] == '\r' && (p == end || *p == '\n'))
                r->len--;
        }
        if (rec_putc(r, 0)) return -1;
        if (p < end && *p == delim) {
            p++;
            continue;
        }
        if (p < end) { /* '\n' */
            p++;
            (*line)++;
        }
        break;
    }
    *pp = p;
    return 1;
}

void csv_record_free(csv_record *r) {
    free(r->buf);
    free(r->off);
    r->buf = NULL;
    r->off = NULL;
    r->len = r->cap = 0;
    r->n = r->ncap = 0;
}
