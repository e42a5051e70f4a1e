/*
 * run_lock.c — the run folder's lock (see run_lock.h).  The lock file stays
 * in the folder: removing it would let a process that opened the old file
 * and one that creates a new one both hold "the" lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "clipc_util.h"
#include "train/run_lock.h"

clipc_status run_lock_take(const char *out_dir, int *fd) {
    *fd = -1;
    size_t n = strlen(out_dir) + 6;
    char *path = malloc(n);
    if (!path) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/lock", out_dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (f < 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot open the run's lock file: %s", path, strerror(errno));
        free(path);
        return s;
    }
    free(path);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t r = pread(f, buf, sizeof buf - 1, 0);
        buf[r > 0 ? r : 0] = 0;
        long pid = strtol(buf, NULL, 10);
        close(f);
        if (e == EWOULDBLOCK)
            return clipc_error(CLIPC_ERR_IO, "train: %s is in use by another clipc train (pid %ld); wait for it to "
                               "end or use another --out", out_dir, pid);
        return clipc_error(CLIPC_ERR_IO, "train: %s: cannot lock the run folder: %s", out_dir, strerror(e));
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, buf, (size_t)len, 0) != len) {
        /* The lock holds without the pid; only a competitor's message lacks it. */
    }
    *fd = f;
    return CLIPC_OK;
}

void run_lock_release(int fd) {
    if (fd >= 0) close(fd);
}
