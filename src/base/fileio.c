/*
 * fileio.c — reading whole files and writing files atomically.
 *
 * Every durable write in clipc (models, checkpoints, indexes, reports) goes
 * through clipc_atomic_*: temp file in the same directory, fsync, rename over
 * the target, fsync the directory.  A crash or kill -9 at any point leaves
 * either the previous file or the new one, never a torn mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

struct clipc_atomic_file {
    int fd;
    char *path;
    char *tmp;
};

double clipc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

clipc_status clipc_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = mem_alloc(n + 1, path);
    if (!buf) {
        fclose(f);
        return CLIPC_ERR_NOMEM;
    }
    if (n && fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        return clipc_error(CLIPC_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return CLIPC_OK;
}

clipc_status fsync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
        free(copy);
        return s;
    }
    int rc = fsync(fd);
    close(fd);
    clipc_status s = CLIPC_OK;
    if (rc != 0 && errno != EINVAL) /* some filesystems refuse fsync on dirs */
        s = clipc_error(CLIPC_ERR_IO, "%s: fsync failed: %s", dir, strerror(errno));
    free(copy);
    return s;
}

clipc_status clipc_atomic_open(const char *path, clipc_atomic_file **out) {
    *out = NULL;
    clipc_atomic_file *f = mem_calloc(1, sizeof *f, "atomic file");
    if (!f) return CLIPC_ERR_NOMEM;
    size_t n = strlen(path) + 32;
    f->path = strdup(path);
    f->tmp = malloc(n);
    if (!f->path || !f->tmp) {
        free(f->path);
        free(f->tmp);
        free(f);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    snprintf(f->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot create: %s", f->tmp, strerror(errno));
        free(f->path);
        free(f->tmp);
        free(f);
        return s;
    }
    *out = f;
    return CLIPC_OK;
}

clipc_status clipc_atomic_write(clipc_atomic_file *f, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return clipc_error(CLIPC_ERR_IO, "%s: write failed: %s", f->tmp, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CLIPC_OK;
}

static void atomic_free(clipc_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

void clipc_atomic_abort(clipc_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    atomic_free(f);
}

clipc_status clipc_atomic_commit(clipc_atomic_file *f) {
    if (fsync(f->fd) != 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: fsync failed: %s", f->tmp, strerror(errno));
        clipc_atomic_abort(f);
        return s;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: close failed: %s", f->tmp, strerror(errno));
        clipc_atomic_abort(f);
        return s;
    }
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: rename to %s failed: %s", f->tmp, f->path,
                                     strerror(errno));
        clipc_atomic_abort(f);
        return s;
    }
    clipc_status s = fsync_dir_of(f->path);
    atomic_free(f);
    return s;
}

clipc_status clipc_write_file_atomic(const char *path, const void *buf, size_t n) {
    clipc_atomic_file *f;
    clipc_status s = clipc_atomic_open(path, &f);
    if (s) return s;
    s = clipc_atomic_write(f, buf, n);
    if (s) {
        clipc_atomic_abort(f);
        return s;
    }
    return clipc_atomic_commit(f);
}
