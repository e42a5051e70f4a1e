/*
 * clipc_util.h — the small services clipc uses itself and offers to code
 * built on it (the clipc CLI is such code): the thread's last-error message,
 * reading a whole file, atomic durable writes and a monotonic clock.
 */
#ifndef CLIPC_UTIL_H
#define CLIPC_UTIL_H

#include <stddef.h>
#include "clipc.h"

#if defined(__GNUC__)
#define CLIPC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLIPC_PRINTF(a, b)
#endif

/* Records a one-line error message for this thread (clipc_last_error) and
 * returns `code`, so a failing path reads:
 *   return clipc_error(CLIPC_ERR_FORMAT, "%s: ...", path); */
clipc_status clipc_error(clipc_status code, const char *fmt, ...) CLIPC_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (adds context on the way up). */
void clipc_error_prefix(const char *fmt, ...) CLIPC_PRINTF(1, 2);
void clipc_error_clear(void);

/* Reads a whole file into memory (NUL-terminated for convenience). */
clipc_status clipc_read_file(const char *path, char **data, size_t *len);

/* Atomic durable write: writes to "<path>.tmp.<pid>", fsyncs it, renames it
 * over `path`, fsyncs the directory.  Either the old or the new file is
 * there after a crash, never a mix.  Writers stream through the callback. */
typedef struct clipc_atomic_file clipc_atomic_file;
clipc_status clipc_atomic_open(const char *path, clipc_atomic_file **out);
clipc_status clipc_atomic_write(clipc_atomic_file *f, const void *buf, size_t n);
clipc_status clipc_atomic_commit(clipc_atomic_file *f); /* frees f */
void clipc_atomic_abort(clipc_atomic_file *f);           /* frees f, removes temp */
/* One-shot form. */
clipc_status clipc_write_file_atomic(const char *path, const void *buf, size_t n);

/* Test hook of the crash campaigns (installed by clipc-testhooks only):
 * called before each step of a durable write (op is "create", "write",
 * "fsync", "rename", "unlink", "rmdir", "mkdir", "sqlite-begin",
 * "sqlite-commit", "sqlite-committed"; path the file or folder concerned).
 * It may kill the process, or return an errno value that the step then
 * fails with (0: go on).  NULL removes it.  Not thread-safe to install. */
typedef int (*clipc_io_hook)(const char *op, const char *path, void *ud);
void clipc_set_io_hook(clipc_io_hook hook, void *ud);

/* Monotonic seconds. */
double clipc_now(void);

#endif
