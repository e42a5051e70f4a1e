/*
 * fileio.h — file reading and atomic writes (fileio.c).  The functions are
 * public (clipc_util.h); this adds what only the library needs.
 */
#ifndef CLIPC_BASE_FILEIO_H
#define CLIPC_BASE_FILEIO_H

#include <sys/types.h>

#include "clipc.h"

/* Opens path for reading only if it is a regular file: O_NONBLOCK until
 * fstat has said so, so a FIFO or a device is refused at once ("not a
 * regular file") instead of blocking.  Returns the descriptor (blocking
 * again), or -1 with the error set. */
int file_open_regular(const char *path);

/* fsync the directory that holds `path` (after a rename). */
clipc_status fsync_dir_of(const char *path);

/* The I/O points of durable writes outside this file (checkpoint folders,
 * index transactions) announce themselves too, so the crash campaigns' hook
 * (clipc_set_io_hook) reaches them.  io_fault returns 0, or the errno the
 * hook injects; the io_* calls are the system calls with that point in
 * front (-1 and errno set when a failure is injected). */
int io_fault(const char *op, const char *path);
int io_mkdir(const char *path, mode_t mode);
int io_rename(const char *from, const char *to);
int io_unlink(const char *path);
int io_rmdir(const char *path);

/* Removes the temporary files of atomic writes to `target`
 * ("<target>.tmp.<pid>.<hex>") left by processes that no longer exist (a
 * kill mid-write); those of a live writer stay. */
void remove_stale_temps(const char *target);

#endif
