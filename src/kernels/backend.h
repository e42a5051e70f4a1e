/*
 * backend.h — the seam between the inference layers and the kernels that
 * run them: an infer_backend is a context plus the kernels the fused
 * inference forward calls (GEMMs with their bias, activation and residual
 * fused, and the batched attention of equal-length sequences).
 *
 * Nothing is bound behind the caller's back: encode.c takes the backend
 * of the model's precision (model_backend) and passes it to the towers,
 * which pass it to linear_forward, matmul_forward and block_forward.  NULL
 * means none: every product is OpenBLAS float32 through gemm_f32 (gemm.h),
 * as training always computes.  Today's backends are oneDNN's (onednn.h:
 * float32, and bf16 on a twin of the weights; int8.h: s8 copies of the
 * weight matrices); another (CUDA) is one
 * more set of these kernels, the layers stay as they are.
 */
#ifndef CLIPC_BACKEND_H
#define CLIPC_BACKEND_H

/* What a fused GEMM applies around inp x W: the bias, the activation and a
 * residual add cost no pass of their own, and a bf16 output can feed the
 * next GEMM without a conversion. */
enum { BACKEND_ACT_NONE = 0, BACKEND_ACT_QUICKGELU, BACKEND_ACT_GELU };
typedef struct {
    const float *bias;     /* OUT floats added to every row, or NULL */
    int act;               /* BACKEND_ACT_*, applied after the bias */
    const float *residual; /* N x OUT floats added last, or NULL (must not overlap out) */
    int in_bf16;           /* inp holds N x IN bf16 values (an out_bf16 output) */
    int out_bf16;          /* out receives N x OUT bf16 values */
} backend_gemm_ops;

typedef struct {
    const char *name; /* e.g. "onednn-bf16", for messages */
    const void *ctx; /* the kernels' state (weights twin, caches), passed back to them */
    int lowp;        /* 1: the fused forward hands activations between kernels in bf16 */
    /* out (N, OUT) = ops(inp (N, IN) times w), with w (OUT, IN) when
     * w_is_out_in (nn.Linear, x W^T) or (IN, OUT) otherwise (x P); ops may
     * be NULL (a plain product).  Returns 1 when done, 0 when the caller
     * must compute it (this backend does not hold w, or refused); out is to
     * be recomputed then, inp is untouched. */
    int (*gemm)(const void *ctx, void *out, const void *inp, const float *w, int N, int IN, int OUT,
                int w_is_out_in, const backend_gemm_ops *ops);
    /* Attention without a causal mask over B sequences of T tokens each:
     * qkv (B T, 3C) packed q | k | v, NH heads, floats or bf16 (in_bf16),
     * into out (B T, C), floats or bf16 (out_bf16, with in_bf16).  Returns
     * 0 when not done (the caller runs attention.c); NULL when the backend
     * has no batched attention. */
    int (*attention)(const void *ctx, void *out, const void *qkv, int B, int T, int C, int NH, int in_bf16,
                     int out_bf16);
} infer_backend;

/* be's GEMM, or 0 (not done) when there is no backend. */
static inline int backend_gemm(const infer_backend *be, void *out, const void *inp, const float *w, int N, int IN,
                               int OUT, int w_is_out_in, const backend_gemm_ops *ops) {
    return be ? be->gemm(be->ctx, out, inp, w, N, IN, OUT, w_is_out_in, ops) : 0;
}

#endif
