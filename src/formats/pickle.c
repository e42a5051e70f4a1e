/*
 * pickle.c — a restricted pickle reader for PyTorch checkpoints.
 *
 * Python's unpickler is a small stack machine whose GLOBAL/REDUCE opcodes
 * import and call arbitrary functions, which is why loading an untrusted .pt
 * with pickle runs code.  This reader runs the same stack machine over the
 * opcodes torch.save and torch.jit.save emit (protocol 2, plus the protocol
 * 4 FRAME/MEMOIZE/STACK_GLOBAL), but a "global" is only a name looked up in
 * the allow-list below, and "calling" one means checking that its arguments
 * have exactly the count and types torch writes and building the plain value
 * it stands for (a tensor record, an empty dict, an inert object).  No code
 * is run, imported or looked up by name outside the list.
 *
 * The pickle is untrusted input: every read is bounds-checked, stack and
 * MARK depths and memo indices are bounded, pops never cross a MARK, and
 * every error names the file, the byte offset and the opcode.  The machine
 * is iterative (no recursion on nesting).  All values live in one arena,
 * freed together, so values shared through the memo (or cycles made with it)
 * need no reference counting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "base/error.h"

#define PK_MAX_STACK (1u << 24)
#define PK_MAX_MARKS 4096
#define PK_MAX_MEMO (1u << 24)

/* What an allowed global is. */
enum {
    G_ODICT = 1,         /* collections.OrderedDict */
    G_REBUILD_TENSOR,    /* torch._utils._rebuild_tensor_v2 */
    G_REBUILD_PARAM,     /* torch._utils._rebuild_parameter */
    G_REBUILD_FROM_TYPE, /* torch._tensor._rebuild_from_type_v2 */
    G_TENSOR_TYPE,       /* torch.Tensor, torch.nn.parameter.Parameter */
    G_LIST_HELPER,       /* torch.jit._pickle.build_*list: the list itself */
    G_STORAGE,           /* torch.<Type>Storage (i holds the dtype) */
    G_TORCH_CLASS        /* __torch__.*: a TorchScript class, an inert object */
};

static const struct {
    const char *module, *name;
    int tag;
    int dtype;
} allowed[] = {
    {"collections", "OrderedDict", G_ODICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, 0},
    {"torch._tensor", "_rebuild_from_type_v2", G_REBUILD_FROM_TYPE, 0},
    {"torch", "Tensor", G_TENSOR_TYPE, 0},
    {"torch.nn.parameter", "Parameter", G_TENSOR_TYPE, 0},
    {"torch.jit._pickle", "build_intlist", G_LIST_HELPER, 0},
    {"torch.jit._pickle", "build_floatlist", G_LIST_HELPER, 0},
    {"torch.jit._pickle", "build_boollist", G_LIST_HELPER, 0},
    {"torch.jit._pickle", "build_tensorlist", G_LIST_HELPER, 0},
    {"torch.jit._pickle", "build_doublelist", G_LIST_HELPER, 0},
    {"torch", "FloatStorage", G_STORAGE, ST_F32},
    {"torch", "HalfStorage", G_STORAGE, ST_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ST_BF16},
    {"torch", "DoubleStorage", G_STORAGE, ST_F64},
    {"torch", "LongStorage", G_STORAGE, ST_I64},
    {"torch", "IntStorage", G_STORAGE, ST_I32},
    {"torch", "ShortStorage", G_STORAGE, ST_I16},
    {"torch", "CharStorage", G_STORAGE, ST_I8},
    {"torch", "ByteStorage", G_STORAGE, ST_U8},
    {"torch", "BoolStorage", G_STORAGE, ST_BOOL},
};

static const char *kind_names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                   "global", "storage", "tensor", "object", "mark"};

const char *pk_kind_name(pk_kind k) { return (int)k >= 0 && k <= PK_MARK ? kind_names[k] : "?"; }

void pk_free(pk_arena *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->all[i]->s);
        free(a->all[i]->items);
        free(a->all[i]);
    }
    free(a->all);
    memset(a, 0, sizeof *a);
}

/* The machine's state; `err` is set by the helpers so opcodes can bail out. */
typedef struct {
    const uint8_t *p;
    size_t len, pos, op_pos;
    const char *name;
    pk_arena *a;
    pk_value **stack;
    size_t sp, scap;
    size_t marks[PK_MAX_MARKS];
    int n_marks;
    pk_value **memo;
    size_t n_memo;
    int op;
} vm;

/* Printable rendering of an untrusted string for messages. */
static void printable(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++) out[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (n > 0 && k + 4 >= cap) memcpy(out + k, "...", 3), k += 3;
    out[k] = 0;
}

static clipc_status fail(vm *m, const char *fmt, const char *arg) {
    char msg[800];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return clipc_error(CLIPC_ERR_FORMAT, "%s: pickle opcode 0x%02x at byte %zu: %s", m->name, m->op, m->op_pos, msg);
}

static pk_value *new_value(vm *m, pk_kind k) {
    if (m->a->n == m->a->cap) {
        size_t cap = m->a->cap ? m->a->cap * 2 : 256;
        pk_value **all = realloc(m->a->all, cap * sizeof *all);
        if (!all) return NULL;
        m->a->all = all;
        m->a->cap = cap;
    }
    pk_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = k;
    m->a->all[m->a->n++] = v;
    return v;
}

static int add_item(pk_value *c, pk_value *v) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        pk_value **it = realloc(c->items, cap * sizeof *it);
        if (!it) return -1;
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = v;
    return 0;
}

static clipc_status push(vm *m, pk_value *v) {
    if (!v) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory reading the pickle", m->name);
    if (m->sp == m->scap) {
        if (m->scap >= PK_MAX_STACK) return fail(m, "stack deeper than 16M values%s", NULL);
        size_t cap = m->scap ? m->scap * 2 : 64;
        pk_value **st = realloc(m->stack, cap * sizeof *st);
        if (!st) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory reading the pickle", m->name);
        m->stack = st;
        m->scap = cap;
    }
    m->stack[m->sp++] = v;
    return CLIPC_OK;
}

/* Values above the innermost MARK (or the whole stack without one). */
static size_t floor_(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static pk_value *pop(vm *m) { return m->sp > floor_(m) ? m->stack[--m->sp] : NULL; }

/* Pops the values above the innermost MARK into a new container of kind k. */
static clipc_status pop_mark(vm *m, pk_kind k, pk_value **out) {
    if (!m->n_marks) return fail(m, "no MARK to pop to%s", NULL);
    size_t base = m->marks[--m->n_marks];
    pk_value *c = new_value(m, k);
    if (!c) return CLIPC_ERR_NOMEM;
    for (size_t i = base; i < m->sp; i++)
        if (add_item(c, m->stack[i]) != 0) return CLIPC_ERR_NOMEM;
    m->sp = base;
    *out = c;
    return CLIPC_OK;
}

static int need(vm *m, size_t n) { return m->len - m->pos >= n; }

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static clipc_status push_str(vm *m, const uint8_t *s, size_t n) {
    pk_value *v = new_value(m, PK_STR);
    if (!v || !(v->s = malloc(n + 1))) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", m->name);
    memcpy(v->s, s, n);
    v->s[n] = 0;
    v->slen = n;
    return push(m, v);
}

/* A global by module and name: the allowed entry, or an error naming it. */
static clipc_status resolve_global(vm *m, const char *mod, size_t ml, const char *nm, size_t nl, pk_value **out) {
    char pm[200], pn[200], full[420], cm[200], cn[200];
    printable(mod, ml, pm, sizeof pm);
    printable(nm, nl, pn, sizeof pn);
    snprintf(full, sizeof full, "%s.%s", pm, pn);
    if (ml >= sizeof cm || nl >= sizeof cn) ml = nl = 0; /* no allowed global is this long */
    memcpy(cm, mod, ml);
    cm[ml] = 0;
    memcpy(cn, nm, nl);
    cn[nl] = 0;
    int tag = 0, dtype = 0;
    if (strlen(cm) == ml && strlen(cn) == nl && ml && nl) {
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (!strcmp(cm, allowed[i].module) && !strcmp(cn, allowed[i].name)) {
                tag = allowed[i].tag;
                dtype = allowed[i].dtype;
            }
        if (!tag && (!strcmp(cm, "__torch__") || !strncmp(cm, "__torch__.", 10))) tag = G_TORCH_CLASS;
    }
    if (!tag && !strncmp(cm, "torch.nn.", 9))
        return fail(m, "global '%s' is not allowed: a whole pickled nn.Module; save its state_dict() instead "
                       "(nothing in a pickle is ever executed)", full);
    if (!tag)
        return fail(m, "global '%s' is not allowed (clipc reads only tensors, storages, OrderedDict and "
                       "TorchScript module objects; nothing in a pickle is ever executed)", full);
    pk_value *g = new_value(m, PK_GLOBAL);
    if (!g || !(g->s = strdup(full))) return CLIPC_ERR_NOMEM;
    g->tag = tag;
    g->i = dtype;
    *out = g;
    return CLIPC_OK;
}

static int all_ints(const pk_value *t) {
    if (t->kind != PK_TUPLE) return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]->kind != PK_INT) return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]): the tensor record; its extents are checked
 * against the storage by the caller that knows the storage's bytes. */
static clipc_status rebuild_tensor(vm *m, const pk_value *args, pk_value **out) {
    pk_value **a = args->items;
    if (args->n != 6 && args->n != 7)
        return fail(m, "_rebuild_tensor_v2 needs 6 or 7 arguments (storage, offset, size, stride, "
                       "requires_grad, backward_hooks[, metadata])%s", NULL);
    if (a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT || !all_ints(a[2]) || !all_ints(a[3]) ||
        a[2]->n != a[3]->n || a[4]->kind != PK_BOOL || a[5]->kind != PK_DICT ||
        (args->n == 7 && a[6]->kind != PK_NONE && a[6]->kind != PK_DICT))
        return fail(m, "_rebuild_tensor_v2 arguments are not (storage, int, tuple of ints, tuple of ints of the "
                       "same length, bool, OrderedDict[, dict])%s", NULL);
    if (a[5]->n) return fail(m, "tensors with backward hooks are not supported%s", NULL);
    if (a[2]->n > ST_MAX_DIMS) return fail(m, "tensor has more than 8 dimensions%s", NULL);
    pk_value *t = new_value(m, PK_TENSOR);
    if (!t) return CLIPC_ERR_NOMEM;
    t->storage = a[0];
    t->offset = a[1]->i;
    t->ndim = (int)a[2]->n;
    for (int d = 0; d < t->ndim; d++) {
        t->shape[d] = a[2]->items[d]->i;
        t->stride[d] = a[3]->items[d]->i;
    }
    *out = t;
    return CLIPC_OK;
}

/* REDUCE / NEWOBJ: "calls" an allowed global on a tuple of arguments. */
static clipc_status apply(vm *m, pk_value *f, pk_value *args, int newobj, pk_value **out) {
    if (!f || !args) return fail(m, "stack underflow%s", NULL);
    if (f->kind != PK_GLOBAL) return fail(m, "callable is a %s, not an allowed global", pk_kind_name(f->kind));
    if (args->kind != PK_TUPLE) return fail(m, "arguments are a %s, not a tuple", pk_kind_name(args->kind));
    if (newobj && f->tag != G_TORCH_CLASS && f->tag != G_ODICT)
        return fail(m, "NEWOBJ on '%s' is not allowed", f->s);
    switch (f->tag) {
    case G_ODICT:
    case G_TORCH_CLASS:
        if (args->n) return fail(m, "'%s' takes no arguments here", f->s);
        *out = new_value(m, f->tag == G_ODICT ? PK_DICT : PK_OBJECT);
        if (!*out) return CLIPC_ERR_NOMEM;
        if (f->tag == G_TORCH_CLASS && !((*out)->s = strdup(f->s))) return CLIPC_ERR_NOMEM;
        return CLIPC_OK;
    case G_REBUILD_TENSOR: return rebuild_tensor(m, args, out);
    case G_REBUILD_PARAM:
        if (args->n != 3 || args->items[0]->kind != PK_TENSOR || args->items[1]->kind != PK_BOOL ||
            args->items[2]->kind != PK_DICT)
            return fail(m, "_rebuild_parameter arguments are not (tensor, bool, OrderedDict)%s", NULL);
        *out = args->items[0];
        return CLIPC_OK;
    case G_REBUILD_FROM_TYPE:
        /* (func, type, args, state): only the plain tensor rebuild of a
         * torch.Tensor or Parameter, with no extra state. */
        if (args->n != 4 || args->items[0]->kind != PK_GLOBAL || args->items[0]->tag != G_REBUILD_TENSOR ||
            args->items[1]->kind != PK_GLOBAL || args->items[1]->tag != G_TENSOR_TYPE ||
            args->items[2]->kind != PK_TUPLE || (args->items[3]->kind != PK_DICT && args->items[3]->kind != PK_NONE) ||
            (args->items[3]->kind == PK_DICT && args->items[3]->n))
            return fail(m, "_rebuild_from_type_v2 arguments are not (_rebuild_tensor_v2, Tensor type, tuple, "
                           "empty state)%s", NULL);
        return rebuild_tensor(m, args->items[2], out);
    case G_LIST_HELPER:
        if (args->n != 1 || args->items[0]->kind != PK_LIST)
            return fail(m, "'%s' takes one list", f->s);
        *out = args->items[0];
        return CLIPC_OK;
    default: return fail(m, "'%s' cannot be called", f->s);
    }
}

/* BINPERSID: ('storage', storage type, key, location, numel). */
static clipc_status persistent_load(vm *m, pk_value *pid, pk_value **out) {
    if (!pid) return fail(m, "stack underflow%s", NULL);
    pk_value **a = pid->items;
    if (pid->kind != PK_TUPLE || pid->n != 5 || a[0]->kind != PK_STR || strcmp(a[0]->s, "storage") ||
        a[1]->kind != PK_GLOBAL || a[1]->tag != G_STORAGE || a[2]->kind != PK_STR || a[3]->kind != PK_STR ||
        a[4]->kind != PK_INT || a[4]->i < 0)
        return fail(m, "persistent id is not ('storage', storage type, key, location, numel)%s", NULL);
    /* The key names a file under data/: a plain name, never a path. */
    int ok = a[2]->slen > 0 && a[2]->slen <= 64;
    for (size_t i = 0; ok && i < a[2]->slen; i++) {
        char c = a[2]->s[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    }
    if (!ok) {
        char pk[100];
        printable(a[2]->s, a[2]->slen, pk, sizeof pk);
        return fail(m, "storage key '%s' is not a plain name (letters, digits, '_') under data/", pk);
    }
    pk_value *s = new_value(m, PK_STORAGE);
    if (!s || !(s->s = strdup(a[2]->s))) return CLIPC_ERR_NOMEM;
    s->slen = a[2]->slen;
    s->tag = (int)a[1]->i;
    s->i = a[4]->i;
    *out = s;
    return CLIPC_OK;
}

static clipc_status memo_put(vm *m, uint64_t idx) {
    if (m->sp == 0 || m->sp <= floor_(m)) return fail(m, "memo put with nothing on the stack%s", NULL);
    /* Real indices count the values memoized so far, so are below the
     * pickle's length; larger ones would only make the memo a memory bomb. */
    if (idx >= PK_MAX_MEMO || idx >= m->len) return fail(m, "memo index too large%s", NULL);
    if (idx >= m->n_memo) {
        size_t n = (size_t)idx + 1 > m->n_memo * 2 ? (size_t)idx + 1 : m->n_memo * 2;
        pk_value **mm = realloc(m->memo, n * sizeof *mm);
        if (!mm) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", m->name);
        memset(mm + m->n_memo, 0, (n - m->n_memo) * sizeof *mm);
        m->memo = mm;
        m->n_memo = n;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return CLIPC_OK;
}

static clipc_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->n_memo || !m->memo[idx]) {
        char b[32];
        snprintf(b, sizeof b, "%llu", (unsigned long long)idx);
        return fail(m, "memo slot %s was never set", b);
    }
    return push(m, m->memo[idx]);
}

/* SETITEM(S) into a dict, APPEND(S) into a list. */
static clipc_status fill(vm *m, int is_dict, int many) {
    pk_value *items = NULL;
    clipc_status s;
    if (many) {
        if ((s = pop_mark(m, PK_TUPLE, &items))) return s;
    } else {
        items = new_value(m, PK_TUPLE);
        if (!items) return CLIPC_ERR_NOMEM;
        size_t k = is_dict ? 2 : 1;
        if (m->sp < floor_(m) + k) return fail(m, "stack underflow%s", NULL);
        for (size_t i = 0; i < k; i++)
            if (add_item(items, m->stack[m->sp - k + i])) return CLIPC_ERR_NOMEM;
        m->sp -= k;
    }
    pk_value *c = m->sp > floor_(m) ? m->stack[m->sp - 1] : NULL;
    if (!c) return fail(m, "stack underflow%s", NULL);
    if (c->kind != (is_dict ? PK_DICT : PK_LIST))
        return fail(m, "target is a %s", pk_kind_name(c->kind));
    if (is_dict && items->n % 2) return fail(m, "odd number of values for SETITEMS%s", NULL);
    for (size_t i = 0; i < items->n; i++)
        if (add_item(c, items->items[i])) return CLIPC_ERR_NOMEM;
    return CLIPC_OK;
}

/* BUILD: sets the state of an inert object (a TorchScript module's
 * attributes, or the _metadata of a state dict's OrderedDict). */
static clipc_status build(vm *m) {
    pk_value *state = pop(m), *obj = m->sp > floor_(m) ? m->stack[m->sp - 1] : NULL;
    if (!state || !obj) return fail(m, "stack underflow%s", NULL);
    if (obj->kind != PK_OBJECT && obj->kind != PK_DICT)
        return fail(m, "BUILD on a %s is not allowed (only on OrderedDict and TorchScript objects)",
                    pk_kind_name(obj->kind));
    if (state->kind != PK_DICT) return fail(m, "BUILD state is a %s, not a dict", pk_kind_name(state->kind));
    if (obj->attrs) return fail(m, "BUILD twice on one object%s", NULL);
    obj->attrs = state;
    return CLIPC_OK;
}

static const struct {
    uint8_t op;
    uint8_t argbytes; /* fixed-size argument, read before dispatch */
} fixed_args[] = {{0x80, 1}, {0x95, 8}, {'J', 4}, {'K', 1}, {'M', 2}, {'G', 8}, {'q', 1},
                  {'r', 4},  {'h', 1},  {'j', 4}, {'X', 4}, {0x8c, 1}, {0x8a, 1}};

/* One opcode (m->op, argument already at m->p + m->pos); sets *stop at STOP. */
static clipc_status step(vm *m, uint64_t arg, pk_value **root) {
    pk_value *v = NULL, *x, *y;
    clipc_status s;
    switch (m->op) {
    case 0x80: /* PROTO */
        if (arg < 2 || arg > 5) return fail(m, "unsupported pickle protocol%s", NULL);
        return CLIPC_OK;
    case 0x95: return CLIPC_OK; /* FRAME: a size hint */
    case '}': return push(m, new_value(m, PK_DICT));
    case ']': return push(m, new_value(m, PK_LIST));
    case ')': return push(m, new_value(m, PK_TUPLE));
    case '(':
        if (m->n_marks == PK_MAX_MARKS) return fail(m, "more than 4096 nested MARKs%s", NULL);
        m->marks[m->n_marks++] = m->sp;
        return CLIPC_OK;
    case 'X':
    case 0x8c: /* BINUNICODE, SHORT_BINUNICODE */
        if (!need(m, arg)) return fail(m, "truncated string%s", NULL);
        s = push_str(m, m->p + m->pos, (size_t)arg);
        m->pos += (size_t)arg;
        return s;
    case 'J': case 'K': case 'M': /* BININT, BININT1, BININT2 */
        if (!(v = new_value(m, PK_INT))) return CLIPC_ERR_NOMEM;
        v->i = m->op == 'J' ? (int64_t)(int32_t)(uint32_t)arg : (int64_t)arg;
        return push(m, v);
    case 0x8a: /* LONG1: n bytes, little-endian two's complement */
        if (arg > 8) return fail(m, "integer wider than 64 bits%s", NULL);
        if (!need(m, arg)) return fail(m, "truncated integer%s", NULL);
        if (!(v = new_value(m, PK_INT))) return CLIPC_ERR_NOMEM;
        if (arg) {
            uint64_t u = rd_le(m->p + m->pos, (int)arg);
            if (arg < 8 && (u >> (8 * arg - 1)) & 1) u |= ~(uint64_t)0 << (8 * arg);
            memcpy(&v->i, &u, sizeof u);
        }
        m->pos += (size_t)arg;
        return push(m, v);
    case 'G': { /* BINFLOAT: big-endian double */
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | ((arg >> (8 * i)) & 0xff);
        if (!(v = new_value(m, PK_FLOAT))) return CLIPC_ERR_NOMEM;
        memcpy(&v->f, &u, sizeof u);
        return push(m, v);
    }
    case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
        if (!(v = new_value(m, PK_BOOL))) return CLIPC_ERR_NOMEM;
        v->i = m->op == 0x88;
        return push(m, v);
    case 'N': return push(m, new_value(m, PK_NONE));
    case 0x85: case 0x86: case 0x87: { /* TUPLE1/2/3 */
        size_t k = (size_t)(m->op - 0x84);
        if (m->sp < floor_(m) + k) return fail(m, "stack underflow%s", NULL);
        if (!(v = new_value(m, PK_TUPLE))) return CLIPC_ERR_NOMEM;
        for (size_t i = 0; i < k; i++)
            if (add_item(v, m->stack[m->sp - k + i])) return CLIPC_ERR_NOMEM;
        m->sp -= k;
        return push(m, v);
    }
    case 't': /* TUPLE */
        if ((s = pop_mark(m, PK_TUPLE, &v))) return s;
        return push(m, v);
    case 's': return fill(m, 1, 0);
    case 'u': return fill(m, 1, 1);
    case 'a': return fill(m, 0, 0);
    case 'e': return fill(m, 0, 1);
    case 'q': case 'r': return memo_put(m, arg);
    case 0x94: return memo_put(m, m->n_memo);
    case 'h': case 'j': return memo_get(m, arg);
    case '0': /* POP */
        if (!pop(m)) return fail(m, "stack underflow%s", NULL);
        return CLIPC_OK;
    case '1': /* POP_MARK */
        if ((s = pop_mark(m, PK_TUPLE, &v))) return s;
        return CLIPC_OK;
    case 'c': { /* GLOBAL "module\nname\n" */
        const char *a = (const char *)m->p + m->pos;
        const char *nl1 = memchr(a, '\n', m->len - m->pos);
        const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', m->len - m->pos - (size_t)(nl1 + 1 - a)) : NULL;
        if (!nl2) return fail(m, "truncated GLOBAL%s", NULL);
        s = resolve_global(m, a, (size_t)(nl1 - a), nl1 + 1, (size_t)(nl2 - nl1 - 1), &v);
        if (s) return s;
        m->pos += (size_t)(nl2 + 1 - a);
        return push(m, v);
    }
    case 0x93: /* STACK_GLOBAL */
        y = pop(m);
        x = pop(m);
        if (!x || !y) return fail(m, "stack underflow%s", NULL);
        if (x->kind != PK_STR || y->kind != PK_STR) return fail(m, "STACK_GLOBAL needs two strings%s", NULL);
        if ((s = resolve_global(m, x->s, x->slen, y->s, y->slen, &v))) return s;
        return push(m, v);
    case 'R': case 0x81: /* REDUCE, NEWOBJ */
        y = pop(m);
        x = pop(m);
        if ((s = apply(m, x, y, m->op == 0x81, &v))) return s;
        return push(m, v);
    case 'b': return build(m);
    case 'Q': /* BINPERSID */
        if ((s = persistent_load(m, pop(m), &v))) return s;
        return push(m, v);
    case '.': /* STOP */
        if (!(*root = pop(m))) return fail(m, "STOP with an empty stack%s", NULL);
        return CLIPC_OK;
    default: return fail(m, "opcode not supported (not used by torch.save)%s", NULL);
    }
}

clipc_status pk_load(const uint8_t *buf, size_t len, const char *name, pk_arena *a, pk_value **root) {
    memset(a, 0, sizeof *a);
    *root = NULL;
    vm m = {.p = buf, .len = len, .name = name, .a = a};
    clipc_status s = CLIPC_OK;
    while (!*root) {
        if (m.pos >= len) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s: pickle ends at byte %zu without STOP (truncated?)", name, len);
            break;
        }
        m.op_pos = m.pos;
        m.op = buf[m.pos++];
        uint64_t arg = 0;
        for (size_t i = 0; i < sizeof fixed_args / sizeof fixed_args[0]; i++)
            if (fixed_args[i].op == m.op) {
                if (!need(&m, fixed_args[i].argbytes)) {
                    s = fail(&m, "truncated argument%s", NULL);
                    break;
                }
                arg = rd_le(buf + m.pos, fixed_args[i].argbytes);
                m.pos += fixed_args[i].argbytes;
            }
        if (s || (s = step(&m, arg, root))) break;
    }
    free(m.stack);
    free(m.memo);
    if (s) {
        *root = NULL;
        pk_free(a);
    }
    return s;
}
