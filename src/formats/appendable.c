/*
 * appendable.c — the two commit records of an appendable vector file (see
 * appendable.h for the scheme and why it is crash-safe).
 */
#include "formats/appendable.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "clipc.h"
#include "clipc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t app_salt(const char magic[8], uint32_t dim, uint64_t capacity) {
    uint64_t h = hash_bytes(magic, 8, HASH_FNV_OFFSET);
    h = hash_bytes(&dim, sizeof dim, h);
    return hash_bytes(&capacity, sizeof capacity, h);
}

static uint64_t slot_check(const uint8_t *slot24, uint64_t salt) {
    return hash_bytes(slot24, 24, hash_bytes(&salt, sizeof salt, HASH_FNV_OFFSET));
}

void app_slot_make(uint8_t out[32], const app_state *st, uint64_t salt) {
    memcpy(out, &st->n, 8);
    memcpy(out + 8, &st->generation, 8);
    memcpy(out + 16, &st->seq, 8);
    uint64_t c = slot_check(out, salt);
    memcpy(out + 24, &c, 8);
}

int app_slot_pick(const uint8_t *slots, uint64_t salt, uint64_t capacity, app_state *out) {
    int found = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = slots + 32 * i;
        app_state st;
        uint64_t c;
        memcpy(&st.n, p, 8);
        memcpy(&st.generation, p + 8, 8);
        memcpy(&st.seq, p + 16, 8);
        memcpy(&c, p + 24, 8);
        if (c != slot_check(p, salt) || st.n > capacity || (st.seq & 1) != (uint64_t)i) continue;
        if (!found || st.seq > out->seq) *out = st;
        found = 1;
    }
    return found ? 0 : -1;
}

uint64_t app_capacity_for(uint64_t n) {
    uint64_t more = n / 4 > 1024 ? n / 4 : 1024;
    return n + more;
}

clipc_status app_open(const char *path, app_file *f) {
    memset(f, 0, sizeof *f);
    f->path = path;
    f->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    /* Missing, or not ours to write (a file of another user in a folder we
     * may write): not appendable, the caller rewrites it (temp + rename). */
    if (f->fd < 0) return CLIPC_OK;
    struct stat st;
    if (fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
        app_close(f);
        return clipc_error(CLIPC_ERR_IO, "%s: not a regular file", path);
    }
    /* Another appender (a second clipc index) waits here for the first. */
    while (flock(f->fd, LOCK_EX) && errno == EINTR) {
    }
    if (pread(f->fd, f->header, APP_HEADER, 0) != APP_HEADER) {
        app_close(f);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: too short for an appendable vector file", path);
    }
    return CLIPC_OK;
}

clipc_status app_commit(app_file *f, uint64_t salt, const app_state *new_state) {
    uint8_t slot[32];
    app_slot_make(slot, new_state, salt);
    clipc_status s = file_sync(f->fd, f->path); /* the rows first ... */
    if (!s) s = file_pwrite(f->fd, slot, sizeof slot, APP_SLOTS_OFFSET + 32 * (new_state->seq & 1), f->path);
    if (!s) s = file_sync(f->fd, f->path); /* ... then the record that makes them count */
    if (!s) memcpy(f->header + APP_SLOTS_OFFSET + 32 * (new_state->seq & 1), slot, sizeof slot);
    return s;
}

void app_close(app_file *f) {
    if (f->fd >= 0) close(f->fd); /* releases the lock */
    f->fd = -1;
}
