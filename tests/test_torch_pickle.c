/*
 * test_torch_pickle.c — hostile PyTorch files are refused with clear
 * messages and nothing is executed: disallowed globals (GLOBAL,
 * STACK_GLOBAL, memo tricks), allowed callables with unexpected arguments,
 * BUILD on unexpected objects, storage keys that are paths, tensor extents
 * that overflow or exceed their storage, deep MARK stacks and cycles,
 * truncated pickles, truncated and corrupt zip archives.  The pickles are
 * built here opcode by opcode (the byte strings are the test data) and
 * wrapped in zip archives by a small stored/deflated zip writer.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/pickle.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "formats/torch_zip.h"
#include "harness.h"

/* ------------------------------------------------------------ builders */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void op(buf *b, int c) { uint8_t x = (uint8_t)c; put(b, &x, 1); }
static void le(buf *b, uint64_t v, int n) { for (int i = 0; i < n; i++) op(b, (int)(v >> (8 * i)) & 0xff); }
static void ustr(buf *b, const char *s) { op(b, 'X'); le(b, strlen(s), 4); put(b, s, strlen(s)); }
static void bint(buf *b, int32_t v) { op(b, 'J'); le(b, (uint32_t)v, 4); }
static void glob(buf *b, const char *mod, const char *name) {
    op(b, 'c');
    put(b, mod, strlen(mod));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}
static void tuple_ints(buf *b, const int64_t *v, int n) {
    op(b, '(');
    for (int i = 0; i < n; i++) {
        op(b, 0x8a); /* LONG1, 8 bytes: any int64 */
        op(b, 8);
        le(b, (uint64_t)v[i], 8);
    }
    op(b, 't');
}
/* _rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), off, size, stride, False, OrderedDict()) */
static void tensor(buf *b, const char *key, int64_t numel, int64_t off, const int64_t *size, const int64_t *stride,
                   int nd) {
    glob(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    ustr(b, "storage");
    glob(b, "torch", "FloatStorage");
    ustr(b, key);
    ustr(b, "cpu");
    bint(b, (int32_t)numel);
    op(b, 't');
    op(b, 'Q');
    op(b, 0x8a), op(b, 8), le(b, (uint64_t)off, 8);
    tuple_ints(b, size, nd);
    tuple_ints(b, stride, nd);
    op(b, 0x89);
    glob(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}
/* {"w": <tensor>} with PROTO and STOP. */
static buf state_dict(const char *key, int64_t numel, int64_t off, const int64_t *size, const int64_t *stride, int nd) {
    buf b = {0};
    op(&b, 0x80), op(&b, 2);
    op(&b, '}');
    ustr(&b, "w");
    tensor(&b, key, numel, off, size, stride, nd);
    op(&b, 's');
    op(&b, '.');
    return b;
}

typedef struct {
    const char *name;
    const void *data;
    size_t n;
    int deflate;
} zentry;

/* A zip archive of the entries (stored or deflated, correct CRCs); with
 * `zip64`, every size and offset goes through the zip64 records, as in
 * archives over 4 GB. */
static buf make_zip_(const zentry *e, int n, int zip64) {
    buf z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint32_t crc = (uint32_t)crc32(0, e[i].data, (uInt)e[i].n);
        uint8_t *c = malloc(e[i].n + 64);
        size_t cn = e[i].n;
        if (e[i].deflate) {
            z_stream s = {0};
            deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            s.next_in = (Bytef *)e[i].data;
            s.avail_in = (uInt)e[i].n;
            s.next_out = c;
            s.avail_out = (uInt)e[i].n + 64;
            deflate(&s, Z_FINISH);
            cn = s.total_out;
            deflateEnd(&s);
        } else {
            memcpy(c, e[i].data, e[i].n);
        }
        size_t off = z.n, nl = strlen(e[i].name);
        int m = e[i].deflate ? 8 : 0;
        le(&z, 0x04034b50, 4), le(&z, 20, 2), le(&z, 0, 2), le(&z, (uint64_t)m, 2), le(&z, 0, 4);
        /* Data 64-byte aligned by an extra field, as torch.save does. */
        size_t pad = (64 - (off + 30 + nl) % 64) % 64;
        if (pad && pad < 4) pad += 64;
        le(&z, crc, 4), le(&z, cn, 4), le(&z, e[i].n, 4), le(&z, nl, 2), le(&z, pad, 2);
        put(&z, e[i].name, nl);
        if (pad) le(&z, 0x4654, 2), le(&z, pad - 4, 2);
        for (size_t k = 4; k < pad; k++) op(&z, 'Z');
        put(&z, c, cn);
        le(&cd, 0x02014b50, 4), le(&cd, 20, 2), le(&cd, 20, 2), le(&cd, 0, 2), le(&cd, (uint64_t)m, 2);
        uint64_t big = 0xffffffffu;
        le(&cd, 0, 4), le(&cd, crc, 4), le(&cd, zip64 ? big : cn, 4), le(&cd, zip64 ? big : e[i].n, 4), le(&cd, nl, 2);
        le(&cd, zip64 ? 28 : 0, 2), le(&cd, 0, 2), le(&cd, 0, 2), le(&cd, 0, 2), le(&cd, 0, 4);
        le(&cd, zip64 ? big : off, 4);
        put(&cd, e[i].name, nl);
        if (zip64) le(&cd, 1, 2), le(&cd, 24, 2), le(&cd, e[i].n, 8), le(&cd, cn, 8), le(&cd, off, 8);
        free(c);
    }
    size_t cdoff = z.n;
    put(&z, cd.p, cd.n);
    if (zip64) {
        size_t rec = z.n;
        le(&z, 0x06064b50, 4), le(&z, 44, 8), le(&z, 45, 2), le(&z, 45, 2), le(&z, 0, 8);
        le(&z, (uint64_t)n, 8), le(&z, (uint64_t)n, 8), le(&z, cd.n, 8), le(&z, cdoff, 8);
        le(&z, 0x07064b50, 4), le(&z, 0, 4), le(&z, rec, 8), le(&z, 1, 4);
    }
    le(&z, 0x06054b50, 4), le(&z, 0, 4), le(&z, zip64 ? 0xffff : (uint64_t)n, 2);
    le(&z, zip64 ? 0xffff : (uint64_t)n, 2), le(&z, zip64 ? 0xffffffffu : cd.n, 4);
    le(&z, zip64 ? 0xffffffffu : cdoff, 4), le(&z, 0, 2);
    free(cd.p);
    return z;
}
static buf make_zip(const zentry *e, int n) { return make_zip_(e, n, 0); }

static const float six[6] = {0, 1, 2, 3, 4, 5};

/* The archive "a/data.pkl" + "a/data/0" (six floats) around a pickle. */
static buf archive(const buf *pkl, int deflate) {
    zentry e[] = {{"a/data.pkl", pkl->p, pkl->n, 0}, {"a/data/0", six, sizeof six, deflate}, {"a/version", "3\n", 2, 0}};
    return make_zip(e, 3);
}

/* The pickle must be refused, alone and inside an archive, with `msg`. */
static void refused_(const char *file, int line, buf *b, const char *msg) {
    pk_arena a;
    pk_value *root;
    clipc_status s = pk_load(b->p, b->n, "x.pkl", &a, &root);
    st_file f;
    int in_zip = 0;
    if (s == CLIPC_OK) { /* some errors show only once tensors meet the archive */
        pk_free(&a);
        buf z = archive(b, 0);
        s = torch_zip_parse(z.p, z.n, "evil.pt", &f);
        st_close(&f);
        free(z.p);
        in_zip = 1;
    }
    if (s == CLIPC_OK || !strstr(clipc_last_error(), msg))
        harness_fail(file, line, "%s: got %d \"%s\", expected an error with \"%s\"", in_zip ? "archive" : "pickle",
                     (int)s, s ? clipc_last_error() : "", msg);
    free(b->p);
    *b = (buf){0};
}
#define refused(b, msg) refused_(__FILE__, __LINE__, b, msg)

/* ----------------------------------------------------------- the tests */

TEST(torch_pickle_valid_archive_and_layouts) {
    /* Contiguous: in place from the stored entry. */
    int64_t sz[2] = {2, 3}, st[2] = {3, 1};
    buf p = state_dict("0", 6, 0, sz, st, 2), z = archive(&p, 0);
    st_file f;
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "ok.pt", &f));
    const st_tensor *t = st_get(&f, "w");
    REQUIRE(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    CHECK(!memcmp(t->data, six, sizeof six) && (const uint8_t *)t->data > z.p && (const uint8_t *)t->data < z.p + z.n);
    st_close(&f);
    free(z.p);
    /* A transposed view (stride (1, 3)) is gathered; from a deflated entry too. */
    int64_t sz2[2] = {3, 2}, st2[2] = {1, 3};
    const float want[6] = {0, 3, 1, 4, 2, 5};
    free(p.p);
    p = state_dict("0", 6, 0, sz2, st2, 2);
    for (int d = 0; d < 2; d++) {
        z = archive(&p, d);
        REQUIRE_OK(torch_zip_parse(z.p, z.n, "view.pt", &f));
        t = st_get(&f, "w");
        REQUIRE(t && t->numel == 6);
        CHECK(!memcmp(t->data, want, sizeof want));
        st_close(&f);
        free(z.p);
    }
    /* What model.state_dict() pickles: OrderedDict() with a _metadata BUILD,
     * and a Parameter (_rebuild_parameter around the tensor). */
    free(p.p);
    p = (buf){0};
    op(&p, 0x80), op(&p, 2), glob(&p, "collections", "OrderedDict"), op(&p, ')'), op(&p, 'R');
    ustr(&p, "w"), glob(&p, "torch._utils", "_rebuild_parameter");
    tensor(&p, "0", 6, 0, sz, st, 2);
    op(&p, 0x88), glob(&p, "collections", "OrderedDict"), op(&p, ')'), op(&p, 'R'), op(&p, 0x87), op(&p, 'R');
    op(&p, 's'), op(&p, '}'), ustr(&p, "_metadata"), op(&p, '}'), op(&p, 's'), op(&p, 'b'), op(&p, '.');
    z = archive(&p, 0);
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "param.pt", &f));
    CHECK(f.n_tensors == 1 && st_get(&f, "w") && !memcmp(st_get(&f, "w")->data, six, sizeof six));
    st_close(&f);
    free(z.p);
    /* A tensor subclass: _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (args), {}). */
    free(p.p);
    p = (buf){0};
    op(&p, 0x80), op(&p, 2), op(&p, '}'), ustr(&p, "w"), glob(&p, "torch._tensor", "_rebuild_from_type_v2");
    op(&p, '('), glob(&p, "torch._utils", "_rebuild_tensor_v2"), glob(&p, "torch.nn.parameter", "Parameter");
    op(&p, '('), op(&p, '('), ustr(&p, "storage"), glob(&p, "torch", "FloatStorage"), ustr(&p, "0"), ustr(&p, "cpu");
    bint(&p, 6), op(&p, 't'), op(&p, 'Q'), bint(&p, 0), tuple_ints(&p, sz, 2), tuple_ints(&p, st, 2), op(&p, 0x89);
    op(&p, '}'), op(&p, 't'), op(&p, '}'), op(&p, 't'), op(&p, 'R'), op(&p, 's'), op(&p, '.');
    z = archive(&p, 0);
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "subclass.pt", &f));
    CHECK(f.n_tensors == 1 && st_get(&f, "w")->numel == 6 && !memcmp(st_get(&f, "w")->data, six, sizeof six));
    st_close(&f);
    free(z.p);
    /* The same through zip64 records. */
    zentry e64[] = {{"a/data.pkl", p.p, p.n, 0}, {"a/data/0", six, sizeof six, 0}};
    z = make_zip_(e64, 2, 1);
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "zip64.pt", &f));
    CHECK(f.n_tensors == 1 && st_get(&f, "w") && !memcmp(st_get(&f, "w")->data, six, sizeof six));
    st_close(&f);
    z.p[z.n - 20 - 22] = 'X'; /* the zip64 locator broken: refused */
    CHECK(torch_zip_parse(z.p, z.n, "zip64.pt", &f) &&
          strstr(clipc_last_error(), "zip64.pt: zip64 archive without a zip64 locator"));
    free(z.p);
    /* An offset slice: elements 2..5 as [4]. */
    free(p.p);
    int64_t sz3[1] = {4}, st3[1] = {1};
    p = state_dict("0", 6, 2, sz3, st3, 1);
    z = archive(&p, 0);
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "slice.pt", &f));
    CHECK(st_get(&f, "w")->numel == 4 && !memcmp(st_get(&f, "w")->data, six + 2, 16));
    st_close(&f);
    free(z.p);
    free(p.p);
}

TEST(torch_pickle_refuses_os_system_via_global) {
    buf b = {0};
    op(&b, 0x80), op(&b, 2);
    glob(&b, "os", "system");
    ustr(&b, "touch pwned");
    op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    refused(&b, "x.pkl: pickle opcode 0x63 at byte 2: global 'os.system' is not allowed");
    /* posix.system, subprocess, builtins: the same. */
    op(&b, 0x80), op(&b, 2), glob(&b, "posix", "system"), op(&b, '.');
    refused(&b, "global 'posix.system' is not allowed");
    op(&b, 0x80), op(&b, 2), glob(&b, "torch", "load"), op(&b, '.');
    refused(&b, "global 'torch.load' is not allowed");
    op(&b, 0x80), op(&b, 2), glob(&b, "torch.nn.modules.container", "Sequential"), op(&b, '.');
    refused(&b, "global 'torch.nn.modules.container.Sequential' is not allowed: a whole pickled nn.Module; save "
            "its state_dict() instead");
}

TEST(torch_pickle_refuses_builtins_eval_via_stack_global) {
    buf b = {0};
    op(&b, 0x80), op(&b, 4);
    op(&b, 0x8c), op(&b, 8), put(&b, "builtins", 8), op(&b, 0x94);
    op(&b, 0x8c), op(&b, 4), put(&b, "eval", 4), op(&b, 0x94);
    op(&b, 0x93);
    ustr(&b, "__import__('os').system('x')");
    op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    refused(&b, "opcode 0x93 at byte 20: global 'builtins.eval' is not allowed");
}

TEST(torch_pickle_refuses_stack_global_memo_tricks) {
    /* Strings parked in the memo and fetched back: still looked up by name. */
    buf b = {0};
    op(&b, 0x80), op(&b, 4);
    ustr(&b, "os"), op(&b, 'q'), op(&b, 0), op(&b, '0');
    ustr(&b, "system"), op(&b, 'q'), op(&b, 1), op(&b, '0');
    op(&b, 'h'), op(&b, 0), op(&b, 'h'), op(&b, 1), op(&b, 0x93), op(&b, '.');
    refused(&b, "global 'os.system' is not allowed");
    /* An allowed global fetched from the memo as the module "name". */
    op(&b, 0x80), op(&b, 4), glob(&b, "collections", "OrderedDict"), op(&b, 0x94);
    ustr(&b, "system"), op(&b, 0x93), op(&b, '.');
    refused(&b, "STACK_GLOBAL needs two strings");
    /* A NUL inside the module: "torch\0os" must not match "torch". */
    op(&b, 0x80), op(&b, 4), op(&b, 'X'), le(&b, 8, 4), put(&b, "torch\0os", 8);
    ustr(&b, "FloatStorage"), op(&b, 0x93), op(&b, '.');
    refused(&b, "global 'torch?os.FloatStorage' is not allowed");
    /* BINGET of a slot never set, MEMOIZE with an empty stack. */
    op(&b, 0x80), op(&b, 2), op(&b, 'h'), op(&b, 5), op(&b, '.');
    refused(&b, "memo slot 5 was never set");
    op(&b, 0x80), op(&b, 4), op(&b, 0x94), op(&b, '.');
    refused(&b, "memo put with nothing on the stack");
    op(&b, 0x80), op(&b, 2), op(&b, 'N'), op(&b, 'r'), le(&b, 0xffffffffu, 4), op(&b, '.');
    refused(&b, "memo index too large");
}

TEST(torch_pickle_refuses_allowed_callables_with_unexpected_arguments) {
    buf b = {0};
    /* OrderedDict([('a', 1)]): takes no arguments here. */
    op(&b, 0x80), op(&b, 2), glob(&b, "collections", "OrderedDict");
    op(&b, ']'), ustr(&b, "a"), bint(&b, 1), op(&b, 0x86), op(&b, 'a'), op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    refused(&b, "'collections.OrderedDict' takes no arguments here");
    /* _rebuild_tensor_v2 with two arguments, then with a string offset. */
    op(&b, 0x80), op(&b, 2), glob(&b, "torch._utils", "_rebuild_tensor_v2");
    bint(&b, 1), bint(&b, 2), op(&b, 0x86), op(&b, 'R'), op(&b, '.');
    refused(&b, "_rebuild_tensor_v2 needs 6 or 7 arguments");
    int64_t sz[1] = {6}, st[1] = {1};
    b = state_dict("0", 6, 0, sz, st, 1);
    const uint8_t off[] = {0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0}; /* the offset LONG1 0 -> a 1-char string */
    uint8_t *q = memmem(b.p, b.n, off, sizeof off);
    REQUIRE(q);
    const uint8_t str[10] = {0x8c, 8, 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'}; /* the same length */
    memcpy(q, str, sizeof str);
    refused(&b, "_rebuild_tensor_v2 arguments are not (storage, int, tuple of ints");
    /* A storage type is not callable; a TorchScript class takes no arguments. */
    op(&b, 0x80), op(&b, 2), glob(&b, "torch", "FloatStorage"), bint(&b, 99), op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    refused(&b, "'torch.FloatStorage' cannot be called");
    op(&b, 0x80), op(&b, 2), glob(&b, "__torch__", "M"), ustr(&b, "rm -rf"), op(&b, 0x85), op(&b, 0x81), op(&b, '.');
    refused(&b, "'__torch__.M' takes no arguments here");
    /* NEWOBJ on a rebuild function; REDUCE with a list for arguments. */
    op(&b, 0x80), op(&b, 2), glob(&b, "torch._utils", "_rebuild_parameter"), op(&b, ')'), op(&b, 0x81), op(&b, '.');
    refused(&b, "NEWOBJ on 'torch._utils._rebuild_parameter' is not allowed");
    op(&b, 0x80), op(&b, 2), glob(&b, "collections", "OrderedDict"), op(&b, ']'), op(&b, 'R'), op(&b, '.');
    refused(&b, "arguments are a list, not a tuple");
    /* _rebuild_from_type_v2 with a type that is not a tensor type. */
    op(&b, 0x80), op(&b, 2), glob(&b, "torch._tensor", "_rebuild_from_type_v2"), op(&b, '(');
    glob(&b, "torch._utils", "_rebuild_tensor_v2"), glob(&b, "collections", "OrderedDict"), op(&b, ')'), op(&b, '}');
    op(&b, 't'), op(&b, 'R'), op(&b, '.');
    refused(&b, "_rebuild_from_type_v2 arguments are not (_rebuild_tensor_v2, Tensor type, tuple, empty state)");
    /* A persistent id that is not a storage record. */
    op(&b, 0x80), op(&b, 2), ustr(&b, "storage"), glob(&b, "os", "system");
    refused(&b, "global 'os.system' is not allowed");
    op(&b, 0x80), op(&b, 2), ustr(&b, "storage"), op(&b, 0x85), op(&b, 'Q'), op(&b, '.');
    refused(&b, "persistent id is not ('storage', storage type, key, location, numel)");
}

TEST(torch_pickle_refuses_build_on_unexpected_objects) {
    buf b = {0};
    /* BUILD on a function: Python would set attributes of the function. */
    op(&b, 0x80), op(&b, 2), glob(&b, "torch._utils", "_rebuild_tensor_v2"), op(&b, '}'), op(&b, 'b'), op(&b, '.');
    refused(&b, "BUILD on a global is not allowed (only on OrderedDict and TorchScript objects)");
    op(&b, 0x80), op(&b, 2), op(&b, ']'), op(&b, '}'), op(&b, 'b'), op(&b, '.');
    refused(&b, "BUILD on a list is not allowed");
    op(&b, 0x80), op(&b, 2), ustr(&b, "s"), op(&b, '}'), op(&b, 'b'), op(&b, '.');
    refused(&b, "BUILD on a str is not allowed");
    /* BUILD with a state that is not a dict, and twice on one object. */
    op(&b, 0x80), op(&b, 2), glob(&b, "__torch__.m", "C"), op(&b, ')'), op(&b, 0x81), bint(&b, 1), op(&b, 'b');
    op(&b, '.');
    refused(&b, "BUILD state is a int, not a dict");
    op(&b, 0x80), op(&b, 2), glob(&b, "__torch__.m", "C"), op(&b, ')'), op(&b, 0x81), op(&b, '}'), op(&b, 'b');
    op(&b, '}'), op(&b, 'b'), op(&b, '.');
    refused(&b, "BUILD twice on one object");
}

TEST(torch_pickle_refuses_storage_keys_outside_data) {
    int64_t sz[1] = {6}, st[1] = {1};
    const char *keys[] = {"../../etc/passwd", "/etc/passwd", "0/../../x", "", "a.b"};
    for (int i = 0; i < 5; i++) {
        buf b = state_dict(keys[i], 6, 0, sz, st, 1);
        char want[128];
        snprintf(want, sizeof want, "storage key '%s' is not a plain name", keys[i]);
        refused(&b, want);
    }
    /* A plain key with no entry. */
    buf b = state_dict("7", 6, 0, sz, st, 1);
    refused(&b, "evil.pt: tensor 'w': storage 'a/data/7' is missing from the archive");
}

TEST(torch_pickle_refuses_bad_extents) {
    const struct {
        int64_t numel, off, size[2], stride[2];
        int nd;
        const char *msg;
    } c[] = {
        {6, 0, {7}, {1}, 1, "offset 0 and strides reach past its storage data/0 of 6 elements"},
        {6, 3, {2, 2}, {2, 1}, 2, "offset 3 and strides reach past its storage"},
        {6, 1LL << 62, {1}, {1}, 1, "reach past its storage"},
        {6, -1, {1}, {1}, 1, "negative storage offset"},
        {6, 0, {2, 3}, {-3, 1}, 2, "negative size or stride (dimension 0)"},
        {6, 0, {-1}, {1}, 1, "negative size or stride"},
        {6, 0, {1LL << 40, 1LL << 40}, {1, 1}, 2, "element count overflows"},
        {6, 0, {4, 3}, {INT64_MAX, 1}, 2, "stride overflows"},
        {6, 0, {6, 6}, {0, 1}, 2, "36 elements in a storage of 6 (overlapping strides are not supported)"},
        {5, 0, {5}, {1}, 1, "storage data/0 holds 24 bytes, its record says 5 elements of 4 bytes"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        buf b = state_dict("0", c[i].numel, c[i].off, c[i].size, c[i].stride, c[i].nd);
        refused(&b, c[i].msg);
    }
}

TEST(torch_pickle_refuses_deep_nesting_and_cycles) {
    buf b = {0};
    op(&b, 0x80), op(&b, 2);
    for (int i = 0; i < 5000; i++) op(&b, '(');
    op(&b, '.');
    refused(&b, "more than 4096 nested MARKs");
    /* A dict that contains itself: the tensor walk is bounded. */
    op(&b, 0x80), op(&b, 2), op(&b, '}'), op(&b, 'q'), op(&b, 0), ustr(&b, "a"), op(&b, 'h'), op(&b, 0);
    op(&b, 's'), op(&b, '.');
    refused(&b, "evil.pt: objects nested deeper than 32 levels (or a cycle)");
    /* 40 nested TorchScript objects. */
    op(&b, 0x80), op(&b, 2);
    for (int i = 0; i < 40; i++) glob(&b, "__torch__", "M"), op(&b, ')'), op(&b, 0x81), op(&b, '}'), ustr(&b, "m");
    op(&b, 'N');
    for (int i = 0; i < 40; i++) op(&b, 's'), op(&b, 'b');
    op(&b, '.');
    refused(&b, "nested deeper than 32 levels");
    /* Pops never cross a MARK; unknown opcodes (INST, OBJ, EXT1) are refused. */
    op(&b, 0x80), op(&b, 2), op(&b, 'N'), op(&b, '('), op(&b, '0'), op(&b, '.');
    refused(&b, "stack underflow");
    op(&b, 0x80), op(&b, 2), op(&b, 'i'), put(&b, "os\nsystem\n", 10), op(&b, '.');
    refused(&b, "opcode 0x69 at byte 2: opcode not supported");
    op(&b, 0x80), op(&b, 2), op(&b, 0x82), op(&b, 1), op(&b, '.');
    refused(&b, "opcode not supported");
    op(&b, 0x80), op(&b, 2), op(&b, 0x8a), op(&b, 9), le(&b, 1, 8), op(&b, 0), op(&b, '.');
    refused(&b, "integer wider than 64 bits");
}

TEST(torch_pickle_refuses_truncation_everywhere) {
    int64_t sz[1] = {6}, st[1] = {1};
    buf b = state_dict("0", 6, 0, sz, st, 1);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        pk_arena a;
        pk_value *root;
        if (pk_load(b.p, n, "cut.pkl", &a, &root) == CLIPC_OK) bad++, pk_free(&a);
    }
    CHECKF(bad == 0, "%d truncated pickles accepted", bad);
    pk_arena a;
    pk_value *root;
    CHECK(pk_load(b.p, b.n - 1, "cut.pkl", &a, &root) != CLIPC_OK &&
          strstr(clipc_last_error(), "cut.pkl: pickle ends at byte"));
    CHECK(pk_load(b.p, 40, "cut.pkl", &a, &root) != CLIPC_OK && strstr(clipc_last_error(), "truncated"));
    REQUIRE_OK(pk_load(b.p, b.n, "whole.pkl", &a, &root));
    CHECK(root->kind == PK_DICT && root->n == 2 && root->items[1]->kind == PK_TENSOR);
    pk_free(&a);
    free(b.p);
}

TEST(torch_zip_refuses_truncated_and_corrupt_archives) {
    int64_t sz[1] = {6}, st[1] = {1};
    buf p = state_dict("0", 6, 0, sz, st, 1), z = archive(&p, 0);
    st_file f;
    int bad = 0;
    for (size_t n = 0; n < z.n; n++)
        if (torch_zip_parse(z.p, n, "cut.pt", &f) == CLIPC_OK) bad++, st_close(&f);
    CHECKF(bad == 0, "%d truncated archives accepted", bad);
    CHECK(torch_zip_parse(z.p, z.n - 1, "cut.pt", &f) && strstr(clipc_last_error(), "cut.pt: no zip end-of-central"));
    /* The data of a storage changed: its CRC-32 no longer matches. */
    uint8_t *d = memmem(z.p, z.n, six, sizeof six);
    REQUIRE(d);
    d[5] ^= 1;
    CHECK(torch_zip_parse(z.p, z.n, "bit.pt", &f) &&
          strstr(clipc_last_error(), "bit.pt: zip entry 'a/data/0': CRC-32 mismatch (corrupt archive)"));
    d[5] ^= 1;
    /* A broken central directory entry, and a local header moved away. */
    uint8_t sig[4] = {0x50, 0x4b, 0x01, 0x02};
    uint8_t *c = memmem(z.p, z.n, sig, 4);
    REQUIRE(c);
    c[3] = 9;
    CHECK(torch_zip_parse(z.p, z.n, "cd.pt", &f) && strstr(clipc_last_error(), "corrupt zip central directory"));
    c[3] = 2;
    z.p[0] = 'X';
    CHECK(torch_zip_parse(z.p, z.n, "lh.pt", &f) &&
          strstr(clipc_last_error(), "zip entry 'a/data.pkl': local header missing or outside the file"));
    z.p[0] = 'P';
    REQUIRE_OK(torch_zip_parse(z.p, z.n, "ok.pt", &f));
    st_close(&f);
    free(z.p);
    /* No data.pkl, two of them. */
    zentry none[] = {{"a/other.pkl", p.p, p.n, 0}}, two[] = {{"a/data.pkl", p.p, p.n, 0}, {"b/data.pkl", p.p, p.n, 0}};
    z = make_zip(none, 1);
    CHECK(torch_zip_parse(z.p, z.n, "n.pt", &f) && strstr(clipc_last_error(), "without <name>/data.pkl"));
    free(z.p);
    z = make_zip(two, 2);
    CHECK(torch_zip_parse(z.p, z.n, "t.pt", &f) && strstr(clipc_last_error(), "two pickles"));
    free(z.p);
    free(p.p);
}

TEST(torch_files_recognised_by_content) {
    const char *dir = test_tmpdir();
    char p[512];
    st_file f;
    /* A legacy (non-zip) torch.save pickle. */
    snprintf(p, sizeof p, "%s/legacy.pt", dir);
    REQUIRE_OK(clipc_write_file_atomic(p, "\x80\x02}q\x00.", 6)); /* {} as pickle protocol 2 */
    CHECK(tf_open(p, &f) == CLIPC_ERR_UNSUPPORTED && strstr(clipc_last_error(), "legacy.pt: a legacy (non-zip) "
          "PyTorch pickle; re-save it with torch.save (zip format"));
    clipc_model *m;
    CHECK(clipc_model_load(p, NULL, &m) == CLIPC_ERR_UNSUPPORTED && strstr(clipc_last_error(), "re-save it"));
    snprintf(p, sizeof p, "%s/model.bin", dir);
    REQUIRE_OK(clipc_write_file_atomic(p, "GGUF\3\0\0\0\0\0\0\0", 12));
    CHECK(tf_open(p, &f) == CLIPC_ERR_UNSUPPORTED && strstr(clipc_last_error(), "model.bin: a GGUF file"));
    /* A .pt full of os.system goes through the loader to the same refusal. */
    buf b = {0};
    op(&b, 0x80), op(&b, 2), glob(&b, "os", "system"), ustr(&b, "id"), op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    buf z = archive(&b, 0);
    snprintf(p, sizeof p, "%s/evil.pt", dir);
    REQUIRE_OK(clipc_write_file_atomic(p, z.p, z.n));
    CHECK(clipc_model_load(p, NULL, &m) == CLIPC_ERR_FORMAT &&
          strstr(clipc_last_error(), "evil.pt: a/data.pkl: pickle opcode 0x63 at byte 2: global 'os.system' is not "
                 "allowed"));
    free(z.p);
    free(b.p);
}
