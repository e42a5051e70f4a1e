/*
 * int8.c — the int8 inference backend (backend.h, int8.h) on oneDNN's
 * integer matmul: s8 codes (given to it as u8, shifted by 128) x s8 weights -> s32, which oneDNN runs on
 * AMX, AVX512-VNNI, AVX-VNNI or plain AVX2/AVX-512 (its choice; it
 * honours DNNL_MAX_CPU_ISA).
 *
 * Quantisation.  Weights: symmetric, per output channel, scale = max|w| /
 * 127 (63 without VNNI: weight_qmax), once at creation.  Inputs: symmetric per row (per token), scale =
 * max|x| / 127, at every call.  Per row rather than per tensor because the
 * dequantisation below is our own pass anyway (oneDNN 2.6's output scales
 * are per output channel at most, so a per-row scale would not fuse), so
 * it costs nothing, it follows each token's range (CLIP's residual stream
 * has a few large tokens), and an embedding does not depend on which other
 * images share its batch.  The s8 codes go to oneDNN shifted by 128, as u8:
 * its AVX2 and VNNI kernels multiply u8 x s8 natively, and an s8 x s8
 * product costs them a compensation of their own (measured on AVX2, one
 * core, M 3200 K 768 N 3072: 170 GOP/s s8 x s8, 182 u8 x s8).  Ours is
 * exact and free: sum (q + 128) w = sum q w + 128 sum w, and the column
 * sums of the weights are fixed, so the epilogue subtracts 128 colsum[n]
 * from each s32 before scaling; the products are the s8 x s8 ones, bit
 * for bit.
 *
 * After the product, per row in float32: acc x (sx[row] x sw[col]) + bias,
 * then the activation (QuickGELU or GELU), then the residual, in the f32
 * backend's order (the row still in cache between the steps).  The s32 products are written into the caller's
 * output buffer (same size as its floats) and converted in place, so no
 * accumulator buffer exists.
 *
 * Determinism: integer sums are exact whatever the blocking or the thread
 * count, and every float step is per element in a fixed order, so results
 * do not depend on the number of threads (test int8_threads_bitwise).
 *
 * Primitives are cached per shape (no eviction, as onednn.c) and use a
 * scratchpad we pass in (user mode): concurrent executions then share no
 * library-owned scratchpad, with each other or with onednn.c's.
 */
#include "kernels/int8.h"
#include "clipc_util.h"
#include "base/error.h"
#include "kernels/onednn.h"
#include "kernels/vec.h"

#include <dnnl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 128
#define PAR_MIN 32768 /* passes smaller than this stay on one thread */

typedef struct {
    uintptr_t key;  /* the float matrix's address */
    int rows, cols, out_in;
    int8_t *q;      /* rows x cols, same layout as the floats */
    float *scale;   /* one per output channel */
    int32_t *colsum; /* per output channel, the sum of its codes (the u8 shift's compensation) */
    void *packed;   /* q reordered into the layout oneDNN's kernel wants, or NULL */
    dnnl_memory_desc_t packed_md;
} qmat;

typedef struct {
    int M, K, N, out_in;
    dnnl_primitive_t prim;
    size_t scratch;          /* bytes of user scratchpad it needs */
    dnnl_memory_desc_t wmd;  /* the weights layout it chose */
} cache_entry;

struct int8_ctx {
    infer_backend be;
    qmat *mats; /* sorted by key */
    int n_mats;
    int8_t *qbuf; /* all quantised weights */
    float *sbuf;  /* all scales */
    int32_t *cbuf; /* all column sums */
    dnnl_engine_t engine;
    pthread_mutex_t lock; /* guards cache and impl */
    cache_entry cache[CACHE_MAX];
    int n_cache;
    char impl[64];
    pthread_mutex_t x_lock; /* held by the call using x */
    void *x;                /* quantised input, its row scales, the scratchpad */
    size_t x_cap;           /* bytes */
    atomic_long n_int8, n_f32;
};

static int gemm_kernel(const void *ctx, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                       int w_is_out_in, const backend_gemm_ops *ops);
static int attention_kernel(const void *ctx, void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16,
                            int out_bf16);

const infer_backend *int8_backend(const int8_ctx *g) { return g ? &g->be : NULL; }

static int cmp_mat(const void *a, const void *b) {
    uintptr_t x = ((const qmat *)a)->key, y = ((const qmat *)b)->key;
    return x < y ? -1 : x > y;
}

/* The largest weight code.  Without VNNI (AVX2, AVX-512 before Cascade
 * Lake, or DNNL_MAX_CPU_ISA below them) oneDNN multiplies u8 (our s8 inputs
 * shifted by 128) by s8 weights with vpmaddubsw, whose pairwise sums
 * saturate at 16 bits: 2 x 255 x 127 does not fit, 2 x 255 x 63 does.  So
 * weights get 7 bits there, as oneDNN's documentation advises; measured on
 * the golden models with DNNL_MAX_CPU_ISA=AVX2 and 8-bit weights, text
 * cosines fell to 0.67-0.97 and the results changed with the thread count. */
static float weight_qmax(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    int vnni = isa == dnnl_cpu_isa_avx2_vnni ||
               (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni;
    return vnni ? 127.0f : 63.0f;
}

/* Quantises one matrix: q = round(w / s), s = max|w| / qmax per output
 * channel (rows when out_in, else columns); an all-zero channel gets s = 0. */
static void quantise_matrix(const float *w, int rows, int cols, int out_in, int8_t *q, float *s, int32_t *colsum) {
    const float qmax = weight_qmax();
    int nch = out_in ? rows : cols;
    for (int c = 0; c < nch; c++) s[c] = 0.0f;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float a = fabsf(w[(size_t)r * cols + c]);
            float *m = &s[out_in ? r : c];
            if (a > *m) *m = a;
        }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float mx = s[out_in ? r : c], v = mx > 0 ? w[(size_t)r * cols + c] * (qmax / mx) : 0.0f;
            v = nearbyintf(v);
            /* NaN (a model loaded with --allow-nonfinite) becomes 0, never an
             * out-of-range conversion; its channel's scale is then non-finite */
            q[(size_t)r * cols + c] = (int8_t)(v > qmax ? (int)qmax : v < -qmax ? -(int)qmax : v == v ? (int)v : 0);
        }
    for (int c = 0; c < nch; c++) {
        s[c] /= qmax;
        colsum[c] = 0;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) colsum[out_in ? r : c] += q[(size_t)r * cols + c];
}

clipc_status int8_create(int8_ctx **out, const int8_matrix *m, int n) {
    *out = NULL;
    size_t nq = 0, ns = 0;
    for (int i = 0; i < n; i++) {
        if (!m[i].w || m[i].rows <= 0 || m[i].cols <= 0)
            return clipc_error(CLIPC_ERR_INVALID, "int8: matrix %d is empty", i);
        nq += (size_t)m[i].rows * m[i].cols;
        ns += (size_t)(m[i].out_in ? m[i].rows : m[i].cols);
    }
    int8_ctx *g = mem_calloc(1, sizeof *g, "int8 weights");
    if (!g) return CLIPC_ERR_NOMEM;
    g->mats = mem_calloc(n ? (size_t)n : 1, sizeof *g->mats, "int8 weights");
    g->qbuf = mem_alloc(nq ? nq : 1, "int8 weights");
    g->sbuf = mem_alloc((ns ? ns : 1) * sizeof(float), "int8 weights");
    g->cbuf = mem_alloc((ns ? ns : 1) * sizeof(int32_t), "int8 weights");
    if (!g->mats || !g->qbuf || !g->sbuf || !g->cbuf) {
        int8_free(g);
        return CLIPC_ERR_NOMEM;
    }
    if (dnnl_engine_create(&g->engine, dnnl_cpu, 0) != dnnl_success) {
        g->engine = NULL;
        int8_free(g);
        return clipc_error(CLIPC_ERR_INVALID, "int8: oneDNN could not create a CPU engine");
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->x_lock, NULL);
    size_t oq = 0, os = 0;
    for (int i = 0; i < n; i++) {
        qmat *e = &g->mats[i];
        *e = (qmat){(uintptr_t)m[i].w, m[i].rows, m[i].cols, m[i].out_in, g->qbuf + oq, g->sbuf + os, g->cbuf + os,
                    NULL, {0}};
        oq += (size_t)m[i].rows * m[i].cols;
        os += (size_t)(m[i].out_in ? m[i].rows : m[i].cols);
    }
    g->n_mats = n;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        qmat *e = &g->mats[i];
        quantise_matrix((const float *)e->key, e->rows, e->cols, e->out_in, e->q, e->scale, e->colsum);
    }
    qsort(g->mats, (size_t)n, sizeof *g->mats, cmp_mat);
    strcpy(g->impl, "none");
    g->be = (infer_backend){"onednn-int8", g, 0, gemm_kernel, attention_kernel};
    *out = g;
    return CLIPC_OK;
}

void int8_free(int8_ctx *g) {
    if (!g) return;
    for (int i = 0; i < g->n_cache; i++) dnnl_primitive_destroy(g->cache[i].prim);
    if (g->engine) {
        dnnl_engine_destroy(g->engine);
        pthread_mutex_destroy(&g->lock);
        pthread_mutex_destroy(&g->x_lock);
    }
    free(g->x);
    for (int i = 0; g->mats && i < g->n_mats; i++) free(g->mats[i].packed);
    free(g->mats);
    free(g->qbuf);
    free(g->sbuf);
    free(g->cbuf);
    free(g);
}

void int8_kernel_name(const int8_ctx *g, char *buf, size_t n) {
    int8_ctx *c = (int8_ctx *)(uintptr_t)g;
    pthread_mutex_lock(&c->lock);
    snprintf(buf, n, "%s", c->impl);
    pthread_mutex_unlock(&c->lock);
}

void int8_counts(const int8_ctx *g, long *int8_gemms, long *f32_gemms) {
    *int8_gemms = atomic_load(&g->n_int8);
    *f32_gemms = atomic_load(&g->n_f32);
}

static const qmat *find_mat(const int8_ctx *g, const float *w) {
    uintptr_t k = (uintptr_t)w;
    int lo = 0, hi = g->n_mats - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        uintptr_t v = g->mats[mid].key;
        if (v == k) return &g->mats[mid];
        if (v < k) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* src (M, K) u8 x weights (K, N) s8 -> dst (M, N) s32; the weights are
 * nn.Linear's (N, K) row-major (tag "ba") when out_in, else (K, N). */
static int descs(int M, int K, int N, int out_in, dnnl_memory_desc_t *a, dnnl_memory_desc_t *b,
                 dnnl_memory_desc_t *c) {
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
    return dnnl_memory_desc_init_by_tag(a, 2, ad, dnnl_u8, dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(b, 2, bd, dnnl_s8, out_in ? dnnl_ba : dnnl_ab) ||
           dnnl_memory_desc_init_by_tag(c, 2, cd, dnnl_s32, dnnl_ab);
}

/* The primitive for k's shape, its weights in the layout oneDNN prefers
 * (format "any": AMX and VNNI kernels want blocked weights, which a plain
 * layout would make them repack on every call); *wmd receives it. */
static dnnl_primitive_t make_prim(int8_ctx *g, const cache_entry *k, size_t *scratch, dnnl_memory_desc_t *wmd) {
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_dims_t bd = {k->K, k->N};
    if (descs(k->M, k->K, k->N, k->out_in, &a, &b, &c) ||
        dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_s8, dnnl_format_tag_any) ||
        dnnl_matmul_desc_init(&md, &a, &b, NULL, &c))
        goto done;
    if (dnnl_primitive_attr_create(&attr) || dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))
        goto done;
    if (dnnl_primitive_desc_create(&pd, &md, attr, g->engine, NULL)) goto done;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(g->impl, sizeof g->impl, "%s", impl);
    const dnnl_memory_desc_t *sd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *scratch = sd ? dnnl_memory_desc_get_size(sd) : 0;
    const dnnl_memory_desc_t *w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!w) goto done;
    *wmd = *w;
    if (dnnl_primitive_create(&p, pd)) p = NULL;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return p;
}

/* The cached primitive for a shape (*own = 0), or a fresh one the caller
 * destroys (*own = 1) once the cache is full. */
static dnnl_primitive_t get_prim(int8_ctx *g, int M, int K, int N, int out_in, size_t *scratch,
                                 dnnl_memory_desc_t *wmd, int *own) {
    *own = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n_cache; i++) {
        cache_entry *e = &g->cache[i];
        if (e->M == M && e->K == K && e->N == N && e->out_in == out_in) {
            *scratch = e->scratch;
            *wmd = e->wmd;
            pthread_mutex_unlock(&g->lock);
            return e->prim;
        }
    }
    cache_entry k = {M, K, N, out_in, NULL, 0, {0}};
    dnnl_primitive_t p = make_prim(g, &k, scratch, wmd);
    if (p && g->n_cache < CACHE_MAX) {
        k.prim = p;
        k.scratch = *scratch;
        k.wmd = *wmd;
        g->cache[g->n_cache++] = k;
    } else if (p) {
        *own = 1;
    }
    pthread_mutex_unlock(&g->lock);
    return p;
}

/* Rounds v (|v| <= 2^22) to the nearest integer, ties to even, with two
 * additions the compiler vectorises (nearbyintf is a libm call without
 * SSE4.1, and the default build targets plain x86-64). */
static inline float round_even(float v) { return (v + 0x1.8p23f) - 0x1.8p23f; }

/* Quantises the M rows of x (K floats each) to s8 codes with one scale per
 * row, stored shifted by 128 as u8 (see the top).  A row holding NaN or inf
 * gets scale NaN (its outputs become NaN, as in f32) and code 0, never a
 * float-to-int conversion out of range. */
static void quantise_rows(uint8_t *q, float *sx, const float *x, int M, int K) {
#pragma omp parallel for schedule(static) if ((size_t)M * K > PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * K;
        uint8_t *o = q + (size_t)m * K;
        float mx = 0.0f;
        int bad = 0;
        for (int i = 0; i < K; i++) {
            float a = fabsf(r[i]);
            mx = a > mx ? a : mx;
            bad |= !(a <= 3.4e38f); /* NaN or inf */
        }
        if (bad || !(mx > 0.0f)) {
            for (int i = 0; i < K; i++) o[i] = 128;
            sx[m] = bad ? NAN : 0.0f;
            continue;
        }
        float inv = 127.0f / mx;
        for (int i = 0; i < K; i++) {
            float v = round_even(r[i] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            o[i] = (uint8_t)((int)v + 128);
        }
        sx[m] = mx / 127.0f;
    }
}

/* out (M, N) holds the s32 products of the shifted codes; into floats in
 * place, row by row: the shift's compensation (128 colsum), dequantised +
 * bias, the activation (QuickGELU through vec.h's vectorised kernel, the
 * one the f32 path uses), + residual. */
static void epilogue(float *out, const float *sx, const float *sw, const int32_t *colsum, int M, int N,
                     const backend_gemm_ops *ops) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *y = out + (size_t)m * N;
        float s = sx[m];
        for (int n = 0; n < N; n++) {
            int32_t acc;
            memcpy(&acc, &y[n], sizeof acc); /* the s32 oneDNN wrote there */
            y[n] = (float)(acc - 128 * colsum[n]) * (s * sw[n]);
        }
        vec_gemm_epilogue(y, ops->bias, ops->act, ops->residual ? ops->residual + (size_t)m * N : NULL, (size_t)N);
    }
}

/* Runs p with the scratchpad sp (scratch bytes; NULL when 0). */
static int execute(int8_ctx *g, dnnl_primitive_t p, const cache_entry *k, const uint8_t *x, const void *w,
                   const dnnl_memory_desc_t *wmd, void *out, void *sp, size_t scratch) {
    dnnl_memory_desc_t d[4];
    dnnl_memory_t mem[4] = {0};
    dnnl_exec_arg_t args[4];
    dnnl_stream_t st = NULL;
    int ok = 0;
    if (descs(k->M, k->K, k->N, k->out_in, &d[0], &d[1], &d[2])) goto done;
    d[1] = *wmd;
    dnnl_dims_t sd = {(dnnl_dim_t)(scratch ? scratch : 1)};
    if (dnnl_memory_desc_init_by_tag(&d[3], 1, sd, dnnl_u8, dnnl_a)) goto done;
    const void *buf[4] = {x, w, out, sp};
    static const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD};
    int na = 0;
    for (int i = 0; i < 4; i++) {
        if (!buf[i]) continue;
        if (dnnl_memory_create(&mem[i], &d[i], g->engine, (void *)(uintptr_t)buf[i])) goto done;
        args[na++] = (dnnl_exec_arg_t){arg[i], mem[i]};
    }
    if (dnnl_stream_create(&st, g->engine, dnnl_stream_default_flags)) goto done;
    ok = dnnl_primitive_execute(p, st, na, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
done:
    if (st) dnnl_stream_destroy(st);
    for (int i = 0; i < 4; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return ok;
}

/* Reorders e's plain s8 weights into layout wmd (a new buffer, or NULL). */
static void *pack(int8_ctx *g, const qmat *e, const dnnl_memory_desc_t *wmd) {
    dnnl_memory_desc_t plain, unused_a, unused_c;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_stream_t st = NULL;
    int K = e->out_in ? e->cols : e->rows, N = e->out_in ? e->rows : e->cols;
    size_t bytes = dnnl_memory_desc_get_size(wmd);
    void *buf = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    int ok = 0;
    if (!buf || descs(1, K, N, e->out_in, &unused_a, &plain, &unused_c)) goto done;
    if (dnnl_reorder_primitive_desc_create(&rpd, &plain, g->engine, wmd, g->engine, NULL) ||
        dnnl_primitive_create(&r, rpd) || dnnl_memory_create(&from, &plain, g->engine, e->q) ||
        dnnl_memory_create(&to, wmd, g->engine, buf) || dnnl_stream_create(&st, g->engine, dnnl_stream_default_flags))
        goto done;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    ok = dnnl_primitive_execute(r, st, 2, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
done:
    if (st) dnnl_stream_destroy(st);
    if (to) dnnl_memory_destroy(to);
    if (from) dnnl_memory_destroy(from);
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (!ok) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* e's weights in layout wmd: its packed copy, made on first use (one per
 * matrix: oneDNN picks the layout from K, N and the ISA, so every batch
 * size asks for the same one), or *tmp, a copy for this call only when a
 * primitive wants another layout.  NULL when the reorder failed. */
static const void *weights_for(int8_ctx *g, qmat *e, const dnnl_memory_desc_t *wmd, void **tmp) {
    *tmp = NULL;
    pthread_mutex_lock(&g->lock);
    if (!e->packed) {
        e->packed = pack(g, e, wmd);
        if (e->packed) e->packed_md = *wmd;
    }
    const void *w = e->packed && dnnl_memory_desc_equal(&e->packed_md, wmd) ? e->packed : NULL;
    pthread_mutex_unlock(&g->lock);
    if (!w) w = *tmp = pack(g, e, wmd);
    return w;
}

/* The oneDNN float32 backend, for what this one does not hold. */
static const infer_backend *fallback(void) { return onednn_backend(onednn_f32_context()); }

static int gemm_kernel(const void *ctx, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                       int w_is_out_in, const backend_gemm_ops *ops) {
    int8_ctx *g = (int8_ctx *)(uintptr_t)ctx; /* logically const: only the cache and buffers change */
    static const backend_gemm_ops plain;
    if (!ops) ops = &plain;
    const qmat *e = g && N > 0 ? find_mat(g, w) : NULL;
    int rows = w_is_out_in ? OUT : IN, cols = w_is_out_in ? IN : OUT;
    if (!e || e->out_in != w_is_out_in || e->rows != rows || e->cols != cols || ops->in_bf16 || ops->out_bf16) {
        if (g) atomic_fetch_add(&g->n_f32, 1);
        return backend_gemm(fallback(), out, inp, w, N, IN, OUT, w_is_out_in, ops);
    }
    size_t scratch = 0;
    int own, ok = 0, shared = 0;
    dnnl_memory_desc_t wmd;
    dnnl_primitive_t p = get_prim(g, N, IN, OUT, w_is_out_in, &scratch, &wmd, &own);
    if (!p) return 0;
    void *wtmp;
    const void *wq = weights_for(g, (qmat *)(uintptr_t)e, &wmd, &wtmp);
    /* The quantised input, its row scales and oneDNN's scratchpad: the
     * context's buffer, grown to the largest GEMM seen (a fresh one per
     * call would fault its pages in every time), or a private one when
     * another thread holds it. */
    size_t nx = (size_t)N * IN, xs = ((nx + 63) / 64) * 64 + ((size_t)N * sizeof(float) + 63) / 64 * 64;
    size_t need = xs + scratch;
    void *buf = NULL, *mine = NULL;
    if ((shared = pthread_mutex_trylock(&g->x_lock) == 0)) {
        if (g->x_cap < need) {
            free(g->x);
            g->x = aligned_alloc(64, (need + 63) / 64 * 64);
            g->x_cap = g->x ? need : 0;
        }
        buf = g->x;
    } else {
        buf = mine = aligned_alloc(64, (need + 63) / 64 * 64);
    }
    if (buf && wq) {
        uint8_t *xq = buf;
        /* the row scales after the bytes, float-aligned */
        float *sx = (float *)(void *)((char *)buf + ((nx + 63) / 64) * 64);
        quantise_rows(xq, sx, inp, N, IN);
        cache_entry k = {N, IN, OUT, w_is_out_in, p, scratch, wmd};
        ok = execute(g, p, &k, xq, wq, &wmd, out, scratch ? (char *)buf + xs : NULL, scratch);
        if (ok) epilogue(out, sx, e->scale, e->colsum, N, OUT, ops);
    }
    if (own) dnnl_primitive_destroy(p);
    if (shared) pthread_mutex_unlock(&g->x_lock);
    free(mine);
    free(wtmp);
    if (ok) atomic_fetch_add(&g->n_int8, 1);
    return ok;
}

/* Attention stays float32 (see docs/performance.md): the f32 backend's. */
static int attention_kernel(const void *ctx, void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16,
                            int out_bf16) {
    (void)ctx;
    const infer_backend *f = fallback();
    return f && f->attention ? f->attention(f->ctx, out, qkv, B, T, C, NH, in_bf16, out_bf16) : 0;
}

double int8_probe_gops(int n) {
    dnnl_engine_t eng = NULL;
    dnnl_stream_t st = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t pr = NULL;
    dnnl_memory_t mem[3] = {NULL, NULL, NULL};
    dnnl_memory_desc_t d[3];
    dnnl_dims_t dims[3] = {{n, n}, {n, n}, {n, n}};
    dnnl_data_type_t ty[3] = {dnnl_u8, dnnl_s8, dnnl_s32};
    dnnl_matmul_desc_t md;
    double best = 0;
    int ok = dnnl_engine_create(&eng, dnnl_cpu, 0) == dnnl_success &&
             dnnl_stream_create(&st, eng, dnnl_stream_default_flags) == dnnl_success;
    for (int i = 0; ok && i < 3; i++)
        ok = dnnl_memory_desc_init_by_tag(&d[i], 2, dims[i], ty[i], dnnl_ab) == dnnl_success &&
             dnnl_memory_create(&mem[i], &d[i], eng, DNNL_MEMORY_ALLOCATE) == dnnl_success;
    ok = ok && dnnl_matmul_desc_init(&md, &d[0], &d[1], NULL, &d[2]) == dnnl_success &&
         dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) == dnnl_success &&
         dnnl_primitive_create(&pr, pd) == dnnl_success;
    for (int i = 0; ok && i < 2; i++) { /* small values: no overflow, and the same work as any */
        void *h = NULL;
        ok = dnnl_memory_get_data_handle(mem[i], &h) == dnnl_success;
        if (ok) memset(h, 3, (size_t)n * n);
    }
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]}};
    double t_best = 1e30;
    for (int r = 0; ok && r < 4; r++) {
        double t0 = clipc_now();
        ok = dnnl_primitive_execute(pr, st, 3, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
        double dt = clipc_now() - t0;
        if (ok && r > 0 && dt < t_best) t_best = dt; /* the first call warms up */
    }
    if (ok && t_best < 1e30) best = 2.0 * n * n * (double)n / t_best / 1e9;
    if (pr) dnnl_primitive_destroy(pr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    for (int i = 0; i < 3; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    if (st) dnnl_stream_destroy(st);
    if (eng) dnnl_engine_destroy(eng);
    return best;
}
