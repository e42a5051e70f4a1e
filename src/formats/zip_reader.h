/*
 * zip_reader.h — the central directory of a zip archive held in memory (an
 * mmap'ed PyTorch checkpoint), with each entry's data located in place.
 *
 * Only what torch.save / torch.jit.save write is read: stored or deflated
 * entries, zip64 sizes and offsets, no encryption, one disk.  Stored entries
 * are handed out as pointers into the buffer; deflated ones are inflated
 * into a new buffer by zr_extract.
 */
#ifndef CLIPC_FORMATS_ZIP_READER_H
#define CLIPC_FORMATS_ZIP_READER_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef struct {
    char *name;            /* NUL-free, as stored in the central directory */
    int method;            /* 0 stored, 8 deflated */
    uint32_t crc;
    size_t csize, usize;   /* compressed and uncompressed sizes */
    const uint8_t *data;   /* the compressed bytes, inside the buffer */
} zr_entry;

typedef struct {
    zr_entry *e;
    int n;
} zr_archive;

/* Reads the central directory of buf[0..len); `name` is used in messages.
 * Every offset and size is checked against len.  On error *z is empty. */
clipc_status zr_open(const uint8_t *buf, size_t len, const char *name, zr_archive *z);
void zr_close(zr_archive *z);
const zr_entry *zr_find(const zr_archive *z, const char *entry_name); /* NULL if absent */
/* The entry's bytes: in place for stored entries (*owned = NULL), else a new
 * buffer (*owned = it, free it).  The CRC-32 is checked in both cases. */
clipc_status zr_extract(const zr_entry *e, const char *name, const uint8_t **out, void **owned);

#endif
