/*
 * torch_zip.c — a PyTorch zip checkpoint as an st_file.
 *
 * torch.save (zip format, the default since PyTorch 1.6) writes
 *   <archive>/data.pkl      the pickled object (a state dict, or a dict holding one)
 *   <archive>/data/<key>    one raw little-endian storage per key, stored
 *                           uncompressed and 64-byte aligned
 *   <archive>/version, ...  ignored
 * torch.jit.save (TorchScript) writes the same plus constants.pkl and code/
 * (both ignored: clipc runs its own CLIP graph, never the archive's code);
 * its data.pkl builds `__torch__.*` module objects whose attributes hold the
 * tensors, so walking attributes gives OpenAI's names ("visual.conv1.weight").
 *
 * Tensors are (storage, offset, shape, stride) records from pickle.c.  Each
 * is checked against its storage (which must be a data/<key> entry of
 * exactly numel * element-size bytes) with overflow-safe arithmetic.  A
 * contiguous tensor of a stored (uncompressed) entry is used in place;
 * others — strided views, deflated entries, misaligned data — are gathered
 * into one owned buffer (st_file.aligned).  Negative strides cannot be
 * written by PyTorch and are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/torch_zip.h"
#include "formats/pickle.h"
#include "formats/zip_reader.h"
#include "base/error.h"

#define TZ_MAX_DEPTH 32
#define TZ_MAX_NAME 1024

static const uint64_t empty_tensor; /* data of zero-element tensors */

typedef struct {
    char *name;
    const pk_value *t;
} named;

typedef struct {
    const char *file;
    named *v;
    int n, cap;
} collector;

static clipc_status add_named(collector *c, const char *name, const pk_value *t) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        named *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", c->file);
        c->v = v;
        c->cap = cap;
    }
    if (!(c->v[c->n].name = strdup(name))) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", c->file);
    c->v[c->n++].t = t;
    return CLIPC_OK;
}

/* Every tensor under v: dict values by key, object attributes by name.
 * Other values (ints such as OpenAI's input_resolution, bools, lists) are
 * not weights and are skipped.  Depth is bounded: the memo can make cycles. */
static clipc_status walk(collector *c, const pk_value *v, char *path, size_t plen, int depth) {
    if (v->kind == PK_TENSOR) {
        if (!plen) return clipc_error(CLIPC_ERR_FORMAT, "%s: the pickle is a bare tensor, not a state dict", c->file);
        return add_named(c, path, v);
    }
    if (v->kind == PK_OBJECT) return v->attrs ? walk(c, v->attrs, path, plen, depth) : CLIPC_OK;
    if (v->kind != PK_DICT) return CLIPC_OK;
    if (depth >= TZ_MAX_DEPTH)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: objects nested deeper than %d levels (or a cycle)", c->file,
                           TZ_MAX_DEPTH);
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const pk_value *k = v->items[i], *x = v->items[i + 1];
        if (k->kind != PK_STR || x->kind == PK_NONE || x->kind == PK_BOOL || x->kind == PK_INT ||
            x->kind == PK_FLOAT || x->kind == PK_STR)
            continue;
        if (strlen(k->s) != k->slen || plen + 1 + k->slen >= TZ_MAX_NAME)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: a key under '%s' is too long or holds a NUL", c->file, path);
        size_t n = plen;
        if (plen) path[n++] = '.';
        memcpy(path + n, k->s, k->slen + 1);
        clipc_status s = walk(c, x, path, n + k->slen, depth + 1);
        path[plen] = 0;
        if (s) return s;
    }
    return CLIPC_OK;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Checks tensor `t` against its storage entry; sets the st_tensor's shape,
 * sizes and (when usable in place) data, and *copy when it must be gathered. */
static clipc_status check_tensor(const char *file, const char *tn, const pk_value *t, const zr_entry *e,
                                 st_tensor *out, int *copy) {
    const pk_value *st = t->storage;
    size_t es = st_dtype_size((st_dtype)st->tag), snumel = (size_t)st->i, sbytes;
    if (mul_overflow(snumel, es, &sbytes) || sbytes != e->usize)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': storage data/%s holds %zu bytes, its record says "
                           "%lld elements of %zu bytes", file, tn, st->s, e->usize, (long long)st->i, es);
    out->dtype = (st_dtype)st->tag;
    out->ndim = t->ndim;
    size_t numel = 1, last = 0, expect = 1;
    int contiguous = 1;
    if (t->offset < 0) return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': negative storage offset", file, tn);
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] < 0 || t->stride[d] < 0)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': negative size or stride (dimension %d)", file,
                               tn, d);
        size_t sz = (size_t)t->shape[d], sd = (size_t)t->stride[d], ext;
        out->shape[d] = t->shape[d];
        if (mul_overflow(numel, sz, &numel))
            return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': element count overflows", file, tn);
        if (sz > 1 && sd != expect) contiguous = 0;
        if (sz && (mul_overflow(sz - 1, sd, &ext) || last + ext < last))
            return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': stride overflows", file, tn);
        if (sz) last += ext;
        if (mul_overflow(expect, sz ? sz : 1, &expect)) expect = SIZE_MAX;
    }
    out->numel = numel;
    if (mul_overflow(numel, es, &out->nbytes))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': byte size overflows", file, tn);
    if (numel && ((size_t)t->offset > snumel || last >= snumel - (size_t)t->offset))
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': offset %lld and strides reach past its storage "
                           "data/%s of %zu elements", file, tn, (long long)t->offset, st->s, snumel);
    /* More elements than the storage holds means overlapping (stride 0)
     * views: refused, so a tiny storage cannot expand into a huge copy. */
    if (numel > snumel)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': %zu elements in a storage of %zu (overlapping "
                           "strides are not supported)", file, tn, numel, snumel);
    out->data = &empty_tensor;
    *copy = 0;
    if (!numel) return CLIPC_OK;
    const uint8_t *p = e->data + (size_t)t->offset * es;
    if (contiguous && e->method == 0 && (uintptr_t)p % es == 0) out->data = p;
    else *copy = 1;
    return CLIPC_OK;
}

/* Gathers a strided tensor from storage bytes `src` into dst. */
static void gather(uint8_t *dst, const uint8_t *src, const pk_value *t, size_t es, size_t numel) {
    int64_t idx[ST_MAX_DIMS] = {0};
    for (size_t k = 0; k < numel; k++) {
        size_t off = (size_t)t->offset;
        for (int d = 0; d < t->ndim; d++) off += (size_t)idx[d] * (size_t)t->stride[d];
        memcpy(dst + k * es, src + off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* The pickle of the archive: the one "<dir>/data.pkl" entry. */
static clipc_status find_pickle(const zr_archive *z, const char *file, const zr_entry **pkl, char *dir, size_t cap) {
    *pkl = NULL;
    for (int i = 0; i < z->n; i++) {
        const char *n = z->e[i].name, *sl = strchr(n, '/');
        if (!sl || strcmp(sl, "/data.pkl") != 0) continue;
        if (*pkl)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: two pickles (%s, %s) in one archive", file, (*pkl)->name, n);
        if ((size_t)(sl - n) >= cap) return clipc_error(CLIPC_ERR_FORMAT, "%s: archive name too long", file);
        memcpy(dir, n, (size_t)(sl - n));
        dir[sl - n] = 0;
        *pkl = &z->e[i];
    }
    if (!*pkl)
        return clipc_error(CLIPC_ERR_FORMAT, "%s: a zip archive without <name>/data.pkl: not a PyTorch checkpoint",
                           file);
    return CLIPC_OK;
}

/* Validates every tensor, then fills f (the body of torch_zip_parse). */
static clipc_status build_file(const zr_archive *z, const char *dir, collector *c, st_file *f) {
    const char *file = c->file;
    int *copy = calloc((size_t)c->n + 1, sizeof *copy);
    uint8_t *checked = calloc((size_t)z->n + 1, 1);
    const zr_entry **ent = calloc((size_t)c->n + 1, sizeof *ent);
    f->tensors = calloc((size_t)c->n + 1, sizeof *f->tensors);
    clipc_status s = CLIPC_OK;
    if (!copy || !checked || !ent || !f->tensors) {
        s = clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    size_t extra = 0;
    for (int i = 0; i < c->n; i++) {
        const pk_value *t = c->v[i].t;
        char en[TZ_MAX_NAME + 80];
        snprintf(en, sizeof en, "%s/data/%s", dir, t->storage->s);
        const zr_entry *e = ent[i] = zr_find(z, en);
        if (!e) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: tensor '%s': storage '%s' is missing from the archive", file,
                            c->v[i].name, en);
            goto done;
        }
        st_tensor *o = &f->tensors[f->n_tensors++];
        o->name = c->v[i].name;
        c->v[i].name = NULL;
        if ((s = check_tensor(file, o->name, t, e, o, &copy[i]))) goto done;
        if (copy[i]) extra += (o->nbytes + 63) & ~(size_t)63;
        size_t ei = (size_t)(e - z->e);
        if (!checked[ei] && e->method == 0) { /* the CRC of a stored entry, once */
            const uint8_t *d;
            void *own;
            if ((s = zr_extract(e, file, &d, &own))) goto done;
            checked[ei] = 1;
        }
    }
    uint8_t *buf = extra ? mem_alloc(extra, "copies of PyTorch tensors") : NULL;
    if (extra && !buf) {
        s = CLIPC_ERR_NOMEM;
        goto done;
    }
    f->aligned = buf;
    for (int i = 0; i < c->n; i++) {
        if (!copy[i]) continue;
        st_tensor *o = &f->tensors[i];
        const uint8_t *src;
        void *own;
        if ((s = zr_extract(ent[i], file, &src, &own))) goto done;
        gather(buf, src, c->v[i].t, st_dtype_size(o->dtype), o->numel);
        free(own);
        o->data = buf;
        buf += (o->nbytes + 63) & ~(size_t)63;
    }
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_tensor);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: duplicate tensor '%s'", file, f->tensors[i].name);
            goto done;
        }
done:
    free(copy);
    free(checked);
    free(ent);
    return s;
}

clipc_status torch_zip_parse(const void *buf, size_t len, const char *name, st_file *f) {
    memset(f, 0, sizeof *f);
    if (!name) name = "<buffer>";
    if (!(f->path = strdup(name))) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    f->data = buf;
    f->data_len = len;
    zr_archive z;
    pk_arena a = {0};
    collector c = {.file = f->path};
    const zr_entry *pkl;
    char dir[TZ_MAX_NAME], pname[TZ_MAX_NAME + 300], path[TZ_MAX_NAME + 1] = "";
    const uint8_t *pdata = NULL;
    void *pown = NULL;
    pk_value *root;
    clipc_status s = zr_open(buf, len, f->path, &z);
    if (s) goto done;
    if ((s = find_pickle(&z, f->path, &pkl, dir, sizeof dir))) goto done;
    if ((s = zr_extract(pkl, f->path, &pdata, &pown))) goto done;
    snprintf(pname, sizeof pname, "%s: %s", f->path, pkl->name);
    if ((s = pk_load(pdata, pkl->usize, pname, &a, &root))) goto done;
    if ((s = walk(&c, root, path, 0, 0))) goto done;
    s = build_file(&z, dir, &c, f);
done:
    for (int i = 0; i < c.n; i++) free(c.v[i].name);
    free(c.v);
    pk_free(&a);
    free(pown);
    zr_close(&z);
    if (s) st_close(f);
    return s;
}
