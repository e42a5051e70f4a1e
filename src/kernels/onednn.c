/*
 * onednn.c — the oneDNN inference backends (backend.h): GEMMs and batched
 * attention on oneDNN's matmul primitive, in bfloat16 (opt-in, a bf16 twin
 * of the weights) and float32 (a process-wide context on the weights as
 * they are).
 *
 * Why oneDNN: OpenBLAS 0.3.21 (Debian 12) has no sbgemm, and a bf16 GEMM
 * near the machine's peak (AVX512_BF16's vdpbf16ps, packed panels, cache
 * blocking) is exactly what a library should do, not us.  On the encode
 * shapes (M = 64 x 197 rows, K = 768, N = 768..3072) it ran 1.9-2.1x
 * OpenBLAS sgemm on 2 threads, activation conversion included.  In f32 its
 * brgemm beats OpenBLAS on narrow shapes (batch 1, small models).
 *
 * A call may fuse the bias, the activation and a residual add (oneDNN
 * post-ops) and take or give bf16 activations (backend_gemm_ops), so that
 * block.c's inference forward has no elementwise pass between GEMMs; the
 * image tower's attention is two batched products (attention_kernel).  Each
 * context carries the infer_backend (backend.h) that the model hands the
 * towers; nothing is bound per thread.
 * Products accumulate in f32; layer norms and softmax are f32.
 *
 * A third kind of context, one model's packed f32 (onednn_f32_packed_create,
 * made by model_backend for a model whose weights no longer change), runs
 * products of at most PACK_MAX_ROWS rows on weights reordered once into
 * the blocked layout the primitive asks for (format "any"): at batch 1-8
 * the per-call copy of plain weights into that layout was a large share
 * of each small GEMM.  One packed copy per weight, kept until the context
 * is freed (model_make_writable, clipc_model_free).
 *
 * Primitives are cached per key (shape, layout, fusions, precision)
 * without eviction, so a primitive is never destroyed while another thread
 * runs it; past CACHE_MAX keys a call builds a primitive for itself and
 * drops it.  libdnnl is built on the same OpenMP runtime (libgomp) as
 * OpenBLAS and our loops, so clipc_set_threads applies to it too.
 */
#include "kernels/onednn.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/parallel.h"
#include "kernels/backend.h"
#include "kernels/bf16.h"
#include "kernels/onednn_testing.h"
#include "kernels/sgemm_panel.h"
#include "kernels/vec.h"

#include <dnnl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>


#define CACHE_MAX 256
#define PAR_MIN 32768 /* conversions smaller than this stay on one thread */

/* The shape and fusions a primitive is built for.  kind LINEAR: src (M, K)
 * x weights (K, N), out_in = the weights' layout; kind SCORES / MIXING:
 * attention over M sequences of K tokens, width N, out_in heads. */
enum { KIND_LINEAR, KIND_SCORES, KIND_MIXING };
typedef struct {
    int kind, M, K, N, out_in;
    int bias, act, res, in_bf16, out_bf16; /* what the primitive fuses (backend_gemm_ops) */
    int f32;                               /* src and weights float32 (the f32 context) */
    int packed;                            /* weights in the layout oneDNN chose (packed_w) */
} prim_key;

typedef struct {
    prim_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t wmd; /* its weights' layout (packed keys) */
} cache_entry;

/* A weight matrix of the model reordered once into the blocked layout the
 * small-M primitives chose (see PACK_MAX_ROWS). */
typedef struct {
    size_t off;             /* its offset in params (floats) */
    int K, N, out_in;
    dnnl_memory_desc_t md;  /* the layout (zero for a panel copy) */
    dnnl_memory_t mem;      /* owns the packed values (NULL for a panel copy) */
    float *panel;           /* or: packed for sgemm_panel.c (panel_weights) */
    size_t panel_floats;
} packed_w;

/* Products of at most this many rows (batch 1-8 images of 50 tokens, a few
 * captions) read packed weights.  Why: with the weights in PyTorch's plain
 * layout, brgemm copies each block of them into its own layout on every
 * call, and at 20-50 rows that copy is not amortised: measured on 2 threads
 * (AVX-512), M 50 K 768 N 3072 119 -> 140 GFLOP/s, M 50 K 3072 N 768 66 ->
 * 111, M 20 K 512 N 2048 72 -> 126 with the weights packed once.  Taller
 * products amortise the copy and keep the plain weights (no second copy
 * of a layout chosen for them). */
#define PACK_MAX_ROWS 1024

struct onednn_ctx {
    infer_backend be;    /* this context's kernels, as the layers see them */
    int f32;             /* 1: a float32 context (no twin) */
    int pack;            /* 1: an f32 context of one model's params, packing them (packed) */
    const float *params; /* the f32 buffer the bf16 copy mirrors (or the packed one packs) */
    size_t n;
    uint16_t *w;         /* n bf16 values, same offsets as params */
    dnnl_engine_t engine;
    pthread_mutex_t lock; /* guards the cache */
    cache_entry cache[CACHE_MAX];
    int n_cache;
    pthread_mutex_t x_lock; /* held by the call using x */
    uint16_t *x;            /* bf16 GEMM input, reused call after call */
    size_t x_cap;           /* elements */
    float *s;               /* attention scores of a group of sequences */
    size_t s_cap;           /* elements */
    packed_w *packed;       /* pack: the weights packed so far (under lock) */
    int n_packed, packed_cap;
};

static int forced_off;
static int test_fail; /* ONEDNN_FAIL_* bits (tests) */

int onednn_bf16_available(void) {
    if (forced_off) return 0;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

void onednn_test_bf16_unavailable(int on) { forced_off = on; }

void onednn_test_fail(int what) { test_fail = what; }

static int panel_mode = -1; /* onednn_test_panel */

void onednn_test_panel(int mode) { panel_mode = mode; }

static int use_panel(void) {
    return panel_mode < 0 ? sgemm_panel_preferred() : panel_mode == 1 && sgemm_panel_available();
}

static void to_bf16(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = bf16_from_f32(src[i]);
}

static int gemm_kernel(const void *ctx, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                       int w_is_out_in, const backend_gemm_ops *ops);
static int attention_kernel(const void *ctx, void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16,
                            int out_bf16);

/* The backend of g: lowp (bf16 activations) for a bf16 context. */
static void set_backend(onednn_ctx *g) {
    g->be = (infer_backend){g->f32 ? "onednn-f32" : "onednn-bf16", g, !g->f32, gemm_kernel, attention_kernel};
}

const infer_backend *onednn_backend(const onednn_ctx *g) { return g ? &g->be : NULL; }

clipc_status onednn_bf16_create(onednn_ctx **out, const float *params, size_t n) {
    *out = NULL;
    onednn_ctx *g = mem_calloc(1, sizeof *g, "bf16 weights");
    if (!g) return CLIPC_ERR_NOMEM;
    size_t bytes;
    if (mul_overflow(n ? n : 1, sizeof(uint16_t), &bytes)) {
        free(g);
        return clipc_error(CLIPC_ERR_NOMEM, "bf16 weights: %zu parameters overflow", n);
    }
    g->w = mem_alloc(bytes, "bf16 weights");
    if (!g->w) {
        free(g);
        return CLIPC_ERR_NOMEM;
    }
    if (dnnl_engine_create(&g->engine, dnnl_cpu, 0) != dnnl_success) {
        free(g->w);
        free(g);
        return clipc_error(CLIPC_ERR_INVALID, "bf16: oneDNN could not create a CPU engine");
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->x_lock, NULL);
    g->params = params;
    g->n = n;
    to_bf16(g->w, params, n);
    set_backend(g);
    *out = g;
    return CLIPC_OK;
}

/* The float32 context: one per process (it holds no weights, only the
 * engine, the primitive cache and the scores buffer), made on first use. */
static onednn_ctx *f32_ctx;
static pthread_once_t f32_once = PTHREAD_ONCE_INIT;
static int f32_off;

static void f32_init(void) {
    onednn_ctx *g = calloc(1, sizeof *g);
    if (!g) return;
    if (dnnl_engine_create(&g->engine, dnnl_cpu, 0) != dnnl_success) {
        free(g);
        return;
    }
    g->f32 = 1;
    set_backend(g);
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->x_lock, NULL);
    f32_ctx = g;
}

const onednn_ctx *onednn_f32_context(void) {
    if (f32_off) return NULL;
    pthread_once(&f32_once, f32_init);
    return f32_ctx;
}

void onednn_test_f32_off(int on) { f32_off = on; }

clipc_status onednn_f32_packed_create(onednn_ctx **out, const float *params, size_t n) {
    *out = NULL;
    onednn_ctx *g = mem_calloc(1, sizeof *g, "packed f32 context");
    if (!g) return CLIPC_ERR_NOMEM;
    if (dnnl_engine_create(&g->engine, dnnl_cpu, 0) != dnnl_success) {
        free(g);
        return clipc_error(CLIPC_ERR_INVALID, "f32: oneDNN could not create a CPU engine");
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->x_lock, NULL);
    g->f32 = g->pack = 1;
    g->params = params;
    g->n = n;
    set_backend(g);
    *out = g;
    return CLIPC_OK;
}

size_t onednn_packed_bytes(const onednn_ctx *g) {
    size_t b = 0;
    for (int i = 0; g && i < g->n_packed; i++)
        b += g->packed[i].panel ? g->packed[i].panel_floats * sizeof(float) : dnnl_memory_desc_get_size(&g->packed[i].md);
    return b;
}

void onednn_free(onednn_ctx *g) {
    if (!g) return;
    for (int i = 0; i < g->n_packed; i++) {
        if (g->packed[i].mem) dnnl_memory_destroy(g->packed[i].mem);
        free(g->packed[i].panel);
    }
    free(g->packed);
    for (int i = 0; i < g->n_cache; i++) dnnl_primitive_destroy(g->cache[i].prim);
    dnnl_engine_destroy(g->engine);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->x_lock);
    free(g->x);
    free(g->s);
    free(g->w);
    free(g);
}

static int same_key(const prim_key *e, const prim_key *k) {
    return e->kind == k->kind && e->M == k->M && e->K == k->K && e->N == k->N && e->out_in == k->out_in &&
           e->bias == k->bias && e->act == k->act && e->res == k->res && e->in_bf16 == k->in_bf16 &&
           e->out_bf16 == k->out_bf16 && e->f32 == k->f32 && e->packed == k->packed;
}

/* The memory descriptors of a matmul src (M, K) bf16 x weights (K, N) bf16
 * -> dst (M, N) f32 or bf16, + bias (1, N) f32, + residual (M, N) f32.  The
 * weights are (K, N) row-major ("ab") for x P, or nn.Linear's (N, K)
 * row-major, which is (K, N) with tag "ba". */
static int descs(const prim_key *k, dnnl_memory_desc_t *a, dnnl_memory_desc_t *b, dnnl_memory_desc_t *bias,
                 dnnl_memory_desc_t *c, dnnl_memory_desc_t *res) {
    dnnl_dims_t ad = {k->M, k->K}, bd = {k->K, k->N}, cd = {k->M, k->N}, biasd = {1, k->N};
    dnnl_data_type_t t = k->f32 ? dnnl_f32 : dnnl_bf16;
    return dnnl_memory_desc_init_by_tag(a, 2, ad, t, dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(b, 2, bd, t, k->packed ? dnnl_format_tag_any : k->out_in ? dnnl_ba : dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(bias, 2, biasd, dnnl_f32, dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(c, 2, cd, k->out_bf16 ? dnnl_bf16 : dnnl_f32, dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(res, 2, cd, dnnl_f32, dnnl_ab);
}

/* Attention's two batched products over (sequence, head), read in place
 * from the packed qkv rows (q | k | v, each C = NH x hd wide) through
 * strides, as attention.c's per-head GEMMs do:
 *   SCORES: S (M, NH, T, T) = q (M, NH, T, hd) x k^T (M, NH, hd, T), scaled;
 *   MIXING: y (M, NH, T, hd) = P (M, NH, T, T) x v (M, NH, T, hd), written
 *           into rows of C (head h at columns h hd). */
static int att_descs(const prim_key *k, dnnl_memory_desc_t *a, dnnl_memory_desc_t *b, dnnl_memory_desc_t *c) {
    dnnl_dim_t M = k->M, T = k->K, C = k->N, NH = k->out_in, hd = C / NH;
    dnnl_dims_t tok = {M, NH, T, hd}, tok_s = {T * 3 * C, hd, 3 * C, 1}; /* q or v in qkv */
    dnnl_dims_t kt = {M, NH, hd, T}, kt_s = {T * 3 * C, hd, 1, 3 * C};   /* k^T in qkv */
    dnnl_dims_t sq = {M, NH, T, T};
    dnnl_dims_t y_s = {T * C, hd, C, 1};
    /* in_bf16: q, k, v and the probabilities are bf16 (scores and y f32) */
    dnnl_data_type_t in = k->in_bf16 ? dnnl_bf16 : dnnl_f32;
    if (k->kind == KIND_SCORES)
        return dnnl_memory_desc_init_by_strides(a, 4, tok, in, tok_s) ||
               dnnl_memory_desc_init_by_strides(b, 4, kt, in, kt_s) ||
               dnnl_memory_desc_init_by_tag(c, 4, sq, dnnl_f32, dnnl_abcd);
    return dnnl_memory_desc_init_by_tag(a, 4, sq, in, dnnl_abcd) ||
           dnnl_memory_desc_init_by_strides(b, 4, tok, in, tok_s) ||
           dnnl_memory_desc_init_by_strides(c, 4, tok, k->out_bf16 ? dnnl_bf16 : dnnl_f32, y_s);
}

/* QuickGELU is oneDNN's swish, x sigmoid(alpha x), with alpha = 1.702;
 * exact GELU is its gelu_erf. */
static dnnl_primitive_t make_prim(dnnl_engine_t engine, const prim_key *k) {
    dnnl_memory_desc_t a, b, bias, c, res;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    if (dnnl_primitive_attr_create(&attr) || dnnl_post_ops_create(&po)) goto done;
    if (k->kind != KIND_LINEAR) {
        float scale = 1.0f / sqrtf((float)(k->N / k->out_in));
        if (att_descs(k, &a, &b, &c) || dnnl_matmul_desc_init(&md, &a, &b, NULL, &c)) goto done;
        if (k->kind == KIND_SCORES && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale)) goto done;
        if (dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL)) goto done;
        if (dnnl_primitive_create(&p, pd)) p = NULL;
        goto done;
    }
    if (descs(k, &a, &b, &bias, &c, &res)) goto done;
    if (dnnl_matmul_desc_init(&md, &a, &b, k->bias ? &bias : NULL, &c)) goto done;
    if (k->act == BACKEND_ACT_QUICKGELU && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f))
        goto done;
    if (k->act == BACKEND_ACT_GELU && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f))
        goto done;
    if (k->res && dnnl_post_ops_append_binary(po, dnnl_binary_add, &res)) goto done;
    if (dnnl_primitive_attr_set_post_ops(attr, po)) goto done;
    if (dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL)) goto done;
    if (dnnl_primitive_create(&p, pd)) p = NULL;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return p;
}

/* The layout primitive p expects its weights in. */
static int weights_md(dnnl_primitive_t p, dnnl_memory_desc_t *md) {
    const_dnnl_primitive_desc_t pd;
    if (dnnl_primitive_get_primitive_desc(p, &pd)) return 1;
    const dnnl_memory_desc_t *w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!w) return 1;
    *md = *w;
    return 0;
}

/* The cached primitive for a key (*own = 0), or a fresh one the caller
 * destroys (*own = 1) once the cache is full; *wmd (when not NULL) gets
 * its weights' layout. */
static dnnl_primitive_t get_prim(onednn_ctx *g, const prim_key *k, int *own, dnnl_memory_desc_t *wmd) {
    *own = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n_cache; i++) {
        cache_entry *e = &g->cache[i];
        if (same_key(&e->key, k)) {
            dnnl_primitive_t p = e->prim;
            if (wmd) *wmd = e->wmd;
            pthread_mutex_unlock(&g->lock);
            return p;
        }
    }
    dnnl_primitive_t p = make_prim(g->engine, k);
    cache_entry e = {*k, p, {0}};
    if (p && weights_md(p, &e.wmd)) {
        dnnl_primitive_destroy(p);
        p = NULL;
    }
    if (p && wmd) *wmd = e.wmd;
    if (p && g->n_cache < CACHE_MAX)
        g->cache[g->n_cache++] = e;
    else if (p)
        *own = 1;
    pthread_mutex_unlock(&g->lock);
    return p;
}

/* Runs primitive p on n buffers: buf[i] described by d[i], passed as
 * execution argument arg[i] (a NULL buffer is skipped).  oneDNN takes
 * non-const handles; the primitives here only read their inputs. */
/* One execution at a time, across contexts: concurrent executions race on
 * oneDNN's library-managed scratchpad (two threads encoding with one model
 * got wrong embeddings without this lock: test bf16_two_threads_one_model).
 * Each execution already uses every OpenMP thread, so little is lost. */
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;

static int execute(onednn_ctx *g, dnnl_primitive_t p, int n, const int *arg, const dnnl_memory_desc_t *d,
                   const void *const *buf) {
    dnnl_memory_t mem[5] = {0};
    dnnl_exec_arg_t args[5];
    dnnl_stream_t st = NULL;
    int na = 0, ok = 0;
    for (int i = 0; i < n; i++) {
        if (!buf[i]) continue;
        if (dnnl_memory_create(&mem[na], &d[i], g->engine, (void *)(uintptr_t)buf[i])) goto done;
        args[na] = (dnnl_exec_arg_t){arg[i], mem[na]};
        na++;
    }
    if (dnnl_stream_create(&st, g->engine, dnnl_stream_default_flags)) goto done;
    pthread_mutex_lock(&exec_lock);
    ok = dnnl_primitive_execute(p, st, na, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
    pthread_mutex_unlock(&exec_lock);
done:
    if (st) dnnl_stream_destroy(st);
    for (int i = 0; i < 5; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return ok;
}

/* Under g->lock: the packed copy of the weight at params + off with shape
 * (K, N, out_in) in *found, or NULL there and room made for a new one;
 * 0 when that room could not be made. */
static int packed_slot(onednn_ctx *g, size_t off, int K, int N, int out_in, packed_w **found) {
    *found = NULL;
    for (int i = 0; i < g->n_packed; i++) {
        packed_w *e = &g->packed[i];
        if (e->off == off && e->K == K && e->N == N && e->out_in == out_in) {
            *found = e;
            return 1;
        }
    }
    if (g->n_packed == g->packed_cap) {
        int cap = g->packed_cap ? 2 * g->packed_cap : 64;
        packed_w *a = realloc(g->packed, (size_t)cap * sizeof *a);
        if (!a) return 0;
        g->packed = a;
        g->packed_cap = cap;
    }
    return 1;
}

/* The packed copy of the weight at params + off in layout md (k's shape),
 * reordered from its plain layout on first use; NULL when it cannot be
 * made or that weight was packed in another layout (the caller then runs
 * the plain primitive): at most one packed copy per weight. */
static void *packed_weights(onednn_ctx *g, size_t off, const prim_key *k, const dnnl_memory_desc_t *md) {
    void *h = NULL;
    packed_w *e;
    pthread_mutex_lock(&g->lock);
    if (!packed_slot(g, off, k->K, k->N, k->out_in, &e)) goto out;
    if (e) {
        if (!e->mem || (dnnl_memory_desc_equal(&e->md, md) && dnnl_memory_get_data_handle(e->mem, &h))) h = NULL;
        goto out;
    }
    dnnl_memory_desc_t plain;
    dnnl_dims_t bd = {k->K, k->N};
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    dnnl_stream_t st = NULL;
    int ok = !dnnl_memory_desc_init_by_tag(&plain, 2, bd, dnnl_f32, k->out_in ? dnnl_ba : dnnl_ab) &&
             !dnnl_memory_create(&src, &plain, g->engine, (void *)(uintptr_t)(g->params + off)) &&
             !dnnl_memory_create(&dst, md, g->engine, DNNL_MEMORY_ALLOCATE) &&
             !dnnl_reorder_primitive_desc_create(&rpd, &plain, g->engine, md, g->engine, NULL) &&
             !dnnl_primitive_create(&rp, rpd) && !dnnl_stream_create(&st, g->engine, dnnl_stream_default_flags);
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        pthread_mutex_lock(&exec_lock);
        ok = dnnl_primitive_execute(rp, st, 2, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
        pthread_mutex_unlock(&exec_lock);
    }
    if (ok && !dnnl_memory_get_data_handle(dst, &h)) {
        g->packed[g->n_packed++] = (packed_w){off, k->K, k->N, k->out_in, *md, dst, NULL, 0};
        dst = NULL;
    } else {
        h = NULL;
    }
    if (st) dnnl_stream_destroy(st);
    if (rp) dnnl_primitive_destroy(rp);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (dst) dnnl_memory_destroy(dst);
    if (src) dnnl_memory_destroy(src);
out:
    pthread_mutex_unlock(&g->lock);
    return h;
}

/* The panel copy (sgemm_panel.h) of the weight at params + off, (K, N),
 * made on first use; NULL when it cannot be made or that weight was packed
 * for oneDNN already (the caller then runs oneDNN). */
static const float *panel_weights(onednn_ctx *g, size_t off, int K, int N, int out_in) {
    const float *h = NULL;
    packed_w *e;
    pthread_mutex_lock(&g->lock);
    if (!packed_slot(g, off, K, N, out_in, &e)) goto out;
    if (e) {
        h = e->panel;
        goto out;
    }
    size_t nf = sgemm_panel_floats(K, N);
    float *pw = NULL;
    if (posix_memalign((void **)&pw, 64, nf * sizeof *pw)) goto out;
    sgemm_panel_pack(pw, g->params + off, K, N, out_in);
    g->packed[g->n_packed++] = (packed_w){off, K, N, out_in, {0}, NULL, pw, nf};
    h = pw;
out:
    pthread_mutex_unlock(&g->lock);
    return h;
}

/* The backend's GEMM (backend.h): 0 also when w is not in a bf16 context's
 * twin, or when an f32 context is asked for bf16 activations. */
static int gemm_kernel(const void *ctx, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                       int w_is_out_in, const backend_gemm_ops *ops) {
    /* The context is logically const for callers (a model is read-only);
     * only its cache, under its lock, changes. */
    onednn_ctx *g = (onednn_ctx *)(uintptr_t)ctx;
    if (!g || N <= 0) return 0;
    static const backend_gemm_ops plain;
    if (!ops) ops = &plain;
    if ((test_fail & ONEDNN_FAIL_FUSED) && (ops->in_bf16 || ops->out_bf16 || ops->residual)) return 0;
    const void *wp = w; /* the weights as oneDNN reads them */
    size_t off = 0;
    int pack = 0;
    if (g->f32) {
        if (ops->in_bf16 || ops->out_bf16) return 0; /* no bf16 in the f32 context */
        uintptr_t lo = (uintptr_t)g->params, at = (uintptr_t)w;
        pack = g->pack && N <= PACK_MAX_ROWS && at >= lo && at < lo + g->n * sizeof(float) &&
               (at - lo) % sizeof(float) == 0 && (size_t)IN * OUT <= g->n - (at - lo) / sizeof(float);
        off = pack ? (at - lo) / sizeof(float) : 0;
    } else {
        /* Integer compare: relational operators on pointers into different
         * objects are undefined. */
        uintptr_t lo = (uintptr_t)g->params, at = (uintptr_t)w;
        if (at < lo || at >= lo + g->n * sizeof(float) || (at - lo) % sizeof(float)) return 0;
        off = (at - lo) / sizeof(float);
        if ((size_t)IN * OUT > g->n - off) return 0;
        wp = g->w + off;
    }
    if (pack && use_panel()) {
        /* AVX2 without AVX-512: our panel kernel (sgemm_panel.h says why) */
        const float *pw = panel_weights(g, off, IN, OUT, w_is_out_in);
        if (pw) {
            sgemm_panel_run(out, inp, pw, N, IN, OUT, ops);
            return 1;
        }
    }
    prim_key k = {KIND_LINEAR, N, IN, OUT, w_is_out_in, ops->bias != NULL, ops->act, ops->residual != NULL, ops->in_bf16,
                  ops->out_bf16, g->f32, pack};
    int own;
    dnnl_memory_desc_t wmd;
    dnnl_primitive_t p = get_prim(g, &k, &own, &wmd);
    if (p && pack && !(wp = packed_weights(g, off, &k, &wmd))) {
        /* not packable: the plain primitive */
        if (own) dnnl_primitive_destroy(p);
        k.packed = 0;
        wp = w;
        p = get_prim(g, &k, &own, NULL);
    }
    if (!p) return 0;
    int done = 0;
    /* The input in bf16: as given (in_bf16), or converted into the
     * context's buffer, grown to the largest GEMM seen, so the steady state
     * allocates nothing (a fresh 77 MB buffer per call cost 4 % of ViT-B-32
     * encoding in zeroing pages); a thread that finds it in use by another
     * thread allocates its own. */
    size_t nx = (size_t)N * IN;
    void *x = NULL;
    uint16_t *mine = NULL;
    int shared = 0;
    if (ops->in_bf16 || g->f32) {
        x = (void *)(uintptr_t)inp; /* used as it is (oneDNN only reads it) */
    } else if ((shared = pthread_mutex_trylock(&g->x_lock) == 0)) {
        if (g->x_cap < nx) {
            free(g->x);
            g->x = malloc(nx * sizeof *g->x);
            g->x_cap = g->x ? nx : 0;
        }
        x = g->x;
    } else {
        x = mine = malloc(nx * sizeof *mine);
    }
    dnnl_memory_desc_t d[5];
    if (!x) goto done;
    if (!ops->in_bf16 && !g->f32) to_bf16(x, inp, nx);
    if (descs(&k, &d[0], &d[1], &d[2], &d[3], &d[4])) goto done;
    if (k.packed) d[1] = wmd;
    /* The residual is the last post-op: index 1 after an activation, else 0. */
    int arg[5] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST,
                  DNNL_ARG_ATTR_MULTIPLE_POST_OP(ops->act ? 1 : 0) | DNNL_ARG_SRC_1};
    const void *buf[5] = {x, wp, ops->bias, out, ops->residual};
    done = execute(g, p, 5, arg, d, buf);
done:
    if (own) dnnl_primitive_destroy(p);
    if (shared) pthread_mutex_unlock(&g->x_lock);
    free(mine);
    return done;
}

/* One batched matmul of attention_kernel: a x b -> c. */
static int exec3(onednn_ctx *g, dnnl_primitive_t p, const prim_key *k, const void *a, const void *b, void *c) {
    dnnl_memory_desc_t d[3];
    if (att_descs(k, &d[0], &d[1], &d[2])) return 0;
    static const int arg[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    const void *buf[3] = {a, b, c};
    return execute(g, p, 3, arg, d, buf);
}

/* Groups of sequences whose scores fit in this many floats (32 MB: ViT-B/16
 * at batch 64 would need 119 MB at once); tests lower it to cut small
 * batches into groups. */
static size_t att_scores_max = 8u << 20;

void onednn_test_scores_max(size_t floats) { att_scores_max = floats ? floats : 8u << 20; }

/* The backend's batched attention (backend.h): the scores and the mixing
 * are each one batched oneDNN matmul per group of sequences instead of two
 * small GEMMs per (sequence, head); with in_bf16 both are bf16 products
 * (softmax in f32, probabilities rounded to bf16).  Returns 0 (out to be
 * recomputed) when another thread holds the scores buffer, an f32 context
 * is asked for bf16, or oneDNN refused. */
static int attention_kernel(const void *ctx, void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16,
                            int out_bf16) {
    onednn_ctx *g = (onednn_ctx *)(uintptr_t)ctx;
    if (!g || B <= 0 || T <= 0 || C % NH || (test_fail & ONEDNN_FAIL_ATTENTION) || (g->f32 && (in_bf16 || out_bf16))) return 0;
    size_t per = (size_t)NH * T * T, esz = in_bf16 ? sizeof(uint16_t) : sizeof(float);
    int grp = per > att_scores_max ? 1 : (int)(att_scores_max / per);
    if (grp > B) grp = B;
    /* The scores buffer is the context's, like x; a second thread using
     * the same model at once takes the per-head path instead. */
    if (pthread_mutex_trylock(&g->x_lock)) return 0;
    int ok = 0;
    /* scores (floats), then the bf16 probabilities when in_bf16 */
    size_t need = per * grp + (in_bf16 ? (per * grp + 1) / 2 : 0);
    if (g->s_cap < need) {
        free(g->s);
        g->s = malloc(need * sizeof *g->s);
        g->s_cap = g->s ? need : 0;
    }
    float *S = g->s;
    uint16_t *P16 = S ? (uint16_t *)(S + per * grp) : NULL;
    for (int b0 = 0; S && b0 < B; b0 += grp) {
        int m = B - b0 < grp ? B - b0 : grp, own1 = 0, own2 = 0;
        prim_key ks = {KIND_SCORES, m, T, C, NH, 0, 0, 0, in_bf16, 0, g->f32, 0}, km = ks;
        km.kind = KIND_MIXING;
        km.out_bf16 = out_bf16;
        dnnl_primitive_t ps = get_prim(g, &ks, &own1, NULL), pm = ps ? get_prim(g, &km, &own2, NULL) : NULL;
        const char *q = (const char *)qkv + (size_t)b0 * T * 3 * C * esz;
        int done = pm && exec3(g, ps, &ks, q, q + C * esz, S);
        if (done) {
            size_t rows = (size_t)m * NH * T;
#pragma omp parallel for schedule(static) if (rows * T > PAR_MIN)
            for (size_t r = 0; r < rows; r++) {
                float *row = S + r * T, mx, inv = vec_softmax_exp(row, (size_t)T, &mx);
                if (in_bf16)
                    for (int j = 0; j < T; j++) P16[r * T + j] = bf16_from_f32(row[j] * inv);
                else
                    for (int j = 0; j < T; j++) row[j] *= inv;
            }
            char *y = (char *)out + (size_t)b0 * T * C * (out_bf16 ? sizeof(uint16_t) : sizeof(float));
            done = exec3(g, pm, &km, in_bf16 ? (void *)P16 : (void *)S, q + 2 * C * esz, y);
        }
        if (own1) dnnl_primitive_destroy(ps);
        if (own2) dnnl_primitive_destroy(pm);
        if (!done) goto out;
    }
    ok = S != NULL;
out:
    pthread_mutex_unlock(&g->x_lock);
    return ok;
}
