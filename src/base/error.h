/*
 * error.h — the library's internal side of error reporting (error.c):
 * allocation that records CLIPC_ERR_NOMEM, overflow-checked sizes and
 * warnings through a caller's callback.  The message functions themselves
 * (clipc_error, clipc_last_error) are public: clipc_util.h, clipc.h.
 */
#ifndef CLIPC_BASE_ERROR_H
#define CLIPC_BASE_ERROR_H

#include <stddef.h>
#include "clipc_util.h"

/* malloc/calloc that record CLIPC_ERR_NOMEM with `what` on failure. */
void *mem_alloc(size_t n, const char *what);
void *mem_calloc(size_t count, size_t size, const char *what);

/* n*m without overflow; returns 0 and sets *out on success, -1 on overflow. */
int mul_overflow(size_t n, size_t m, size_t *out);

/* Formats a message and passes it to a warn(msg, ud) callback, if any. */
void warnf(void (*warn)(const char *, void *), void *ud, const char *fmt, ...) CLIPC_PRINTF(3, 4);

#endif
