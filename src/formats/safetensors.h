/*
 * safetensors.h — reading and writing the safetensors format
 * (8-byte little-endian header length N, N bytes of JSON header, data).
 *
 * Reading maps the file read-only (MAP_PRIVATE) and points tensors into the
 * mapping, so loading a model copies nothing.  Every offset, shape and dtype in
 * the header is validated against the file size before anything is touched;
 * errors name the file and the tensor.
 */
#ifndef CLIPC_SAFETENSORS_H
#define CLIPC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

typedef enum {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data; /* into the file's data section, or into an aligned copy when
                       * the file's offset is misaligned: always aligned to the
                       * element size, so it can be cast to float* etc. */
} st_tensor;

typedef struct {
    char *path;              /* for error messages */
    void *map;               /* mmap'ed file (NULL when parsed from a buffer) */
    size_t map_len;
    const uint8_t *data;     /* start of the data section */
    size_t data_len;
    st_tensor *tensors;      /* sorted by name */
    int n_tensors;
    char **meta_keys, **meta_vals; /* __metadata__ string map */
    int n_meta;
    void *aligned;           /* copies of tensors whose data in the file is not
                              * aligned to their element size (owned) */
} st_file;

/* Opens and validates a file.  On error *f is left empty (st_close is safe). */
clipc_status st_open(const char *path, st_file *f);
/* The mapping behind st_open, shared with the other weight formats
 * (tensor_file.c): opens path (refusing FIFOs, directories and other
 * non-regular files), runs `check` (may be NULL) on its first bytes (up to
 * 8), maps it read-only and hands the mapping to `parse`, which fills *f
 * with pointers into it; *f then owns the mapping.  On error *f is empty. */
typedef clipc_status (*st_head_check)(const char *path, const uint8_t *head, size_t n);
typedef clipc_status (*st_parser)(const void *buf, size_t len, const char *name, st_file *f);
clipc_status st_open_mapped(const char *path, st_file *f, st_head_check check, st_parser parse);
/* Parses an in-memory file (the buffer must outlive *f); `name` is used in
 * messages.  This is the fuzzing entry point. */
clipc_status st_parse(const void *buf, size_t len, const char *name, st_file *f);
void st_close(st_file *f);

const st_tensor *st_get(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key); /* NULL if absent */

size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t);

/* A tensor to write. */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} st_out_tensor;

/* Writes tensors (any order; the file has them sorted by name, laid out
 * without gaps, header padded with spaces to a multiple of 8) and metadata
 * (`meta` is key, value, key, value, ..., NULL; may be NULL) atomically. */
clipc_status st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta);

#endif
