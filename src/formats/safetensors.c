/*
 * safetensors.c — reading and writing the safetensors format.
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 *   {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...],
 *    "data_offsets": [begin, end]}, ...}
 * then the data section; offsets are relative to its start.
 *
 * Reading maps the file read-only and points tensors into the mapping.  The
 * file is untrusted input (it is the fuzzing target): every length, offset,
 * shape and dtype is checked against the file size with overflow-safe
 * arithmetic before a tensor is handed out, and every failure names the file
 * and the tensor.  The JSON itself is parsed by cJSON; only what cJSON does
 * not check (UTF-8 validity, duplicate keys, integer-ness of numbers) is
 * checked here.
 *
 * Files written by other tools (and the reference goldens) lay tensors out
 * back to back in name order, so a F32 tensor can start at an odd offset.
 * Reading a float through a misaligned pointer is undefined behaviour in C,
 * so such tensors are copied once into an aligned side buffer (`aligned`);
 * callers can always cast st_tensor.data to the dtype's C type.
 *
 * Writing produces the canonical layout of the reference files: compact JSON,
 * "__metadata__" first with sorted keys, tensors sorted by name, data without
 * gaps in that order, header padded with spaces so the data starts at a
 * multiple of 8.  The JSON is printed by hand (not with cJSON) because the
 * output has to be byte-identical to the reference writer: cJSON's number and
 * escape formatting and its key order are not under our control.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <utf8proc.h>

#include "formats/safetensors.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB, as the reference reader */
#define ST_MAX_INT 9007199254740992.0        /* 2^53: larger doubles are not exact */

static const uint64_t empty_tensor; /* see parse() */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

size_t st_dtype_size(st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].size : 0;
}

const char *st_dtype_name(st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].name : "?";
}

static int dtype_from_name(const char *s, st_dtype *out) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* "[2, 3, 4]" for messages. */
static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Offset of the first invalid UTF-8 sequence or NUL byte in s[0..n), or -1. */
static long long utf8_bad_offset(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { /* fast path: ASCII */
            if (s[i] == 0) return (long long)i;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return (long long)i;
        i += (size_t)k;
    }
    return -1;
}

/* Offset of a "\u0000" escape in the JSON text, or -1.  cJSON decodes it
 * into a NUL inside a C string, which would silently cut a tensor name or a
 * metadata value short ("a\u0000b" read as "a"); such headers are refused.
 * An escape is real when preceded by an even number of backslashes. */
static long long escaped_nul_offset(const char *s, size_t n) {
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] != '\\' || memcmp(s + i + 1, "u0000", 5) != 0) continue;
        size_t k = i;
        while (k > 0 && s[k - 1] == '\\') k--;
        if ((i - k) % 2 == 0) return (long long)i;
    }
    return -1;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0.0) || v >= ST_MAX_INT || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->aligned);
    free(f->path);
    if (f->map) munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorting by start offset for the overlap check; ties by end. */
typedef struct {
    size_t begin, end;
    int idx;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static clipc_status parse_metadata(const cJSON *obj, const char *name, st_file *f) {
    if (!cJSON_IsObject(obj))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: __metadata__ is not a JSON object", name);
    int n = cJSON_GetArraySize(obj);
    f->meta_keys = mem_calloc((size_t)n, sizeof(char *), "safetensors metadata");
    f->meta_vals = mem_calloc((size_t)n, sizeof(char *), "safetensors metadata");
    if (!f->meta_keys || !f->meta_vals) return CLIPC_ERR_NOMEM;
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: __metadata__ value of \"%s\" is not a string",
                               name, e->string);
        char *k = strdup(e->string), *v = strdup(e->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory for metadata", name);
        }
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta] = v;
        f->n_meta++;
    }
    /* cJSON keeps duplicate keys; a duplicate would make st_meta ambiguous. */
    char **sorted = mem_alloc((size_t)f->n_meta * sizeof(char *), "safetensors metadata");
    if (!sorted) return CLIPC_ERR_NOMEM;
    memcpy(sorted, f->meta_keys, (size_t)f->n_meta * sizeof(char *));
    qsort(sorted, (size_t)f->n_meta, sizeof(char *), cmp_str_ptr);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            clipc_status s = clipc_error(CLIPC_ERR_FORMAT, "%s: duplicate __metadata__ key \"%s\"",
                                         name, sorted[i]);
            free(sorted);
            return s;
        }
    free(sorted);
    return CLIPC_OK;
}

/* Fills t from one header entry `e` (its key is t->name, already set). */
static clipc_status parse_entry(const cJSON *e, const char *name, size_t data_len, st_tensor *t,
                                size_t *begin_out) {
    const char *tn = t->name;
    if (!cJSON_IsObject(e))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": entry is not a JSON object", name, tn);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd || !js || !jo)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": missing \"%s\"", name, tn,
                           !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": dtype is not a string", name, tn);
    if (dtype_from_name(jd->valuestring, &t->dtype) != 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", name, tn,
                           jd->valuestring);
    if (!cJSON_IsArray(js))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": shape is not an array", name, tn);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > ST_MAX_DIMS)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": %d dimensions (at most %d supported)",
                           name, tn, ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    size_t numel = 1;
    int i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_uint(d, &v) != 0)
            return clipc_error(CLIPC_ERR_FORMAT,
                               "%s: tensor \"%s\": shape dimension %d is not a non-negative integer below 2^53",
                               name, tn, i);
        t->shape[i] = (int64_t)v;
        if (mul_overflow(numel, (size_t)v, &numel) != 0)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": element count overflows", name, tn);
    }
    t->numel = numel;
    if (mul_overflow(numel, dtypes[t->dtype].size, &t->nbytes) != 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\": byte size overflows", name, tn);
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(jo->child, &b) != 0 ||
        json_uint(jo->child->next, &en) != 0 || b > en)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor \"%s\": data_offsets is not [begin, end] with integers 0 <= begin <= end",
                           name, tn);
    if (en > data_len)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor \"%s\": data_offsets end %llu is beyond the %zu-byte data section (file truncated?)",
                           name, tn, (unsigned long long)en, data_len);
    if (en - b != t->nbytes) {
        char sh[256];
        shape_str(t->shape, t->ndim, sh, sizeof sh);
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: tensor \"%s\": shape %s of dtype %s needs %zu bytes but data_offsets give %llu",
                           name, tn, sh, dtypes[t->dtype].name, t->nbytes, (unsigned long long)(en - b));
    }
    *begin_out = (size_t)b;
    return CLIPC_OK;
}

/* The body of st_parse; on error the caller closes f. */
static clipc_status parse(const uint8_t *p, size_t len, const char *name, st_file *f) {
    if (len < 8)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: file is %zu bytes, too short for a safetensors header length (8 bytes)",
                           name, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > ST_MAX_HEADER)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: header length %llu is absurd (more than 100 MB); not a safetensors file?",
                           name, (unsigned long long)n);
    if (n > len - 8)
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: header length %llu is larger than the %zu bytes after it (file truncated?)",
                           name, (unsigned long long)n, len - 8);
    const uint8_t *hdr = p + 8;
    long long bad = utf8_bad_offset(hdr, (size_t)n);
    if (bad >= 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: header has %s at byte %lld", name,
                           hdr[bad] ? "invalid UTF-8" : "a NUL byte", bad + 8);
    bad = escaped_nul_offset((const char *)hdr, (size_t)n);
    if (bad >= 0)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: header has an escaped NUL character (\\u0000) at byte %lld",
                           name, bad + 8);
    f->data = hdr + n;
    f->data_len = len - 8 - (size_t)n;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)hdr, (size_t)n, &end, 0);
    if (!root) {
        /* On failure cJSON points `end` at the error (its global
         * cJSON_GetErrorPtr is not thread-safe). */
        long long at = end ? (long long)(end - (const char *)hdr) + 8 : -1;
        return clipc_error(CLIPC_ERR_FORMAT, "%s: header is not valid JSON (error near byte %lld)", name, at);
    }
    clipc_status s = CLIPC_OK;
    span *spans = NULL;
    /* The writer pads with spaces; anything else after the JSON is garbage. */
    for (const char *q = end; q < (const char *)hdr + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: header has trailing garbage after the JSON at byte %lld",
                            name, (long long)(q - (const char *)hdr) + 8);
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: header is not a JSON object", name);
        goto done;
    }
    int n_entries = cJSON_GetArraySize(root);
    f->tensors = mem_calloc((size_t)n_entries, sizeof(st_tensor), "safetensors tensors");
    spans = mem_calloc((size_t)n_entries, sizeof(span), "safetensors tensors");
    if (!f->tensors || !spans) {
        s = CLIPC_ERR_NOMEM;
        goto done;
    }
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++) {
                s = clipc_error(CLIPC_ERR_FORMAT, "%s: duplicate \"__metadata__\" key", name);
                goto done;
            }
            if ((s = parse_metadata(e, name, f)) != CLIPC_OK) goto done;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        if (!(t->name = strdup(e->string))) {
            s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
        f->n_tensors++;
        size_t begin = 0;
        if ((s = parse_entry(e, name, f->data_len, t, &begin)) != CLIPC_OK) goto done;
        /* An empty tensor is never read; point it at an aligned object
         * so that even casting its pointer is well defined. */
        t->data = t->nbytes ? (const void *)(f->data + begin) : (const void *)&empty_tensor;
        spans[f->n_tensors - 1] = (span){begin, begin + t->nbytes, f->n_tensors - 1};
    }

    /* Overlap: after sorting by start, each non-empty tensor must start at or
     * after the furthest end so far.  Empty tensors occupy no bytes. */
    qsort(spans, (size_t)f->n_tensors, sizeof(span), cmp_span);
    size_t max_end = 0;
    int max_idx = -1;
    for (int i = 0; i < f->n_tensors; i++) {
        if (spans[i].begin == spans[i].end) continue;
        if (max_idx >= 0 && spans[i].begin < max_end) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor \"%s\" overlaps tensor \"%s\" in the data section",
                            name, f->tensors[spans[i].idx].name, f->tensors[max_idx].name);
            goto done;
        }
        if (spans[i].end > max_end) {
            max_end = spans[i].end;
            max_idx = spans[i].idx;
        }
    }

    qsort(f->tensors, (size_t)f->n_tensors, sizeof(st_tensor), cmp_tensor_name);
    for (int i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: duplicate tensor \"%s\"", name, f->tensors[i].name);
            goto done;
        }

    /* Copy tensors whose data is not aligned to their element size (see the
     * top of the file).  One buffer, each copy at a multiple of 16. */
    size_t extra = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        st_tensor *t = &f->tensors[i];
        if ((uintptr_t)t->data % dtypes[t->dtype].size != 0) extra += (t->nbytes + 15) & ~(size_t)15;
    }
    if (extra) {
        uint8_t *buf = mem_alloc(extra, "aligned tensor copies");
        if (!buf) {
            s = CLIPC_ERR_NOMEM;
            goto done;
        }
        f->aligned = buf;
        for (int i = 0; i < f->n_tensors; i++) {
            st_tensor *t = &f->tensors[i];
            if ((uintptr_t)t->data % dtypes[t->dtype].size == 0) continue;
            memcpy(buf, t->data, t->nbytes);
            t->data = buf;
            buf += (t->nbytes + 15) & ~(size_t)15;
        }
    }
done:
    free(spans);
    cJSON_Delete(root);
    return s;
}

clipc_status st_parse(const void *buf, size_t len, const char *name, st_file *f) {
    memset(f, 0, sizeof *f);
    if (!name) name = "<buffer>";
    if (!(f->path = strdup(name))) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    clipc_status s = parse(buf, len, f->path, f);
    if (s != CLIPC_OK) st_close(f);
    return s;
}

clipc_status st_open_mapped(const char *path, st_file *f, st_head_check check, st_parser parse) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block: refused below */
    if (fd < 0) return clipc_error(CLIPC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        clipc_status s = clipc_error(CLIPC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return clipc_error(CLIPC_ERR_IO, "%s: %s", path,
                           S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    size_t len = (size_t)st.st_size;
    if (check) { /* before the length check: a short file may still be a known other format */
        uint8_t head[8];
        ssize_t got = pread(fd, head, sizeof head, 0);
        clipc_status s = check(path, head, got > 0 ? (size_t)got : 0);
        if (s) {
            close(fd);
            return s;
        }
    }
    if (len < 8) { /* mmap of an empty file fails; say what is really wrong */
        close(fd);
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: file is %zu bytes, too short for a safetensors header length (8 bytes)%s",
                           path, len, len == 0 ? " (empty file)" : "");
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return clipc_error(CLIPC_ERR_IO, "%s: mmap failed: %s", path, strerror(err));
    clipc_status s = parse(map, len, path, f);
    if (s != CLIPC_OK) {
        munmap(map, len);
        return s;
    }
    f->map = map;
    f->map_len = len;
    return CLIPC_OK;
}

clipc_status st_open(const char *path, st_file *f) { return st_open_mapped(path, f, NULL, st_parse); }

const st_tensor *st_get(const st_file *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- writing */

/* A growing string for the header; `oom` sticks so the callers can append
 * without checking each step. */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_add(b, tmp, (size_t)k);
}

/* A JSON string as serde_json / Python's json (ensure_ascii=False) write it:
 * UTF-8 passes through, '"' and '\' and control characters are escaped. */
static void sb_json_str(sbuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char esc[8];
        switch (*q) {
        case '"': sb_add(b, "\\\"", 2); break;
        case '\\': sb_add(b, "\\\\", 2); break;
        case '\b': sb_add(b, "\\b", 2); break;
        case '\f': sb_add(b, "\\f", 2); break;
        case '\n': sb_add(b, "\\n", 2); break;
        case '\r': sb_add(b, "\\r", 2); break;
        case '\t': sb_add(b, "\\t", 2); break;
        default:
            if (*q < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *q);
                sb_add(b, esc, 6);
            } else {
                sb_add(b, (const char *)q, 1);
            }
        }
    }
    sb_add(b, "\"", 1);
}

/* (name, index) and (key, value) pairs sort by their first string, so
 * qsort needs no context (C11 has no qsort_r) and stays thread-safe. */
typedef struct {
    const char *key;
    const char *val;
    int idx;
} str_pair;

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const str_pair *)a)->key, ((const str_pair *)b)->key);
}

clipc_status st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta) {
    if (n < 0 || (n > 0 && !t)) return clipc_error(CLIPC_ERR_INVALID, "%s: bad tensor list", path);
    /* Validate everything before creating the file. */
    int n_meta = 0;
    if (meta) {
        while (meta[2 * n_meta]) {
            const char *k = meta[2 * n_meta], *v = meta[2 * n_meta + 1];
            if (!v) return clipc_error(CLIPC_ERR_INVALID, "%s: metadata key \"%s\" has no value", path, k);
            if (utf8_bad_offset((const uint8_t *)k, strlen(k)) >= 0 ||
                utf8_bad_offset((const uint8_t *)v, strlen(v)) >= 0)
                return clipc_error(CLIPC_ERR_INVALID, "%s: metadata \"%s\" is not valid UTF-8", path, k);
            n_meta++;
        }
    }
    size_t *nbytes = mem_calloc((size_t)n, sizeof(size_t), "safetensors writer");
    str_pair *ord = mem_calloc((size_t)n, sizeof(str_pair), "safetensors writer");
    str_pair *mk = mem_calloc((size_t)n_meta, sizeof(str_pair), "safetensors writer");
    int *order = mem_calloc((size_t)n, sizeof(int), "safetensors writer");
    sbuf h = {0};
    clipc_atomic_file *af = NULL;
    clipc_status s = CLIPC_OK;
    if (!nbytes || !ord || !mk || !order) {
        s = CLIPC_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const st_out_tensor *o = &t[i];
        const char *tn = o->name ? o->name : "(null)";
        if (!o->name || utf8_bad_offset((const uint8_t *)o->name, strlen(o->name)) >= 0 ||
            strcmp(o->name, "__metadata__") == 0) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: tensor %d: bad name \"%s\"", path, i, tn);
            goto done;
        }
        if (st_dtype_size(o->dtype) == 0 || o->ndim < 0 || o->ndim > ST_MAX_DIMS) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: tensor \"%s\": bad dtype or ndim", path, tn);
            goto done;
        }
        size_t numel = 1;
        for (int d = 0; d < o->ndim; d++) {
            if (o->shape[d] < 0 || (double)o->shape[d] >= ST_MAX_INT ||
                mul_overflow(numel, (size_t)o->shape[d], &numel) != 0) {
                s = clipc_error(CLIPC_ERR_INVALID, "%s: tensor \"%s\": bad shape", path, tn);
                goto done;
            }
        }
        if (mul_overflow(numel, st_dtype_size(o->dtype), &nbytes[i]) != 0 ||
            (nbytes[i] > 0 && !o->data)) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: tensor \"%s\": bad size or no data", path, tn);
            goto done;
        }
        ord[i] = (str_pair){o->name, NULL, i};
    }
    qsort(ord, (size_t)n, sizeof(str_pair), cmp_pair);
    for (int i = 0; i < n; i++) order[i] = ord[i].idx;
    for (int i = 1; i < n; i++)
        if (strcmp(ord[i - 1].key, ord[i].key) == 0) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: duplicate tensor \"%s\"", path, ord[i].key);
            goto done;
        }
    for (int i = 0; i < n_meta; i++) mk[i] = (str_pair){meta[2 * i], meta[2 * i + 1], i};
    qsort(mk, (size_t)n_meta, sizeof(str_pair), cmp_pair);
    for (int i = 1; i < n_meta; i++)
        if (strcmp(mk[i - 1].key, mk[i].key) == 0) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: duplicate metadata key \"%s\"", path, mk[i].key);
            goto done;
        }

    /* The header, in the reference layout. */
    sb_str(&h, "{");
    if (n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(&h, ",");
            sb_json_str(&h, mk[i].key);
            sb_str(&h, ":");
            sb_json_str(&h, mk[i].val);
        }
        sb_str(&h, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_out_tensor *o = &t[order[i]];
        if (i || n_meta) sb_str(&h, ",");
        sb_json_str(&h, o->name);
        sb_str(&h, ":{\"dtype\":");
        sb_json_str(&h, st_dtype_name(o->dtype));
        sb_str(&h, ",\"shape\":[");
        for (int d = 0; d < o->ndim; d++) {
            if (d) sb_str(&h, ",");
            sb_u64(&h, (uint64_t)o->shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_u64(&h, off);
        sb_str(&h, ",");
        if (off + nbytes[order[i]] < off) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: total size overflows", path);
            goto done;
        }
        off += nbytes[order[i]];
        sb_u64(&h, off);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    while (!h.oom && h.n % 8 != 0) sb_str(&h, " ");
    if (h.oom) {
        s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    if (h.n > ST_MAX_HEADER) {
        s = clipc_error(CLIPC_ERR_INVALID, "%s: header of %zu bytes is too large", path, h.n);
        goto done;
    }

    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    if ((s = clipc_atomic_open(path, &af)) != CLIPC_OK) goto done;
    if ((s = clipc_atomic_write(af, len8, 8)) != CLIPC_OK) goto done;
    if ((s = clipc_atomic_write(af, h.p, h.n)) != CLIPC_OK) goto done;
    for (int i = 0; i < n; i++)
        if (nbytes[order[i]] && (s = clipc_atomic_write(af, t[order[i]].data, nbytes[order[i]])) != CLIPC_OK)
            goto done;
    s = clipc_atomic_commit(af);
    af = NULL;
done:
    if (af) clipc_atomic_abort(af);
    free(h.p);
    free(nbytes);
    free(ord);
    free(order);
    free(mk);
    return s;
}
