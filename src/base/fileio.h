/*
 * fileio.h — file reading and atomic writes (fileio.c).  The functions are
 * public (clipc_util.h); this adds what only the library needs.
 */
#ifndef CLIPC_BASE_FILEIO_H
#define CLIPC_BASE_FILEIO_H

#include "clipc.h"

/* fsync the directory that holds `path` (after a rename). */
clipc_status fsync_dir_of(const char *path);

#endif
