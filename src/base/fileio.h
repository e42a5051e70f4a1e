/*
 * fileio.h — file reading and atomic writes (fileio.c).  The functions are
 * public (clipc_util.h); this adds what only the library needs.
 */
#ifndef CLIPC_BASE_FILEIO_H
#define CLIPC_BASE_FILEIO_H

#include "clipc.h"

/* Opens path for reading only if it is a regular file: O_NONBLOCK until
 * fstat has said so, so a FIFO or a device is refused at once ("not a
 * regular file") instead of blocking.  Returns the descriptor (blocking
 * again), or -1 with the error set. */
int file_open_regular(const char *path);

/* fsync the directory that holds `path` (after a rename). */
clipc_status fsync_dir_of(const char *path);

#endif
