/*
 * fileio.c — reading whole files and writing files atomically.
 *
 * Every durable write in clipc (models, checkpoints, indexes, reports) goes
 * through clipc_atomic_*: temp file in the same directory, fsync, rename over
 * the target, fsync the directory.  A crash or kill -9 at any point leaves
 * either the previous file or the new one, never a torn mix.
 *
 * Only a regular file (or a name that does not exist yet) is ever replaced:
 *   - "-" is standard output, written directly;
 *   - a symbolic link is written through: the file it points to is replaced
 *     (created if the link dangles), the link stays;
 *   - anything else that exists (a device, a FIFO) is opened and written
 *     directly, never renamed over; a directory is an error.
 * The temporary file is created with O_CREAT | O_EXCL | O_NOFOLLOW under a
 * name with a random part, so a file or link planted at a guessable name is
 * never followed or truncated.
 *
 * Inputs are opened with O_NONBLOCK and checked with fstat before anything
 * is read, so a FIFO or a device given as an input file is refused at once
 * instead of blocking in open().
 *
 * Every step of a durable write that can fail or be interrupted (creating
 * the temporary file, each write(), fsync, rename, the folder's fsync, an
 * unlink, a mkdir) passes through io_fault() first.  Normally that is one
 * test of a NULL pointer; the crash campaigns' CLI (clipc-testhooks, never
 * the shipped clipc) installs a hook there (clipc_set_io_hook) that counts
 * the points and, at the Nth, kills the process or fails the call with an
 * injected errno (ENOSPC, EIO), so every point of every write is tried.
 * Errors name the file being written (the target), not its temporary name.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

struct clipc_atomic_file {
    int fd;
    char *path; /* the file the rename replaces (a symlink resolved) */
    char *tmp;  /* NULL: written directly (standard output, a device, a FIFO) */
    int close_fd; /* 0 for standard output */
};

static clipc_io_hook io_hook;
static void *io_hook_ud;

void clipc_set_io_hook(clipc_io_hook hook, void *ud) {
    io_hook_ud = ud;
    io_hook = hook;
}

int io_fault(const char *op, const char *path) { return io_hook ? io_hook(op, path, io_hook_ud) : 0; }

/* The system call, unless the hook injects a failure (errno set, -1). */
#define IO_POINT(op, path, call)          \
    do {                                  \
        int injected_ = io_fault(op, path); \
        if (injected_) {                  \
            errno = injected_;            \
            return -1;                    \
        }                                 \
        return call;                      \
    } while (0)

int io_mkdir(const char *path, mode_t mode) { IO_POINT("mkdir", path, mkdir(path, mode)); }
int io_rename(const char *from, const char *to) { IO_POINT("rename", to, rename(from, to)); }
int io_unlink(const char *path) { IO_POINT("unlink", path, unlink(path)); }
int io_rmdir(const char *path) { IO_POINT("rmdir", path, rmdir(path)); }
static int io_fsync(int fd, const char *path) { IO_POINT("fsync", path, fsync(fd)); }
static ssize_t io_write(int fd, const void *buf, size_t n, const char *path) {
    IO_POINT("write", path, write(fd, buf, n));
}

double clipc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int file_open_regular(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

clipc_status clipc_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int fd = file_open_regular(path);
    if (fd < 0) return CLIPC_ERR_IO;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
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
    int rc = io_fsync(fd, dir);
    int err = errno;
    close(fd);
    clipc_status s = CLIPC_OK;
    if (rc != 0 && err != EINVAL) /* some filesystems refuse fsync on dirs */
        s = clipc_error(CLIPC_ERR_IO, "%s: fsync of its folder %s failed: %s", path, dir, strerror(err));
    free(copy);
    return s;
}

static void atomic_free_path(clipc_atomic_file *f) {
    free(f->path);
    free(f);
}

/* The file a write to `path` should replace: path itself, or what the
 * symbolic link at path points to (followed to the end; a dangling link's
 * target is created).  malloc'ed. */
static char *write_target(const char *path) {
    char *cur = strdup(path);
    for (int hops = 0; cur && hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[4096];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) return cur;
        link[n] = 0;
        char *next;
        if (link[0] == '/') {
            next = strdup(link);
        } else { /* relative to the link's folder */
            char *copy = strdup(cur);
            const char *dir = copy ? dirname(copy) : ".";
            size_t m = strlen(dir) + (size_t)n + 2;
            next = malloc(m);
            if (next) snprintf(next, m, "%s/%s", dir, link);
            free(copy);
        }
        free(cur);
        cur = next;
    }
    return cur;
}

/* A temporary name beside target that nobody can guess: pid, time and a
 * counter, tried with O_EXCL | O_NOFOLLOW until one is free. */
static int open_temp(const char *target, char **tmp_out) {
    static unsigned counter;
    size_t n = strlen(target) + 64;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    for (int tries = 0; tries < 100; tries++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull + __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, n, "%s.tmp.%ld.%08llx", target, (long)getpid(), (unsigned long long)(r >> 32));
        int injected = io_fault("create", target);
        int fd = injected ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (injected) errno = injected;
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    clipc_error(CLIPC_ERR_IO, "%s: cannot create a temporary file (%s): %s", target, tmp, strerror(errno));
    free(tmp);
    return -1;
}

clipc_status clipc_atomic_open(const char *path, clipc_atomic_file **out) {
    *out = NULL;
    clipc_atomic_file *f = mem_calloc(1, sizeof *f, "atomic file");
    if (!f) return CLIPC_ERR_NOMEM;
    f->close_fd = 1;
    if (!strcmp(path, "-")) { /* standard output, written as it comes */
        f->fd = STDOUT_FILENO;
        f->close_fd = 0;
        *out = f;
        return CLIPC_OK;
    }
    f->path = write_target(path);
    if (!f->path) {
        free(f);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    struct stat st;
    if (stat(f->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: is a directory", path);
            atomic_free_path(f);
            return s;
        }
        /* a device or a FIFO: written directly, never replaced */
        f->fd = open(f->path, O_WRONLY | O_CLOEXEC);
        if (f->fd < 0) {
            clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            atomic_free_path(f);
            return s;
        }
        *out = f;
        return CLIPC_OK;
    }
    f->fd = open_temp(f->path, &f->tmp);
    if (f->fd < 0) {
        atomic_free_path(f);
        return CLIPC_ERR_IO;
    }
    *out = f;
    return CLIPC_OK;
}

clipc_status clipc_atomic_write(clipc_atomic_file *f, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        const char *name = f->path ? f->path : "-";
        ssize_t w = io_write(f->fd, p, n, name);
        if (w < 0) {
            if (errno == EINTR) continue;
            return clipc_error(CLIPC_ERR_IO, "%s: write failed: %s", name, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CLIPC_OK;
}

clipc_status atomic_skip(clipc_atomic_file *f, uint64_t n) {
    const char *name = f->path ? f->path : "-";
    if (!f->tmp) { /* no file to leave a hole in: real zeros */
        static const char zero[4096];
        clipc_status s = CLIPC_OK;
        while (!s && n > 0) {
            size_t k = n < sizeof zero ? (size_t)n : sizeof zero;
            s = clipc_atomic_write(f, zero, k);
            n -= k;
        }
        return s;
    }
    off_t at = lseek(f->fd, 0, SEEK_CUR);
    if (at < 0 || ftruncate(f->fd, at + (off_t)n) || lseek(f->fd, at + (off_t)n, SEEK_SET) < 0)
        return clipc_error(CLIPC_ERR_IO, "%s: cannot extend: %s", name, strerror(errno));
    return CLIPC_OK;
}

static ssize_t io_pwrite(int fd, const void *buf, size_t n, off_t off, const char *path) {
    IO_POINT("write", path, pwrite(fd, buf, n, off));
}

clipc_status file_pwrite(int fd, const void *buf, size_t n, uint64_t off, const char *path) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = io_pwrite(fd, p, n, (off_t)off, path);
        if (w < 0) {
            if (errno == EINTR) continue;
            return clipc_error(CLIPC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        off += (uint64_t)w;
        n -= (size_t)w;
    }
    return CLIPC_OK;
}

clipc_status file_sync(int fd, const char *path) {
    return io_fsync(fd, path) ? clipc_error(CLIPC_ERR_IO, "%s: fsync failed: %s", path, strerror(errno)) : CLIPC_OK;
}

static void atomic_free(clipc_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

void clipc_atomic_abort(clipc_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0 && f->close_fd) close(f->fd);
    if (f->tmp) io_unlink(f->tmp);
    atomic_free(f);
}

/* A direct write (standard output, a device, a FIFO) has nothing to rename. */
static clipc_status commit_direct(clipc_atomic_file *f) {
    clipc_status s = CLIPC_OK;
    const char *name = f->path ? f->path : "-";
    if (f->close_fd && close(f->fd) != 0)
        s = clipc_error(CLIPC_ERR_IO, "%s: close failed: %s", name, strerror(errno));
    /* standard output (a pipe, a terminal) is left open and not synced */
    atomic_free(f);
    return s;
}

clipc_status clipc_atomic_commit(clipc_atomic_file *f) {
    if (!f->tmp) return commit_direct(f);
    if (io_fsync(f->fd, f->path) != 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
        clipc_atomic_abort(f);
        return s;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
        clipc_atomic_abort(f);
        return s;
    }
    f->fd = -1;
    if (io_rename(f->tmp, f->path) != 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: rename of %s failed: %s", f->path, f->tmp,
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

/* "<base>.tmp.<pid>.<8 hex>" (open_temp's names) of a process that is gone. */
static int stale_temp_of(const char *name, const char *base) {
    size_t nb = strlen(base);
    if (strncmp(name, base, nb) || strncmp(name + nb, ".tmp.", 5)) return 0;
    const char *t = name + nb + 5;
    size_t nd = strspn(t, "0123456789");
    if (!nd || nd > 9 || t[nd] != '.' || strlen(t + nd + 1) != 8 || strspn(t + nd + 1, "0123456789abcdef") != 8)
        return 0;
    long pid = atol(t);
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void remove_stale_temps(const char *target) {
    char *copy = strdup(target), *copy2 = strdup(target);
    const char *dir = copy ? dirname(copy) : NULL, *base = copy2 ? basename(copy2) : NULL;
    DIR *d = dir && base ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!stale_temp_of(e->d_name, base)) continue;
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) io_unlink(p);
    }
    if (d) closedir(d);
    free(copy);
    free(copy2);
}
