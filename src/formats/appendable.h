/*
 * appendable.h — the commit records that make FILE.vec and FILE.vec8
 * appendable in place without losing crash safety (appendable.c).
 *
 * Such a file is laid out for a capacity of rows, of which the first n are
 * valid; n and the generation live in one of two 32-byte commit records
 * ("slots") in the header, each with a sequence number and a checksum.  A
 * reader takes the valid slot with the higher sequence.  An append writes
 * the new rows after row n (where no reader looks), fsyncs, then writes the
 * *other* slot with sequence + 1 and fsyncs again.  A kill before that slot
 * is complete leaves the old slot in charge (old state: the bytes after row
 * n are ignored); a torn slot fails its checksum (old state); a complete
 * one is the new state.  The scheme is LMDB's two meta pages, in small.
 * When the rows do not fit, the caller rewrites the file atomically (temp
 * file + rename) with more room; the unused room is a hole in a sparse
 * file, so it costs address space, not disk.
 *
 * Slot layout (little-endian): u64 n, u64 generation, u64 sequence,
 * u64 FNV-1a of those 24 bytes and of the file's salt (its magic, dim and
 * capacity, so a slot copied from another file does not validate).
 */
#ifndef CLIPC_APPENDABLE_H
#define CLIPC_APPENDABLE_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

#define APP_SLOTS_OFFSET 64 /* both formats: slots at 64 and 96, data from 128 */
#define APP_HEADER 128

typedef struct {
    uint64_t n, generation, seq;
} app_state;

/* The salt of a file: its magic (8 bytes), dim and capacity. */
uint64_t app_salt(const char magic[8], uint32_t dim, uint64_t capacity);
/* Writes slot bytes for st (sequence st->seq goes to slot st->seq & 1). */
void app_slot_make(uint8_t out[32], const app_state *st, uint64_t salt);
/* The state of the 64 bytes of slots: the valid one (checksum right, n <=
 * capacity, in the slot its sequence names) with the higher sequence.
 * Returns 0, or -1 when neither is valid. */
int app_slot_pick(const uint8_t *slots, uint64_t salt, uint64_t capacity, app_state *out);
/* Room for n rows after a rewrite: n plus a quarter, at least 1024 more,
 * so that a folder that grows a little at a time is appended to. */
uint64_t app_capacity_for(uint64_t n);

/* An append in progress: the file opened read-write and locked (flock:
 * two appenders never interleave), its header read. */
typedef struct {
    int fd;
    const char *path;
    uint8_t header[APP_HEADER];
} app_file;
/* Opens and locks path and reads its header.  f->fd = -1 (and CLIPC_OK)
 * when it cannot be opened for writing (missing, another user's): the
 * caller then rewrites it.  CLIPC_ERR_IO / FORMAT (not a regular file, too
 * short) with the error set. */
clipc_status app_open(const char *path, app_file *f);
/* Makes the rows written after the old n durable, then commits new_state
 * (its seq must be the current one + 1) in the other slot, durably. */
clipc_status app_commit(app_file *f, uint64_t salt, const app_state *new_state);
void app_close(app_file *f);

#endif
