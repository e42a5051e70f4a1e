/*
 * attention.c — the core of multi-head self-attention, on the packed qkv
 * that in_proj produces (q | k | v per row, as nn.MultiheadAttention packs
 * in_proj_weight).  Per (batch, head): scores = q k^T / sqrt(hd), causal mask
 * (text tower) as -inf above the diagonal, softmax, times v.
 *
 * Each head reads its q, k, v straight out of the packed rows through the
 * GEMM leading dimension (3C), so nothing is copied or transposed.  The
 * (batch, head) pairs are independent and spread over threads; OpenBLAS
 * runs single-threaded inside an OpenMP region, so there is no
 * oversubscription and every result is independent of the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "layers.h"

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int causal) {
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * 3 * C + (size_t)h * hd;
            const float *k = q + C, *v = q + 2 * C;
            float *A = att + ((size_t)b * NH + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, 3 * C, k, 3 * C, 0.0f, A,
                        T);
            for (int i = 0; i < T; i++) {
                float *row = A + (size_t)i * T;
                int n = causal ? i + 1 : T;
                float mx = row[0];
                for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
                float s = 0.f;
                for (int j = 0; j < n; j++) {
                    row[j] = expf(row[j] - mx);
                    s += row[j];
                }
                float inv = 1.0f / s;
                for (int j = 0; j < n; j++) row[j] *= inv;
                for (int j = n; j < T; j++) row[j] = 0.f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, A, T, v, 3 * C, 0.0f,
                        out + (size_t)b * T * C + (size_t)h * hd, C);
        }
}

size_t attention_scratch_floats(int T) { return (size_t)omp_get_max_threads() * T * T; }

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH, int causal) {
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        /* One T x T slice of the scratch per thread for d(att). */
        float *dA = scratch + (size_t)omp_get_thread_num() * T * T;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                size_t row0 = (size_t)b * T * 3 * C + (size_t)h * hd;
                const float *q = qkv + row0, *k = q + C, *v = q + 2 * C;
                float *dq = dqkv + row0, *dk = dq + C, *dv = dq + 2 * C;
                const float *A = att + ((size_t)b * NH + h) * T * T;
                const float *dy = dout + (size_t)b * T * C + (size_t)h * hd;
                /* d(att) = dy v^T ; dv = att^T dy */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dy, C, v, 3 * C, 0.0f, dA,
                            T);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, A, T, dy, C, 0.0f, dv,
                            3 * C);
                /* softmax backward: dS = A * (dA - sum_j A dA); masked entries have A = 0. */
                for (int i = 0; i < T; i++) {
                    const float *a = A + (size_t)i * T;
                    float *d = dA + (size_t)i * T;
                    int n = causal ? i + 1 : T;
                    float s = 0.f;
                    for (int j = 0; j < n; j++) s += a[j] * d[j];
                    for (int j = 0; j < n; j++) d[j] = a[j] * (d[j] - s);
                    for (int j = n; j < T; j++) d[j] = 0.f;
                }
                /* dq = dS k * scale ; dk = dS^T q * scale */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dA, T, k, 3 * C, 0.0f, dq,
                            3 * C);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dA, T, q, 3 * C, 0.0f, dk,
                            3 * C);
            }
    }
}
