/*
 * csv.h — an RFC 4180 record reader over a buffer in memory (csv.c).
 */
#ifndef CLIPC_CSV_H
#define CLIPC_CSV_H

#include <stddef.h>

/* One record: field i is the NUL-terminated string buf + off[i]. */
typedef struct {
    char *buf;          /* unescaped field bytes, each field NUL-terminated */
    size_t len, cap;
    size_t *off;        /* field start offsets into buf */
    int n, ncap;
} csv_record;

/* Parses one record at *pp (before end) with separator delim into r
 * (reused call after call).  Returns 1 if a record was read, 0 at the end,
 * -1 out of memory; *bad receives a reason when the record is malformed
 * (the parser still moves past it).  *line counts newlines. */
int csv_next(const char **pp, const char *end, char delim, csv_record *r, int *line, const char **bad);
void csv_record_free(csv_record *r);

#endif
