/*
 * pickle.h — a restricted reader of Python pickles, enough for the data.pkl
 * of a PyTorch checkpoint (torch.save) or TorchScript archive
 * (torch.jit.save), and nothing else.
 *
 * The reader is a data parser, not an interpreter: it builds a tree of
 * plain values (numbers, strings, tuples, lists, dicts, tensors, storages,
 * inert objects) and never calls anything.  Globals are looked up in a fixed
 * allow-list (tensor rebuild functions, storage types, OrderedDict, the
 * TorchScript list helpers, `__torch__.*` classes as inert objects); any
 * other global is refused with an error naming it.  Each allowed callable
 * is "applied" by checking its arguments' count and types exactly and
 * building the value it stands for.
 */
#ifndef CLIPC_FORMATS_PICKLE_H
#define CLIPC_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"
#include "formats/safetensors.h"

typedef enum {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_OBJECT, PK_MARK
} pk_kind;

typedef struct pk_value pk_value;
struct pk_value {
    pk_kind kind;
    int64_t i;            /* INT, BOOL; STORAGE: element count */
    double f;             /* FLOAT */
    char *s;              /* STR (NUL-terminated, slen bytes); GLOBAL: "module.name";
                           * OBJECT: its class; STORAGE: its key */
    size_t slen;
    pk_value **items;     /* TUPLE, LIST: n items; DICT: n/2 (key, value) pairs */
    size_t n, cap;
    pk_value *attrs;      /* OBJECT: its state (a DICT) after BUILD, or NULL */
    int tag;              /* GLOBAL: what it is (pickle.c); STORAGE: its st_dtype */
    /* TENSOR */
    pk_value *storage;
    int64_t offset;
    int ndim;
    int64_t shape[ST_MAX_DIMS], stride[ST_MAX_DIMS];
};

/* All values of one load, freed together. */
typedef struct {
    pk_value **all;
    size_t n, cap;
} pk_arena;

/* Reads the pickle buf[0..len) up to its STOP; *root is the value it
 * returns.  `name` is used in messages ("archive/data.pkl"). */
clipc_status pk_load(const uint8_t *buf, size_t len, const char *name, pk_arena *a, pk_value **root);
void pk_free(pk_arena *a);
const char *pk_kind_name(pk_kind k);

#endif
