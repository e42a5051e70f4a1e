/*
 * onnx_writer.h — building an ONNX graph (nodes, float/int64 initializers,
 * typed inputs and outputs) and writing it as an ONNX ModelProto file.
 *
 * The builder calls never fail one by one: an error (out of memory) is kept
 * in the graph, later calls do nothing, and onnx_graph_write reports it.
 * That keeps a graph's construction (model/export_onnx.c) a plain list of
 * operations.  Names returned by the builder live as long as the graph.
 */
#ifndef CLIPC_ONNX_WRITER_H
#define CLIPC_ONNX_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "clipc.h"

/* ONNX TensorProto.DataType values used here. */
enum { ONNX_FLOAT = 1, ONNX_INT32 = 6, ONNX_INT64 = 7 };

/* protobuf cannot parse a message of 2 GiB or more: ORT refuses such files
 * (the weights would have to go to ONNX external data files instead). */
#define ONNX_MAX_BYTES ((size_t)INT32_MAX)

typedef struct onnx_graph onnx_graph;

/* One node attribute: an int (ints NULL, f unused), a float (is_float), or
 * a list of ints (ints, n_ints). */
typedef struct {
    const char *name;
    int is_float;
    int64_t i;
    float f;
    const int64_t *ints;
    int n_ints;
} onnx_attr;
#define ONNX_I(nm, v) ((onnx_attr){.name = (nm), .i = (v)})
#define ONNX_F(nm, v) ((onnx_attr){.name = (nm), .is_float = 1, .f = (v)})
#define ONNX_INTS(nm, arr, n) ((onnx_attr){.name = (nm), .ints = (arr), .n_ints = (n)})

/* NULL when out of memory (the error is set). */
onnx_graph *onnx_graph_create(const char *name);
void onnx_graph_free(onnx_graph *g);

/* Initializers (copied into the graph; raw little-endian data).  dims of
 * ndim values.  Return the initializer's name. */
const char *onnx_init_f32(onnx_graph *g, const char *name, const int64_t *dims, int ndim, const float *data);
/* A rows x cols matrix stored transposed (cols x rows): an [out, in]
 * Linear weight becomes the [in, out] right operand of MatMul. */
const char *onnx_init_f32_t(onnx_graph *g, const char *name, int rows, int cols, const float *data);
const char *onnx_init_i64(onnx_graph *g, const char *name, const int64_t *dims, int ndim, const int64_t *data);
/* A scalar (ndim 0) float or 1-D int64 constant under a fresh name. */
const char *onnx_const_f(onnx_graph *g, float v);
const char *onnx_const_ints(onnx_graph *g, const int64_t *v, int n);

/* A node `op` with the NULL-terminated inputs after n_attrs; its one
 * output gets a fresh name, returned.  onnx_op_to names the output. */
const char *onnx_op(onnx_graph *g, const char *op, const onnx_attr *attrs, int n_attrs, ...);
const char *onnx_op_to(onnx_graph *g, const char *out, const char *op, const onnx_attr *attrs, int n_attrs, ...);

/* Graph inputs and outputs: elem_type ONNX_*, dims with -1 for the batch
 * dimension (written as the symbolic dimension "N"). */
void onnx_graph_input(onnx_graph *g, const char *name, int elem_type, const int64_t *dims, int ndim);
void onnx_graph_output(onnx_graph *g, const char *name, int elem_type, const int64_t *dims, int ndim);

/* Writes the model (IR version 8, default-domain opset `opset`, producer
 * clipc, the given NULL-terminated key/value metadata pairs; may be NULL)
 * to path atomically.  A model whose encoding reaches max_bytes (use
 * ONNX_MAX_BYTES) is refused with CLIPC_ERR_UNSUPPORTED before anything is
 * written.  The graph's first error, if any, is returned instead. */
clipc_status onnx_graph_write(onnx_graph *g, const char *path, int opset, const char *const *meta, size_t max_bytes);

#endif
