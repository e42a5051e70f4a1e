/*
 * zip_reader.c — the central directory of an in-memory zip archive.
 *
 * Why not libzip: a PyTorch checkpoint's storages are stored uncompressed
 * and 64-byte aligned so that they can be used in place from an mmap of the
 * file, which needs each entry's data offset in the file; libzip reads
 * entries only through its own copying API and does not expose that
 * offset.  The part of the format needed (end-of-central-directory record,
 * its zip64 variant, central directory entries, local headers) is small and
 * fully specified by PKWARE's APPNOTE; decompression of the rare deflated
 * entry and the CRC-32 come from zlib.
 *
 * The archive is untrusted input: every record is bounds-checked against
 * the buffer before it is read, sizes use overflow-safe arithmetic, and
 * every failure names the file and the entry.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/zip_reader.h"
#include "base/error.h"

#define ZR_MAX_ENTRIES (1 << 20)
#define ZR_MAX_NAME 4096

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

void zr_close(zr_archive *z) {
    if (!z) return;
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof *z);
}

const zr_entry *zr_find(const zr_archive *z, const char *entry_name) {
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, entry_name) == 0) return &z->e[i];
    return NULL;
}

/* Finds the end of central directory record: the last signature within
 * the final 22 + 65535 bytes (the comment is at most 65535 bytes). */
static long long find_eocd(const uint8_t *buf, size_t len) {
    if (len < 22) return -1;
    size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;)
        if (rd32(buf + i) == 0x06054b50u) return (long long)i;
    return -1;
}

/* Where the central directory is and how many entries it has. */
static clipc_status read_eocd(const uint8_t *buf, size_t len, const char *name, uint64_t *n_entries,
                              uint64_t *cd_off, uint64_t *cd_size) {
    long long e = find_eocd(buf, len);
    if (e < 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated archive?)", name);
    const uint8_t *p = buf + e;
    if (rd16(p + 4) != 0 || rd16(p + 6) != 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: multi-disk zip archives are not supported", name);
    *n_entries = rd16(p + 10);
    *cd_size = rd32(p + 12);
    *cd_off = rd32(p + 16);
    if (*n_entries == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu) {
        /* zip64: a locator just before the record points to the zip64 record. */
        if (e < 20 || rd32(p - 20) != 0x07064b50u)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: zip64 archive without a zip64 locator", name);
        uint64_t z = rd64(p - 20 + 8);
        if (z > len || len - z < 56 || rd32(buf + z) != 0x06064b50u)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: bad zip64 end-of-central-directory record", name);
        *n_entries = rd64(buf + z + 32);
        *cd_size = rd64(buf + z + 40);
        *cd_off = rd64(buf + z + 48);
    }
    if (*cd_off > len || *cd_size > len - *cd_off)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip central directory lies outside the %zu-byte file (truncated?)",
                           name, len);
    if (*n_entries > ZR_MAX_ENTRIES)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: %llu zip entries (at most %d supported)", name,
                           (unsigned long long)*n_entries, ZR_MAX_ENTRIES);
    return CLIPC_OK;
}

/* Zip64 extended information (extra field 0x0001): the 64-bit values of
 * the fields that were 0xFFFFFFFF, in the order usize, csize, offset. */
static int read_zip64_extra(const uint8_t *x, size_t n, uint64_t *usize, uint64_t *csize, uint64_t *off) {
    while (n >= 4) {
        uint32_t id = rd16(x), sz = rd16(x + 2);
        if (sz > n - 4) return -1;
        if (id == 1) {
            const uint8_t *q = x + 4;
            size_t left = sz;
            uint64_t *f[3] = {usize, csize, off};
            for (int i = 0; i < 3; i++) {
                if (*f[i] != 0xFFFFFFFFu) continue;
                if (left < 8) return -1;
                *f[i] = rd64(q);
                q += 8;
                left -= 8;
            }
            return 0;
        }
        x += 4 + sz;
        n -= 4 + sz;
    }
    return 0;
}

/* One central directory entry at buf[*pos]; advances *pos. */
static clipc_status read_entry(const uint8_t *buf, size_t len, const char *name, size_t end, size_t *pos,
                               zr_entry *out) {
    size_t p = *pos;
    if (end - p < 46 || rd32(buf + p) != 0x02014b50u)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt zip central directory at byte %zu", name, p);
    const uint8_t *c = buf + p;
    uint32_t flags = rd16(c + 8), method = rd16(c + 10);
    uint64_t csize = rd32(c + 20), usize = rd32(c + 24), off = rd32(c + 42);
    size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
    if (46 + nlen + xlen + clen > end - p)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt zip central directory at byte %zu", name, p);
    if (nlen == 0 || nlen > ZR_MAX_NAME || memchr(c + 46, 0, nlen))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry at byte %zu has a bad name", name, p);
    out->name = mem_alloc(nlen + 1, "zip entry name");
    if (!out->name) return CLIPC_ERR_NOMEM;
    memcpy(out->name, c + 46, nlen);
    out->name[nlen] = 0;
    const char *en = out->name;
    if (read_zip64_extra(c + 46 + nlen, xlen, &usize, &csize, &off) != 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': corrupt zip64 extra field", name, en);
    if (flags & 1) return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: zip entry '%s' is encrypted", name, en);
    if (method != 0 && method != 8)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s: zip entry '%s' uses compression method %u (only stored "
                           "and deflated entries are supported)", name, en, method);
    if (method == 0 && csize != usize)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': stored with different sizes", name, en);
    /* The local header: its own name and extra lengths decide where the data starts. */
    if (off > len || len - off < 30 || rd32(buf + off) != 0x04034b50u)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': local header missing or outside the file "
                           "(truncated archive?)", name, en);
    uint64_t data = off + 30 + rd16(buf + off + 26) + rd16(buf + off + 28);
    if (data > len || csize > len - data)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': data runs past the end of the %zu-byte file "
                           "(truncated archive?)", name, en, len);
    if (usize > SIZE_MAX / 2)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': absurd size", name, en);
    out->method = (int)method;
    out->crc = rd32(c + 16);
    out->csize = (size_t)csize;
    out->usize = (size_t)usize;
    out->data = buf + data;
    *pos = p + 46 + nlen + xlen + clen;
    return CLIPC_OK;
}

clipc_status zr_open(const uint8_t *buf, size_t len, const char *name, zr_archive *z) {
    memset(z, 0, sizeof *z);
    uint64_t n = 0, cd_off = 0, cd_size = 0;
    clipc_status s = read_eocd(buf, len, name, &n, &cd_off, &cd_size);
    if (s) return s;
    z->e = mem_calloc(n ? (size_t)n : 1, sizeof *z->e, "zip entries");
    if (!z->e) return CLIPC_ERR_NOMEM;
    size_t pos = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
    for (uint64_t i = 0; i < n; i++) {
        s = read_entry(buf, len, name, end, &pos, &z->e[z->n]);
        if (z->e[z->n].name) z->n++;
        if (s) {
            zr_close(z);
            return s;
        }
    }
    return CLIPC_OK;
}

clipc_status zr_extract(const zr_entry *e, const char *name, const uint8_t **out, void **owned) {
    *out = NULL;
    *owned = NULL;
    const uint8_t *p = e->data;
    uint8_t *buf = NULL;
    if (e->method == 8) {
        buf = mem_alloc(e->usize ? e->usize : 1, "inflated zip entry");
        if (!buf) return CLIPC_ERR_NOMEM;
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(buf);
            return clipc_error(CLIPC_ERR_NOMEM, "%s: zlib init failed", name);
        }
        /* Inflated in chunks of at most 1 GB: z_stream counts in 32 bits. */
        size_t in_left = e->csize, out_left = e->usize;
        zs.next_in = (Bytef *)e->data;
        zs.next_out = buf;
        int rc = Z_OK;
        while (rc == Z_OK) {
            uInt ci = in_left > (1u << 30) ? 1u << 30 : (uInt)in_left;
            uInt co = out_left > (1u << 30) ? 1u << 30 : (uInt)out_left;
            zs.avail_in = ci;
            zs.avail_out = co;
            rc = inflate(&zs, Z_NO_FLUSH);
            in_left -= ci - zs.avail_in;
            out_left -= co - zs.avail_out;
            if (rc == Z_BUF_ERROR && (in_left || out_left) && (ci != zs.avail_in || co != zs.avail_out)) rc = Z_OK;
            if (rc == Z_OK && ci == zs.avail_in && co == zs.avail_out) break;
        }
        inflateEnd(&zs);
        if (rc != Z_STREAM_END || out_left != 0) {
            free(buf);
            return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': corrupt deflate data", name, e->name);
        }
        p = buf;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < e->usize;) {
        uInt k = e->usize - i > (1u << 30) ? 1u << 30 : (uInt)(e->usize - i);
        crc = crc32(crc, p + i, k);
        i += k;
    }
    if ((uint32_t)crc != e->crc) {
        free(buf);
        return clipc_error(CLIPC_ERR_FORMAT, "%s: zip entry '%s': CRC-32 mismatch (corrupt archive)", name, e->name);
    }
    *out = p;
    *owned = buf;
    return CLIPC_OK;
}
