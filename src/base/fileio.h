/*
 * fileio.h — file reading and atomic writes (fileio.c).  The functions are
 * public (clipc_util.h); this adds what only the library needs.
 */
#ifndef CLIPC_BASE_FILEIO_H
#define CLIPC_BASE_FILEIO_H

#include <sys/types.h>

#include "clipc.h"
#include "clipc_util.h"

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

/* Leaves n bytes of zeros at the write position of an atomic file: a
 * hole (ftruncate + seek) in the temporary file, so the unused capacity of
 * an appendable file costs no disk; zeros written where there is no
 * temporary file (standard output, a device). */
clipc_status atomic_skip(clipc_atomic_file *f, uint64_t n);

/* In-place writes to an existing file (the appends of formats/appendable.c):
 * pwrite of all n bytes at off, and fsync, both through io_fault so the
 * crash campaigns reach them.  Errors name path. */
clipc_status file_pwrite(int fd, const void *buf, size_t n, uint64_t off, const char *path);
clipc_status file_sync(int fd, const char *path);

/* Removes the temporary files of atomic writes to `target`
 * ("<target>.tmp.<pid>.<hex>") left by processes that no longer exist (a
 * kill mid-write); those of a live writer stay. */
void remove_stale_temps(const char *target);

#endif
