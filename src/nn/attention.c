/*
 * attention.c — the core of multi-head self-attention, on the packed qkv
 * that in_proj produces (q | k | v per row, as nn.MultiheadAttention packs
 * in_proj_weight).  Per (sequence, head): scores = q k^T / sqrt(hd), causal mask
 * (text tower), softmax, optional dropout, times v.
 *
 * Fused per (sequence, head): the T x T scores live only in a per-thread tile,
 * forward keeps each softmax row's (max, 1/sum), and backward recomputes the
 * probabilities from them bit for bit (one extra q k^T GEMM, a few per cent
 * of a block's FLOPs) instead of storing B*NH*T*T floats per layer — for
 * ViT-B/16 at batch 64 that is 119 MB per layer.  attention_recompute
 * rebuilds the output the same way, so blocks need not keep it either.
 *
 * Under the causal mask, rows are processed in blocks of ATT_RB and a block
 * only multiplies the columns it can see, so the masked upper triangle is
 * never computed (about a third of the attention FLOPs at T = 77).
 *
 * Sequences may have different lengths (the text tower packs each caption
 * only up to its EOT, see text.c): each (sequence, head) is one unit of
 * work over its own Ts x Ts block, its tile with leading dimension Ts.
 *
 * Each head reads its q, k, v straight out of the packed rows through the
 * GEMM leading dimension (3C), so nothing is copied or transposed.  The
 * (sequence, head) pairs are independent and spread over threads (dynamic
 * schedule: with ragged lengths their costs differ; which thread runs a
 * pair does not change its bits); OpenBLAS
 * runs single-threaded inside an OpenMP region, so there is no
 * oversubscription, and every sum has a fixed order inside one
 * (sequence, head), so results are independent of the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/attention.h"
#include "base/parallel.h"
#include "kernels/vec.h"
#include "nn/dropout.h"
#include "nn/seqs.h"

#define ATT_RB 32

size_t attention_scratch_floats(int T) { return (size_t)omp_get_max_threads() * 2 * T * T; }

/* Columns row block [i0, i0+rows) needs: all T, or up to its last row when causal. */
static int visible_cols(int i0, int rows, int T, int causal) { return causal ? i0 + rows : T; }

/* Columns of row i that the GEMMs of its block read (masked ones must be 0). */
static int row_width(int i, int rb, int T, int causal) {
    int end = i - i % rb + rb;
    return causal && end < T ? end : T;
}

/* S = scale * q k^T over the visible part, row block by row block (ld T). */
static void scores(float *S, const float *q, const float *k, int T, int hd, int ld, float scale, int causal) {
    int rb = causal ? ATT_RB : T;
    for (int i0 = 0; i0 < T; i0 += rb) {
        int rows = T - i0 < rb ? T - i0 : rb, n = visible_cols(i0, rows, T, causal);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hd, scale, q + (size_t)i0 * ld, ld, k, ld,
                    0.0f, S + (size_t)i0 * T, T);
    }
}

/* P = softmax(scale q k^T) of one (sequence, head) into P (ld T), masked entries
 * (of the columns the row block reads) zero.  stat holds (max, 1/sum) per
 * row: computed when !known, else read, so backward rebuilds the forward's
 * probabilities bit for bit. */
static void head_probs(float *P, float *stat, int known, const float *q, const float *k, int T, int hd, int ld,
                       float scale, int causal, int rb) {
    scores(P, q, k, T, hd, ld, scale, causal);
    for (int i = 0; i < T; i++) {
        float *row = P + (size_t)i * T;
        int n = causal ? i + 1 : T, w = row_width(i, rb, T, causal);
        float mx, inv;
        if (known) {
            mx = stat[2 * i];
            inv = stat[2 * i + 1];
            vec_exp_shift(row, (size_t)n, mx);
        } else {
            inv = vec_softmax_exp(row, (size_t)n, &mx);
            stat[2 * i] = mx;
            stat[2 * i + 1] = inv;
        }
        for (int j = 0; j < n; j++) row[j] *= inv;
        for (int j = n; j < w; j++) row[j] = 0.f;
    }
}

/* Element index of probability (s, h, 0, 0) in the concatenation of every
 * sequence's (NH, Ts, Ts) array: for a uniform batch ((s NH + h) T) T. */
static uint64_t prob_base(const seqs *sq, int s, int h, int NH) {
    uint64_t base = 0, T = (uint64_t)seqs_len(sq, s);
    if (!sq->off) base = (uint64_t)s * NH * T * T;
    else
        for (int r = 0; r < s; r++) {
            uint64_t t = (uint64_t)seqs_len(sq, r);
            base += (uint64_t)NH * t * t;
        }
    return base + (uint64_t)h * T * T;
}

/* Rough work of a call (for the single-thread threshold). */
static size_t att_work(const seqs *sq, int C) { return (size_t)seqs_rows(sq) * sq->T * C; }

/* In place: P becomes the dropped, rescaled probabilities; element (i, j)
 * has index base + i T + j. */
static void head_dropout(float *P, int T, int causal, uint64_t base, uint64_t seed, uint32_t thr, float dscale) {
    for (int i = 0; i < T; i++) {
        float *row = P + (size_t)i * T;
        int n = causal ? i + 1 : T;
        uint64_t e0 = base + (uint64_t)i * T;
        for (int j = 0; j < n; j++) row[j] = dropout_keep(seed, e0 + j, thr) ? row[j] * dscale : 0.0f;
    }
}

static void forward_impl(float *out, float *stats, int known, float *scratch, const float *qkv, const seqs *sq,
                         int C, int NH, int causal, float p, uint64_t seed) {
    int hd = C / NH, ld = 3 * C, B = sq->B;
    float scale = 1.0f / sqrtf((float)hd);
    dropout_params dp = dropout_params_of(p);
#pragma omp parallel if (att_work(sq, C) > PAR_MIN)
    {
        float *S = scratch + (size_t)omp_get_thread_num() * 2 * sq->T * sq->T;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                int T = seqs_len(sq, b), rb = causal ? ATT_RB : T;
                size_t r0 = (size_t)seqs_off(sq, b);
                const float *q = qkv + r0 * ld + (size_t)h * hd;
                const float *k = q + C, *v = q + 2 * C;
                head_probs(S, stats + (r0 * NH + (size_t)h * T) * 2, known, q, k, T, hd, ld, scale, causal, rb);
                if (dp.thr) head_dropout(S, T, causal, prob_base(sq, b, h, NH), seed, dp.thr, dp.scale);
                float *y = out + r0 * C + (size_t)h * hd;
                for (int i0 = 0; i0 < T; i0 += rb) {
                    int rows = T - i0 < rb ? T - i0 : rb, n = visible_cols(i0, rows, T, causal);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, n, 1.0f, S + (size_t)i0 * T, T,
                                v, ld, 0.0f, y + (size_t)i0 * C, C);
                }
            }
    }
}

void attention_forward(float *out, float *stats, float *scratch, const float *qkv, const seqs *sq, int C, int NH,
                       int causal, float p, uint64_t seed) {
    forward_impl(out, stats, 0, scratch, qkv, sq, C, NH, causal, p, seed);
}

void attention_recompute(float *out, const float *stats, float *scratch, const float *qkv, const seqs *sq, int C,
                         int NH, int causal, float p, uint64_t seed) {
    /* known = 1: stats are only read */
    forward_impl(out, (float *)stats, 1, scratch, qkv, sq, C, NH, causal, p, seed);
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *stats,
                        const seqs *sq, int C, int NH, int causal, float p, uint64_t seed) {
    int hd = C / NH, ld = 3 * C, B = sq->B;
    float scale = 1.0f / sqrtf((float)hd);
    dropout_params dp = dropout_params_of(p);
#pragma omp parallel if (att_work(sq, C) > PAR_MIN)
    {
        float *P = scratch + (size_t)omp_get_thread_num() * 2 * sq->T * sq->T;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                int T = seqs_len(sq, b), rb = causal ? ATT_RB : T;
                float *D = P + (size_t)T * T;
                size_t r0 = (size_t)seqs_off(sq, b), row0 = r0 * ld + (size_t)h * hd;
                uint64_t base = dp.thr ? prob_base(sq, b, h, NH) : 0;
                const float *q = qkv + row0, *k = q + C, *v = q + 2 * C;
                float *dq = dqkv + row0, *dk = dq + C, *dv = dq + 2 * C;
                const float *dy = dout + r0 * C + (size_t)h * hd;
                /* P: the forward's probabilities, bit for bit. */
                head_probs(P, (float *)(stats + (r0 * NH + (size_t)h * T) * 2), 1, q, k, T, hd, ld, scale, causal,
                           rb);
                /* dv = Pd^T dy, Pd the dropped probabilities (built in D). */
                const float *Pd = P;
                if (dp.thr) {
                    memcpy(D, P, (size_t)T * T * sizeof(float));
                    head_dropout(D, T, causal, base, seed, dp.thr, dp.scale);
                    Pd = D;
                }
                /* Last row block first: it sees every column, so its beta = 0
                 * initialises all of dv; earlier blocks add to their prefix. */
                int last = (T - 1) / rb * rb;
                for (int i0 = last; i0 >= 0; i0 -= rb) {
                    int rows = T - i0 < rb ? T - i0 : rb, n = visible_cols(i0, rows, T, causal);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, rows, 1.0f, Pd + (size_t)i0 * T, T,
                                dy + (size_t)i0 * C, C, i0 == last ? 0.0f : 1.0f, dv, ld);
                }
                /* D = dy v^T = d(dropped probabilities). */
                for (int i0 = 0; i0 < T; i0 += rb) {
                    int rows = T - i0 < rb ? T - i0 : rb, n = visible_cols(i0, rows, T, causal);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hd, 1.0f, dy + (size_t)i0 * C, C, v,
                                ld, 0.0f, D + (size_t)i0 * T, T);
                }
                /* softmax backward: dS = P * (dP - sum_j P dP), dP = D * mask / (1-p),
                 * times the score scale; masked entries stay zero. */
                for (int i = 0; i < T; i++) {
                    const float *a = P + (size_t)i * T;
                    float *d = D + (size_t)i * T;
                    int n = causal ? i + 1 : T;
                    if (dp.thr) {
                        uint64_t e0 = base + (uint64_t)i * T;
                        for (int j = 0; j < n; j++) d[j] = dropout_keep(seed, e0 + j, dp.thr) ? d[j] * dp.scale : 0.f;
                    }
                    float s = 0.f;
                    for (int j = 0; j < n; j++) s += a[j] * d[j];
                    for (int j = 0; j < n; j++) d[j] = a[j] * (d[j] - s) * scale;
                    for (int j = n, w = row_width(i, rb, T, causal); j < w; j++) d[j] = 0.f;
                }
                /* dq = dS k ; dk = dS^T q (the scale is already in dS) */
                for (int i0 = last; i0 >= 0; i0 -= rb) {
                    int rows = T - i0 < rb ? T - i0 : rb, n = visible_cols(i0, rows, T, causal);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, n, 1.0f, D + (size_t)i0 * T, T,
                                k, ld, 0.0f, dq + (size_t)i0 * ld, ld);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, rows, 1.0f, D + (size_t)i0 * T, T,
                                q + (size_t)i0 * ld, ld, i0 == last ? 0.0f : 1.0f, dk, ld);
                }
            }
    }
}
