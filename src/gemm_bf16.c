/*
 * gemm_bf16.c — bfloat16 inference GEMMs on oneDNN's matmul primitive.
 *
 * Why oneDNN: OpenBLAS 0.3.21 (Debian 12) has no sbgemm, and a bf16 GEMM
 * near the machine's peak (AVX512_BF16's vdpbf16ps, packed panels, cache
 * blocking) is exactly what a library should do, not us.  On the encode
 * shapes (M = 64 x 197 rows, K = 768, N = 768..3072) it ran 1.9-2.1x
 * OpenBLAS sgemm on 2 threads, activation conversion included.
 *
 * What stays float32: activations between GEMMs, layer norms, softmax,
 * attention (its per-head GEMMs are small), residuals, biases, outputs.
 * Only the weight matrices (converted once) and each GEMM's input
 * (converted per call) are bf16; products accumulate in f32.
 *
 * Primitives are cached per (M, K, N, weight layout) without eviction, so a
 * primitive is never destroyed while another thread runs it; past
 * CACHE_MAX shapes a call builds a primitive for itself and drops it.
 * libdnnl is built on the same OpenMP runtime (libgomp) as OpenBLAS and our
 * loops, so clipc_set_threads applies to it too.
 */
#include "gemm_bf16.h"

#include <dnnl.h>
#include <pthread.h>
#include <stdlib.h>

#include "util.h"

#define CACHE_MAX 256
#define PAR_MIN 32768 /* conversions smaller than this stay on one thread */

typedef struct {
    int M, K, N, out_in;
    dnnl_primitive_t prim;
} cache_entry;

struct gemm_bf16 {
    const float *params; /* the f32 buffer the bf16 copy mirrors */
    size_t n;
    uint16_t *w;         /* n bf16 values, same offsets as params */
    dnnl_engine_t engine;
    pthread_mutex_t lock; /* guards the cache */
    cache_entry cache[CACHE_MAX];
    int n_cache;
    pthread_mutex_t x_lock; /* held by the call using x */
    uint16_t *x;            /* bf16 GEMM input, reused call after call */
    size_t x_cap;           /* elements */
};

static _Thread_local const gemm_bf16 *bound;
static int forced_off;

int gemm_bf16_available(void) {
    if (forced_off) return 0;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

void gemm_bf16_force_unavailable(int on) { forced_off = on; }

static void to_bf16(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = gemm_f32_to_bf16(src[i]);
}

clipc_status gemm_bf16_create(gemm_bf16 **out, const float *params, size_t n) {
    *out = NULL;
    gemm_bf16 *g = clipc_calloc(1, sizeof *g, "bf16 weights");
    if (!g) return CLIPC_ERR_NOMEM;
    size_t bytes;
    if (clipc_mul_overflow(n ? n : 1, sizeof(uint16_t), &bytes)) {
        free(g);
        return clipc_error(CLIPC_ERR_NOMEM, "bf16 weights: %zu parameters overflow", n);
    }
    g->w = clipc_malloc(bytes, "bf16 weights");
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
    *out = g;
    return CLIPC_OK;
}

void gemm_bf16_free(gemm_bf16 *g) {
    if (!g) return;
    for (int i = 0; i < g->n_cache; i++) dnnl_primitive_destroy(g->cache[i].prim);
    dnnl_engine_destroy(g->engine);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->x_lock);
    free(g->x);
    free(g->w);
    free(g);
}

const gemm_bf16 *gemm_bf16_bind(const gemm_bf16 *g) {
    const gemm_bf16 *prev = bound;
    bound = g;
    return prev;
}

/* A matmul src (M, K) bf16 x weights (K, N) bf16 -> dst (M, N) f32.  The
 * weights are (K, N) row-major ("ab") for x P, or nn.Linear's (N, K)
 * row-major, which is (K, N) with tag "ba". */
static dnnl_primitive_t make_prim(dnnl_engine_t engine, int M, int K, int N, int out_in) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
    if (dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_bf16, out_in ? dnnl_ba : dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab))
        return NULL;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &a, &b, NULL, &c)) return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL)) return NULL;
    dnnl_primitive_t p = NULL;
    if (dnnl_primitive_create(&p, pd)) p = NULL;
    dnnl_primitive_desc_destroy(pd);
    return p;
}

/* The cached primitive for a shape (*own = 0), or a fresh one the caller
 * destroys (*own = 1) once the cache is full. */
static dnnl_primitive_t get_prim(gemm_bf16 *g, int M, int K, int N, int out_in, int *own) {
    *own = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n_cache; i++) {
        cache_entry *e = &g->cache[i];
        if (e->M == M && e->K == K && e->N == N && e->out_in == out_in) {
            dnnl_primitive_t p = e->prim;
            pthread_mutex_unlock(&g->lock);
            return p;
        }
    }
    dnnl_primitive_t p = make_prim(g->engine, M, K, N, out_in);
    if (p && g->n_cache < CACHE_MAX)
        g->cache[g->n_cache++] = (cache_entry){M, K, N, out_in, p};
    else if (p)
        *own = 1;
    pthread_mutex_unlock(&g->lock);
    return p;
}

int gemm_bf16_try(float *out, const float *inp, const float *w, int N, int IN, int OUT, int w_is_out_in) {
    /* The context is logically const for callers (a model is read-only);
     * only its cache, under its lock, changes. */
    gemm_bf16 *g = (gemm_bf16 *)bound;
    if (!g || N <= 0) return 0;
    /* Integer compare: relational operators on pointers into different
     * objects are undefined. */
    uintptr_t lo = (uintptr_t)g->params, at = (uintptr_t)w;
    if (at < lo || at >= lo + g->n * sizeof(float) || (at - lo) % sizeof(float)) return 0;
    size_t off = (at - lo) / sizeof(float);
    if ((size_t)IN * OUT > g->n - off) return 0;
    int own;
    dnnl_primitive_t p = get_prim(g, N, IN, OUT, w_is_out_in, &own);
    if (!p) return 0;
    int done = 0;
    /* The input in bf16: the context's buffer, grown to the largest GEMM
     * seen, so the steady state allocates nothing (a fresh 77 MB buffer per
     * call cost 4 % of ViT-B-32 encoding in zeroing pages); a thread that
     * finds it in use by another thread allocates its own. */
    size_t nx = (size_t)N * IN;
    uint16_t *x = NULL, *mine = NULL;
    int shared = pthread_mutex_trylock(&g->x_lock) == 0;
    if (shared) {
        if (g->x_cap < nx) {
            free(g->x);
            g->x = malloc(nx * sizeof *g->x);
            g->x_cap = g->x ? nx : 0;
        }
        x = g->x;
    } else {
        x = mine = malloc(nx * sizeof *x);
    }
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {N, IN}, bd = {IN, OUT}, cd = {N, OUT};
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL;
    dnnl_stream_t st = NULL;
    if (!x) goto done;
    to_bf16(x, inp, nx);
    if (dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_bf16, w_is_out_in ? dnnl_ba : dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab))
        goto done;
    if (dnnl_memory_create(&am, &a, g->engine, x) || dnnl_memory_create(&bm, &b, g->engine, g->w + off) ||
        dnnl_memory_create(&cm, &c, g->engine, out) ||
        dnnl_stream_create(&st, g->engine, dnnl_stream_default_flags))
        goto done;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (dnnl_primitive_execute(p, st, 3, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success) done = 1;
done:
    if (st) dnnl_stream_destroy(st);
    if (am) dnnl_memory_destroy(am);
    if (bm) dnnl_memory_destroy(bm);
    if (cm) dnnl_memory_destroy(cm);
    if (own) dnnl_primitive_destroy(p);
    if (shared) pthread_mutex_unlock(&g->x_lock);
    free(mine);
    return done;
}
