/*
 * onnx_writer.c — an ONNX graph built in memory as protobuf-c messages
 * (ONNX's own message definitions, the subset in onnx.proto, compiled by
 * protoc-c) and streamed into a file.
 *
 * Why libprotobuf-c: an ONNX file is a protobuf message, and protobuf-c is
 * Debian's C implementation of the wire format, so clipc writes only the
 * graph, not an encoder.  Every allocation of the graph (messages, strings,
 * pointer arrays, the weights' raw bytes) is recorded in one list and freed
 * together; the growing arrays of the graph message are realloc'ed apart.
 * Packing streams through a ProtobufCBuffer straight into the atomic file,
 * so the weights are not copied a second time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_writer.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"

#include <onnx.pb-c.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is written from memory as is: ONNX wants little-endian"
#endif

struct onnx_graph {
    char *name;
    clipc_status status;    /* first error; once set, builder calls do nothing */
    void **mem;             /* every allocation, freed by onnx_graph_free */
    size_t n_mem, cap_mem;
    Onnx__NodeProto **node;
    size_t n_node, cap_node;
    Onnx__TensorProto **init;
    size_t n_init, cap_init;
    Onnx__ValueInfoProto *io[2][4]; /* inputs, outputs */
    size_t n_io[2];
    unsigned next_id;       /* for fresh value names */
};

static int fail_nomem(onnx_graph *g) {
    if (!g->status) g->status = clipc_error(CLIPC_ERR_NOMEM, "out of memory building the ONNX graph %s", g->name);
    return -1;
}

/* Grows a typed array by one slot (doubling); runs `fail` when out of memory. */
#define GROW_OR(g, arr, n, cap, fail)                                       \
    do {                                                                    \
        if ((n) == (cap)) {                                                 \
            size_t nc_ = (cap) ? 2 * (cap) : 64;                            \
            void *p_ = realloc((arr), nc_ * sizeof *(arr));                 \
            if (!p_) {                                                      \
                fail_nomem(g);                                              \
                fail;                                                       \
            }                                                               \
            (arr) = p_;                                                     \
            (cap) = nc_;                                                    \
        }                                                                   \
    } while (0)

static void *g_alloc(onnx_graph *g, size_t n) {
    if (g->status) return NULL;
    GROW_OR(g, g->mem, g->n_mem, g->cap_mem, return NULL);
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fail_nomem(g);
        return NULL;
    }
    g->mem[g->n_mem++] = p;
    return p;
}

static char *g_strdup(onnx_graph *g, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = g_alloc(g, n);
    if (p) memcpy(p, s, n);
    return p;
}

onnx_graph *onnx_graph_create(const char *name) {
    onnx_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        clipc_error(CLIPC_ERR_NOMEM, "out of memory creating the ONNX graph %s", name);
        return NULL;
    }
    return g;
}

void onnx_graph_free(onnx_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_mem; i++) free(g->mem[i]);
    free(g->mem);
    free(g->node);
    free(g->init);
    free(g->name);
    free(g);
}

/* A fresh value name: "<op>_<n>", readable in Netron and ORT's errors. */
static char *fresh_name(onnx_graph *g, const char *stem) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%u", stem, g->next_id++);
    return g_strdup(g, buf);
}

static Onnx__TensorProto *new_tensor(onnx_graph *g, const char *name, int dtype, const int64_t *dims, int ndim,
                                     size_t elem) {
    Onnx__TensorProto *t = g_alloc(g, sizeof *t);
    int64_t *d = g_alloc(g, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    char *nm = name ? g_strdup(g, name) : fresh_name(g, "const");
    if (!t || !d || !nm) return NULL;
    onnx__tensor_proto__init(t);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        d[i] = dims[i];
        numel *= (size_t)dims[i];
    }
    t->name = nm;
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.len = numel * elem;
    t->raw_data.data = g_alloc(g, numel * elem);
    if (!t->raw_data.data) return NULL;
    GROW_OR(g, g->init, g->n_init, g->cap_init, return NULL);
    g->init[g->n_init++] = t;
    return t;
}

const char *onnx_init_f32(onnx_graph *g, const char *name, const int64_t *dims, int ndim, const float *data) {
    Onnx__TensorProto *t = new_tensor(g, name, ONNX_FLOAT, dims, ndim, sizeof(float));
    if (!t) return "";
    memcpy(t->raw_data.data, data, t->raw_data.len);
    return t->name;
}

const char *onnx_init_f32_t(onnx_graph *g, const char *name, int rows, int cols, const float *data) {
    int64_t dims[2] = {cols, rows};
    Onnx__TensorProto *t = new_tensor(g, name, ONNX_FLOAT, dims, 2, sizeof(float));
    if (!t) return "";
    float *out = (float *)t->raw_data.data;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)c * rows + r] = data[(size_t)r * cols + c];
    return t->name;
}

const char *onnx_init_i64(onnx_graph *g, const char *name, const int64_t *dims, int ndim, const int64_t *data) {
    Onnx__TensorProto *t = new_tensor(g, name, ONNX_INT64, dims, ndim, sizeof(int64_t));
    if (!t) return "";
    memcpy(t->raw_data.data, data, t->raw_data.len);
    return t->name;
}

const char *onnx_const_f(onnx_graph *g, float v) { return onnx_init_f32(g, NULL, NULL, 0, &v); }

const char *onnx_const_ints(onnx_graph *g, const int64_t *v, int n) {
    int64_t d = n;
    return onnx_init_i64(g, NULL, &d, 1, v);
}

static Onnx__AttributeProto *new_attr(onnx_graph *g, const onnx_attr *a) {
    Onnx__AttributeProto *p = g_alloc(g, sizeof *p);
    char *nm = g_strdup(g, a->name);
    if (!p || !nm) return NULL;
    onnx__attribute_proto__init(p);
    p->name = nm;
    p->has_type = 1;
    if (a->ints) {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        p->ints = g_alloc(g, (size_t)a->n_ints * sizeof(int64_t));
        if (!p->ints) return NULL;
        memcpy(p->ints, a->ints, (size_t)a->n_ints * sizeof(int64_t));
        p->n_ints = (size_t)a->n_ints;
    } else if (a->is_float) {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
    } else {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->i;
    }
    return p;
}

static const char *add_node(onnx_graph *g, const char *out, const char *op, const onnx_attr *attrs, int n_attrs,
                            va_list ap) {
    const char *in[16];
    int n_in = 0;
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        if (n_in == 16) {
            if (!g->status) g->status = clipc_error(CLIPC_ERR_INVALID, "ONNX node %s: over 16 inputs", op);
            return "";
        }
        in[n_in++] = s;
    }
    Onnx__NodeProto *nd = g_alloc(g, sizeof *nd);
    char **ins = g_alloc(g, (size_t)(n_in ? n_in : 1) * sizeof(char *));
    char **outs = g_alloc(g, sizeof(char *));
    Onnx__AttributeProto **at = g_alloc(g, (size_t)(n_attrs ? n_attrs : 1) * sizeof *at);
    if (!nd || !ins || !outs || !at) return "";
    onnx__node_proto__init(nd);
    for (int i = 0; i < n_in; i++)
        if (!(ins[i] = g_strdup(g, in[i]))) return "";
    for (int i = 0; i < n_attrs; i++)
        if (!(at[i] = new_attr(g, &attrs[i]))) return "";
    outs[0] = out ? g_strdup(g, out) : fresh_name(g, op);
    nd->op_type = g_strdup(g, op);
    nd->name = outs[0] ? g_strdup(g, outs[0]) : NULL; /* one output per node: name it after it */
    if (!outs[0] || !nd->op_type || !nd->name) return "";
    nd->n_input = (size_t)n_in;
    nd->input = ins;
    nd->n_output = 1;
    nd->output = outs;
    nd->n_attribute = (size_t)n_attrs;
    nd->attribute = at;
    GROW_OR(g, g->node, g->n_node, g->cap_node, return "");
    g->node[g->n_node++] = nd;
    return outs[0];
}

const char *onnx_op(onnx_graph *g, const char *op, const onnx_attr *attrs, int n_attrs, ...) {
    va_list ap;
    va_start(ap, n_attrs);
    const char *r = g->status ? "" : add_node(g, NULL, op, attrs, n_attrs, ap);
    va_end(ap);
    return r;
}

const char *onnx_op_to(onnx_graph *g, const char *out, const char *op, const onnx_attr *attrs, int n_attrs, ...) {
    va_list ap;
    va_start(ap, n_attrs);
    const char *r = g->status ? "" : add_node(g, out, op, attrs, n_attrs, ap);
    va_end(ap);
    return r;
}

static void add_io(onnx_graph *g, int which, const char *name, int elem_type, const int64_t *dims, int ndim) {
    if (g->status) return;
    if (g->n_io[which] == 4 || ndim > 8) {
        g->status = clipc_error(CLIPC_ERR_INVALID, "ONNX graph %s: too many inputs/outputs or dimensions", g->name);
        return;
    }
    Onnx__ValueInfoProto *vi = g_alloc(g, sizeof *vi);
    Onnx__TypeProto *tp = g_alloc(g, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = g_alloc(g, sizeof *tt);
    Onnx__TensorShapeProto *sh = g_alloc(g, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = g_alloc(g, (size_t)(ndim ? ndim : 1) * sizeof *dd);
    if (!vi || !tp || !tt || !sh || !dd) return;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndim; i++) {
        if (!(dd[i] = g_alloc(g, sizeof **dd))) return;
        onnx__tensor_shape_proto__dimension__init(dd[i]);
        if (dims[i] < 0) {
            dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(dd[i]->dim_param = g_strdup(g, "N"))) return;
        } else {
            dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dd[i]->dim_value = dims[i];
        }
    }
    sh->n_dim = (size_t)ndim;
    sh->dim = dd;
    tt->has_elem_type = 1;
    tt->elem_type = elem_type;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (!(vi->name = g_strdup(g, name))) return;
    vi->type = tp;
    g->io[which][g->n_io[which]++] = vi;
}

void onnx_graph_input(onnx_graph *g, const char *name, int elem_type, const int64_t *dims, int ndim) {
    add_io(g, 0, name, elem_type, dims, ndim);
}

void onnx_graph_output(onnx_graph *g, const char *name, int elem_type, const int64_t *dims, int ndim) {
    add_io(g, 1, name, elem_type, dims, ndim);
}

/* protobuf-c's output stream, appending to the atomic file; the first
 * write error is kept and later appends are dropped. */
typedef struct {
    ProtobufCBuffer base;
    clipc_atomic_file *f;
    clipc_status status;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
    file_sink *s = (file_sink *)b;
    if (!s->status && len) s->status = clipc_atomic_write(s->f, data, len);
}

clipc_status onnx_graph_write(onnx_graph *g, const char *path, int opset, const char *const *meta, size_t max_bytes) {
    if (g->status) return g->status;
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = g->name;
    graph.n_node = g->n_node;
    graph.node = g->node;
    graph.n_initializer = g->n_init;
    graph.initializer = g->init;
    graph.n_input = g->n_io[0];
    graph.input = g->io[0];
    graph.n_output = g->n_io[1];
    graph.output = g->io[1];
    Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsp = &ops;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = opset;
    Onnx__StringStringEntryProto kv[8], *kvp[8];
    size_t n_kv = 0;
    for (; meta && meta[2 * n_kv] && n_kv < 8; n_kv++) {
        onnx__string_string_entry_proto__init(&kv[n_kv]);
        kv[n_kv].key = (char *)meta[2 * n_kv];
        kv[n_kv].value = (char *)meta[2 * n_kv + 1];
        kvp[n_kv] = &kv[n_kv];
    }
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = 8; /* IR 8 goes with opsets up to 18 */
    model.n_opset_import = 1;
    model.opset_import = &opsp;
    model.producer_name = "clipc";
    model.producer_version = "0.1";
    model.graph = &graph;
    model.n_metadata_props = n_kv;
    model.metadata_props = kvp;
    size_t size = onnx__model_proto__get_packed_size(&model);
    if (size >= max_bytes)
        return clipc_error(CLIPC_ERR_UNSUPPORTED,
                           "%s: the ONNX model would be %.2f GB, over protobuf's 2 GB limit for one file (ONNX "
                           "external data is not supported); nothing written", path, (double)size / 1e9);
    file_sink sink = {.base = {.append = sink_append}};
    clipc_status s = clipc_atomic_open(path, &sink.f);
    if (s) return s;
    size_t packed = onnx__model_proto__pack_to_buffer(&model, &sink.base);
    if (!sink.status && packed != size)
        sink.status = clipc_error(CLIPC_ERR_IO, "%s: packed %zu bytes of %zu", path, packed, size);
    if (sink.status) {
        clipc_atomic_abort(sink.f);
        return sink.status;
    }
    return clipc_atomic_commit(sink.f);
}
