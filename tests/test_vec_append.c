/*
 * test_vec_append.c — FILE.vec and FILE.vec8 appended to in place
 * (formats/appendable.c, vecfile_append, vec8_append): rows land after the
 * old ones and read back exactly as a file written whole; an append is
 * refused (left to a rewrite) when the file is not the one the caller knows
 * or has no room; a failure at any I/O point of an append, a torn commit
 * record or garbage after the last row leaves the old state readable; the
 * unused room is a hole, not disk.  The index-level append (and a kill at
 * each of its points) is in test_crash_points.c and test_use.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/appendable.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "harness.h"

enum { DIM = 5 };

static void rows_of(float *x, int64_t n, int64_t first) {
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < DIM; j++) x[i * DIM + j] = (float)((first + i) * 10 + j) / 64.0f - 0.5f;
}

/* The file holds exactly rows 0..n-1 of rows_of with ids 100+i, at gen. */
static int vec_holds(const char *p, int64_t n, uint64_t gen) {
    vecfile v;
    if (vecfile_open(p, &v)) return 0;
    float *want = malloc(sizeof(float) * (size_t)(n * DIM + 1));
    rows_of(want, n, 0);
    int ok = v.n == n && v.generation == gen && v.dim == DIM && !memcmp(v.data, want, sizeof(float) * (size_t)(n * DIM));
    for (int64_t i = 0; ok && i < n; i++) ok = v.ids[i] == 100 + i;
    free(want);
    vecfile_close(&v);
    return ok;
}

/* The int8 copy holds rows 0..n-1 as vec8_write would write them. */
static int vec8_holds(const char *p, int64_t n, uint64_t gen) {
    vec8file c;
    if (vec8_open(p, &c)) return 0;
    float *x = malloc(sizeof(float) * (size_t)(n * DIM + 1));
    rows_of(x, n, 0);
    int8_t q[64];
    int ok = c.n == n && c.generation == gen && c.dim == DIM;
    for (int64_t i = 0; ok && i < n; i++) {
        float sc = vec8_quantize_row(x + i * DIM, DIM, c.stride, q);
        ok = sc == c.scales[i] && !memcmp(q, c.data + i * c.stride, (size_t)c.stride);
    }
    free(x);
    vec8_close(&c);
    return ok;
}

TEST(vec_append_rows_read_back_as_written_whole) {
    char p[600], p8[600];
    snprintf(p, sizeof p, "%s/a.vec", test_tmpdir());
    snprintf(p8, sizeof p8, "%s/a.vec8", test_tmpdir());
    float x[20 * DIM];
    int64_t ids[20];
    rows_of(x, 20, 0);
    for (int i = 0; i < 20; i++) ids[i] = 100 + i;
    REQUIRE_OK(vecfile_write_room(p, x, ids, 3, 10, DIM, 7));
    REQUIRE_OK(vec8_write_room(p8, x, 3, 10, DIM, 7));
    CHECK(vec_holds(p, 3, 7) && vec8_holds(p8, 3, 7));
    int ok;
    /* 4 rows, then 0 rows (a new generation only), then 3 more: full */
    REQUIRE_OK(vecfile_append(p, x + 3 * DIM, ids + 3, 4, DIM, 3, 7, 8, &ok));
    CHECK(ok && vec_holds(p, 7, 8));
    REQUIRE_OK(vec8_append(p8, x + 3 * DIM, 4, DIM, 3, 7, 8, &ok));
    CHECK(ok && vec8_holds(p8, 7, 8));
    REQUIRE_OK(vecfile_append(p, NULL, NULL, 0, DIM, 7, 8, 9, &ok));
    CHECK(ok && vec_holds(p, 7, 9));
    REQUIRE_OK(vecfile_append(p, x + 7 * DIM, ids + 7, 3, DIM, 7, 9, 10, &ok));
    CHECK(ok && vec_holds(p, 10, 10));
    /* the file appended to equals one written whole with the same room */
    char w[600];
    snprintf(w, sizeof w, "%s/whole.vec", test_tmpdir());
    REQUIRE_OK(vecfile_write_room(w, x, ids, 10, 10, DIM, 10));
    vecfile a, b;
    REQUIRE_OK(vecfile_open(p, &a));
    REQUIRE_OK(vecfile_open(w, &b));
    CHECK(a.map_len == b.map_len && a.capacity == 10 && b.capacity == 10 &&
          !memcmp((const char *)a.map + APP_HEADER, (const char *)b.map + APP_HEADER, a.map_len - APP_HEADER));
    CHECK(a.seq == 3 && b.seq == 0);
    vecfile_close(&a);
    vecfile_close(&b);
    /* refused, file untouched: no room, another generation, another row
     * count, another dim; a version-1 file (no room by design) */
    REQUIRE_OK(vecfile_append(p, x, ids, 1, DIM, 10, 10, 11, &ok));
    CHECK(!ok && vec_holds(p, 10, 10));
    REQUIRE_OK(vec8_append(p8, x, 4, DIM, 7, 8, 9, &ok));
    CHECK(!ok && vec8_holds(p8, 7, 8)); /* 3 rows of room left, 4 asked */
    REQUIRE_OK(vecfile_append(p, x, ids, 0, DIM, 10, 9, 11, &ok));
    CHECK(!ok && vec_holds(p, 10, 10));
    REQUIRE_OK(vec8_append(p8, x, 1, DIM, 6, 8, 9, &ok));
    CHECK(!ok && vec8_holds(p8, 7, 8));
    REQUIRE_OK(vecfile_append(p, x, ids, 0, DIM + 1, 10, 10, 11, &ok));
    CHECK(!ok && vec_holds(p, 10, 10));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp tests/fuzz/corpus_vecfile/valid_3x3 '%s/v1.vec'", test_tmpdir());
    REQUIRE(system(cmd) == 0);
    snprintf(w, sizeof w, "%s/v1.vec", test_tmpdir());
    vecfile v;
    REQUIRE_OK(vecfile_open(w, &v)); /* version 1 still reads */
    CHECK(v.version == 1 && v.n == 3 && v.dim == 3 && v.capacity == 3);
    uint64_t g1 = v.generation;
    vecfile_close(&v);
    REQUIRE_OK(vecfile_append(w, x, ids, 0, 3, 3, g1, g1 + 1, &ok));
    CHECK(!ok);
    /* no file, one we may not write, a folder: left to the rewrite (and its errors) */
    snprintf(w, sizeof w, "%s/none.vec", test_tmpdir());
    CHECK(vecfile_append(w, x, ids, 1, DIM, 0, 0, 1, &ok) == CLIPC_OK && !ok);
    REQUIRE(chmod(p, 0444) == 0);
    if (access(p, W_OK) != 0) { /* root may write anyway */
        REQUIRE_OK(vecfile_append(p, x, ids, 0, DIM, 10, 10, 11, &ok));
        CHECK(!ok && vec_holds(p, 10, 10));
    }
    REQUIRE(chmod(p, 0644) == 0);
    CHECK(vecfile_append(test_tmpdir(), x, ids, 1, DIM, 0, 0, 1, &ok) == CLIPC_OK && !ok); /* a folder: the rewrite says so */
}

/* The room is a hole: a million rows of room cost no disk. */
TEST(vec_append_room_is_sparse) {
    char p[600];
    snprintf(p, sizeof p, "%s/big.vec", test_tmpdir());
    float x[DIM] = {1, 0, 0, 0, 0};
    int64_t id = 1;
    REQUIRE_OK(vecfile_write_room(p, x, &id, 1, 1000000, DIM, 1));
    struct stat st;
    REQUIRE(stat(p, &st) == 0);
    CHECKF(st.st_size > 1000000 * (DIM * 4 + 8) && (int64_t)st.st_blocks * 512 < 1 << 20,
           "size %lld, %lld bytes on disk", (long long)st.st_size, (long long)st.st_blocks * 512);
    vecfile v;
    REQUIRE_OK(vecfile_open(p, &v));
    CHECK(v.n == 1 && v.capacity == 1000000 && v.ids[0] == 1 && v.data[0] == 1.0f);
    vecfile_close(&v);
}

static long hook_count, hook_at;
static int fail_at(const char *op, const char *path, void *ud) {
    (void)op, (void)path, (void)ud;
    return ++hook_count == hook_at ? EIO : 0;
}

/* A failure at each I/O point of an append (the rows, the ids, the fsync
 * before the commit record, the record, the fsync after): the file reads
 * as the old state, or — a failure of the last fsync, after the record was
 * written — as the new one; and the next append from there works. */
TEST(vec_append_fault_at_every_point_leaves_old_or_new) {
    char p[600], p8[600];
    snprintf(p, sizeof p, "%s/f.vec", test_tmpdir());
    snprintf(p8, sizeof p8, "%s/f.vec8", test_tmpdir());
    float x[8 * DIM];
    int64_t ids[8];
    rows_of(x, 8, 0);
    for (int i = 0; i < 8; i++) ids[i] = 100 + i;
    int ok;
    /* count the points */
    REQUIRE_OK(vecfile_write_room(p, x, ids, 3, 8, DIM, 1));
    hook_count = 0, hook_at = -1;
    clipc_set_io_hook(fail_at, NULL);
    REQUIRE_OK(vecfile_append(p, x + 3 * DIM, ids + 3, 2, DIM, 3, 1, 2, &ok));
    clipc_set_io_hook(NULL, NULL);
    long points = hook_count;
    CHECKF(points == 5, "%ld I/O points in an append", points);
    int old_seen = 0, new_seen = 0;
    for (long at = 1; at <= points; at++) {
        REQUIRE_OK(vecfile_write_room(p, x, ids, 3, 8, DIM, 1));
        REQUIRE_OK(vec8_write_room(p8, x, 3, 8, DIM, 1));
        hook_count = 0, hook_at = at;
        clipc_set_io_hook(fail_at, NULL);
        clipc_status s = vecfile_append(p, x + 3 * DIM, ids + 3, 2, DIM, 3, 1, 2, &ok);
        clipc_set_io_hook(NULL, NULL);
        CHECKF(s == CLIPC_ERR_IO && !ok && strstr(clipc_last_error(), "f.vec: ") &&
                   strstr(clipc_last_error(), "Input/output error"),
               "point %ld: status %d: %s", at, s, clipc_last_error());
        int was_old = vec_holds(p, 3, 1), was_new = vec_holds(p, 5, 2);
        CHECKF(was_old || (at == points && was_new), "point %ld: neither the old nor the new state", at);
        old_seen += was_old, new_seen += was_new;
        /* the caller's next try: from whichever state is there */
        REQUIRE_OK(vecfile_append(p, x + 3 * DIM, ids + 3, 2, DIM, 3, 1, 2, &ok));
        if (was_old) CHECK(ok && vec_holds(p, 5, 2));
        else CHECK(!ok); /* already there: the index would rewrite */
        /* the same for the int8 copy */
        hook_count = 0, hook_at = at;
        clipc_set_io_hook(fail_at, NULL);
        s = vec8_append(p8, x + 3 * DIM, 2, DIM, 3, 1, 2, &ok);
        clipc_set_io_hook(NULL, NULL);
        CHECKF(s == CLIPC_ERR_IO && (vec8_holds(p8, 3, 1) || (at == points && vec8_holds(p8, 5, 2))),
               "vec8 point %ld: status %d", at, s);
    }
    CHECK(old_seen == points - 1 && new_seen == 1);
}

/* What a kill leaves: rows written after the last one but no record (the
 * old state), and a torn record (checksum wrong: the old state); a record
 * for a sequence in the wrong slot is not taken either. */
TEST(vec_append_torn_record_and_orphan_rows_read_as_old) {
    char p[600];
    snprintf(p, sizeof p, "%s/t.vec", test_tmpdir());
    float x[6 * DIM];
    int64_t ids[6];
    rows_of(x, 6, 0);
    for (int i = 0; i < 6; i++) ids[i] = 100 + i;
    int ok;
    REQUIRE_OK(vecfile_write_room(p, x, ids, 2, 6, DIM, 4));
    REQUIRE_OK(vecfile_append(p, x + 2 * DIM, ids + 2, 1, DIM, 2, 4, 5, &ok)); /* seq 1, slot 1 */
    REQUIRE(ok && vec_holds(p, 3, 5));
    FILE *f = fopen(p, "r+b");
    REQUIRE(f);
    /* orphan rows after row 3: not seen */
    float junk[DIM] = {9, 9, 9, 9, 9};
    fseek(f, APP_HEADER + 3 * DIM * 4, SEEK_SET);
    fwrite(junk, sizeof junk, 1, f);
    fflush(f);
    CHECK(vec_holds(p, 3, 5));
    /* a complete record of 4 rows in slot 0 (seq 2), then torn: one byte off */
    uint64_t salt = app_salt("CLIPCVEC", DIM, 6);
    app_state st = {4, 6, 2};
    uint8_t slot[32];
    app_slot_make(slot, &st, salt);
    slot[5] ^= 1; /* the n field torn */
    fseek(f, APP_SLOTS_OFFSET, SEEK_SET);
    fwrite(slot, sizeof slot, 1, f);
    fflush(f);
    CHECK(vec_holds(p, 3, 5));
    /* a valid record with an odd sequence in slot 0: refused too */
    st.seq = 3;
    app_slot_make(slot, &st, salt);
    fseek(f, APP_SLOTS_OFFSET, SEEK_SET);
    fwrite(slot, sizeof slot, 1, f);
    fflush(f);
    CHECK(vec_holds(p, 3, 5));
    /* both records broken: refused with the format message */
    fseek(f, APP_SLOTS_OFFSET + 32 + 24, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    vecfile v;
    CHECK(vecfile_open(p, &v) == CLIPC_ERR_FORMAT && strstr(clipc_last_error(), "t.vec: not a clipc vector file or truncated"));
}
