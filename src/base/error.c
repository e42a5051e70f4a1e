/*
 * error.c — per-thread error messages.
 *
 * The library reports failure by returning a clipc_status and leaving a
 * one-line message here, so a caller several frames up can print exactly
 * which file, tensor or line was wrong without the library ever printing or
 * exiting itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "clipc.h"
#include "clipc_util.h"

#define ERR_CAP 1024
static _Thread_local char err_msg[ERR_CAP];

const char *clipc_last_error(void) { return err_msg; }

const char *clipc_status_name(clipc_status s) {
    switch (s) {
    case CLIPC_OK: return "ok";
    case CLIPC_ERR_IO: return "io";
    case CLIPC_ERR_FORMAT: return "format";
    case CLIPC_ERR_INVALID: return "invalid";
    case CLIPC_ERR_NOMEM: return "nomem";
    case CLIPC_ERR_UNSUPPORTED: return "unsupported";
    case CLIPC_ERR_RANGE: return "range";
    }
    return "unknown";
}

clipc_status clipc_error(clipc_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, ERR_CAP, fmt, ap);
    va_end(ap);
    /* Keep messages on one line: a newline from a library or a file name
     * would break the CLI's one-line error contract. */
    for (char *p = err_msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

void clipc_error_prefix(const char *fmt, ...) {
    char prefix[ERR_CAP], old[ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, ERR_CAP, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, ERR_CAP);
    /* Truncation is fine: the message stays one readable line. */
    size_t n = strlen(prefix);
    if (n > ERR_CAP / 2) n = ERR_CAP / 2;
    memcpy(err_msg, prefix, n);
    err_msg[n] = ':';
    err_msg[n + 1] = ' ';
    size_t m = strlen(old);
    if (m > ERR_CAP - n - 3) m = ERR_CAP - n - 3;
    memcpy(err_msg + n + 2, old, m);
    err_msg[n + 2 + m] = 0;
}

void clipc_error_clear(void) { err_msg[0] = 0; }

void *mem_alloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) clipc_error(CLIPC_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *mem_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) clipc_error(CLIPC_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s",
                        count, size, what);
    return p;
}

int mul_overflow(size_t n, size_t m, size_t *out) {
    if (m != 0 && n > SIZE_MAX / m) return -1;
    *out = n * m;
    return 0;
}

void warnf(void (*warn)(const char *, void *), void *ud, const char *fmt, ...) {
    if (!warn) return;
    char buf[ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    warn(buf, ud);
}
