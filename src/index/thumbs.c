/*
 * thumbs.c — the thumbnail cache of `clipc serve` (include/clipc_index.h):
 * one JPEG per image in a folder beside the index, named by the SHA-256 of
 * the image's path, size, mtime and the thumbnail size, so a changed file
 * gets a new thumbnail and the old one ages out.
 *
 * Made with clipc's own decoders and Pillow-exact resize (no second image
 * library to disagree with the index about what a file holds), encoded by
 * libjpeg-turbo (image/encode_jpeg.c), written atomically (a reader never
 * sees half a file; two threads making the same thumbnail both write the
 * same bytes and the last rename wins).
 *
 * The bound: the cache counts the bytes in its folder (read once at open)
 * and, when a new thumbnail takes it past max_bytes, lists the folder and
 * removes the oldest files (by mtime) until it is under 3/4 of the bound,
 * so eviction is rare and the count is re-synchronised with the disk each
 * time.  A mutex guards the count and the eviction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "clipc_index.h"
#include "clipc_util.h"
#include "image/encode_jpeg.h"
#include "image/resize.h"

struct clipc_thumbs {
    char *dir;
    int size;
    int64_t max_bytes, bytes;
    pthread_mutex_t mu;
};

typedef struct {
    char name[64];
    int64_t size;
    struct timespec mtime;
} cache_file;

/* 1 for the names the cache writes: 40 hex digits + ".jpg". */
static int is_thumb_name(const char *n) {
    size_t len = strlen(n);
    if (len != 44 || strcmp(n + 40, ".jpg")) return 0;
    for (int i = 0; i < 40; i++)
        if (!strchr("0123456789abcdef", n[i])) return 0;
    return 1;
}

/* The thumbnails in the folder (malloc'ed array) and their total bytes. */
static clipc_status list_cache(const char *dir, cache_file **files, int *n, int64_t *total) {
    *files = NULL;
    *n = 0;
    *total = 0;
    DIR *d = opendir(dir);
    if (!d) return clipc_error(CLIPC_ERR_IO, "%s: %s", dir, strerror(errno));
    int cap = 0;
    clipc_status s = CLIPC_OK;
    struct dirent *e;
    while (!s && (e = readdir(d))) {
        if (!is_thumb_name(e->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) continue;
        if (*n == cap) {
            cache_file *nf = realloc(*files, sizeof **files * (size_t)(cap = cap ? 2 * cap : 64));
            if (!nf) {
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                break;
            }
            *files = nf;
        }
        cache_file *f = &(*files)[(*n)++];
        memcpy(f->name, e->d_name, 45); /* is_thumb_name: 44 characters and the NUL */
        f->size = (int64_t)st.st_size;
        f->mtime = st.st_mtim;
        *total += f->size;
    }
    closedir(d);
    if (s) {
        free(*files);
        *files = NULL;
        *n = 0;
    }
    return s;
}

clipc_status clipc_thumbs_open(const char *dir, int size, int64_t max_bytes, clipc_thumbs **out) {
    *out = NULL;
    if (size < 16 || size > 1024) return clipc_error(CLIPC_ERR_RANGE, "thumbnail size %d outside 16..1024", size);
    if (max_bytes < 65536) return clipc_error(CLIPC_ERR_RANGE, "thumbnail cache bound %lld under 64 KiB", (long long)max_bytes);
    if (mkdir(dir, 0700) && errno != EEXIST) return clipc_error(CLIPC_ERR_IO, "%s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return clipc_error(CLIPC_ERR_IO, "%s: not a folder", dir);
    clipc_thumbs *t = calloc(1, sizeof *t);
    if (!t || !(t->dir = strdup(dir))) {
        free(t);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    t->size = size;
    t->max_bytes = max_bytes;
    cache_file *files;
    int n;
    clipc_status s = list_cache(dir, &files, &n, &t->bytes);
    if (s) {
        free(t->dir);
        free(t);
        return s;
    }
    free(files);
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return CLIPC_OK;
}

void clipc_thumbs_close(clipc_thumbs *t) {
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t->dir);
    free(t);
}

int64_t clipc_thumbs_bytes(clipc_thumbs *t) {
    pthread_mutex_lock(&t->mu);
    int64_t b = t->bytes;
    pthread_mutex_unlock(&t->mu);
    return b;
}

static int older(const void *a, const void *b) {
    const cache_file *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Under the mutex: counts `added` bytes and, past the bound, removes the
 * oldest thumbnails (never `keep`, the one just written) to 3/4 of it. */
static void account(clipc_thumbs *t, int64_t added, const char *keep) {
    t->bytes += added;
    if (t->bytes <= t->max_bytes) return;
    cache_file *f;
    int n;
    if (list_cache(t->dir, &f, &n, &t->bytes)) return; /* the count stays high: the next one retries */
    qsort(f, (size_t)n, sizeof *f, older);
    char p[4096];
    for (int i = 0; i < n && t->bytes > t->max_bytes / 4 * 3; i++) {
        if (!strcmp(f[i].name, keep)) continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, f[i].name);
        if (!unlink(p) || errno == ENOENT) t->bytes -= f[i].size;
    }
    free(f);
}

/* The cache file name of path at its current size and mtime. */
static clipc_status key_of(const clipc_thumbs *t, const char *path, char name[64]) {
    struct stat st;
    if (stat(path, &st)) return clipc_error(CLIPC_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
    char meta[96];
    int m = snprintf(meta, sizeof meta, "|%lld|%lld.%09ld|%d", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, t->size);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, path, strlen(path)) &&
             EVP_DigestUpdate(c, meta, (size_t)m) && EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    if (!ok || mdlen < 20) return clipc_error(CLIPC_ERR_NOMEM, "thumbnail of %s: SHA-256 failed", path);
    for (int i = 0; i < 20; i++) snprintf(name + 2 * i, 3, "%02x", md[i]);
    memcpy(name + 40, ".jpg", 5);
    return CLIPC_OK;
}

/* img resized to fit in size x size (never enlarged), flattened onto
 * white to grey or RGB, encoded. */
static clipc_status make_thumb(const clipc_image *img, int size, uint8_t **jpeg, size_t *len) {
    int w = img->width, h = img->height, ow = w, oh = h;
    if (w > size || h > size) {
        if (w >= h) {
            ow = size;
            oh = (int)(((int64_t)h * size + w / 2) / w);
        } else {
            oh = size;
            ow = (int)(((int64_t)w * size + h / 2) / h);
        }
        if (ow < 1) ow = 1;
        if (oh < 1) oh = 1;
    }
    clipc_image r;
    clipc_status s = pil_resize(img, ow, oh, &r);
    if (s) return s;
    int ch = r.channels, och = ch >= 3 ? 3 : 1;
    if (ch == 2 || ch == 4) { /* alpha over white, in place */
        size_t npx = (size_t)ow * (size_t)oh;
        for (size_t i = 0; i < npx; i++) {
            const uint8_t *src = r.data + i * (size_t)ch;
            unsigned a = src[ch - 1];
            uint8_t px[3];
            for (int c = 0; c < och; c++) px[c] = (uint8_t)((src[c] * a + 255u * (255u - a) + 127u) / 255u);
            memcpy(r.data + i * (size_t)och, px, (size_t)och);
        }
        r.channels = och;
    }
    s = jpeg_encode(&r, 85, jpeg, len);
    clipc_image_free(&r);
    return s;
}

clipc_status clipc_thumbs_get(clipc_thumbs *t, const char *path, uint8_t **jpeg, size_t *len, int *made) {
    *jpeg = NULL;
    *len = 0;
    if (made) *made = 0;
    char name[64], cp[4096];
    clipc_status s = key_of(t, path, name);
    if (s) return s;
    if (snprintf(cp, sizeof cp, "%s/%s", t->dir, name) >= (int)sizeof cp)
        return clipc_error(CLIPC_ERR_RANGE, "%s: cache path too long", t->dir);
    char *data;
    if (access(cp, F_OK) == 0 && clipc_read_file(cp, &data, len) == CLIPC_OK && *len > 0) {
        *jpeg = (uint8_t *)data;
        return CLIPC_OK;
    }
    clipc_image img;
    s = clipc_image_load(path, &img);
    if (s) return s;
    s = make_thumb(&img, t->size, jpeg, len);
    clipc_image_free(&img);
    if (!s) s = clipc_write_file_atomic(cp, *jpeg, *len);
    if (s) {
        free(*jpeg);
        *jpeg = NULL;
        *len = 0;
        return s;
    }
    pthread_mutex_lock(&t->mu);
    account(t, (int64_t)*len, name);
    pthread_mutex_unlock(&t->mu);
    if (made) *made = 1;
    return CLIPC_OK;
}
