/*
 * embedding.c — how inputs become token sequences: token + positional
 * embedding for text, and the ViT patch embedding (conv1 with kernel =
 * stride = patch size, no bias, as an im2col + GEMM), class token and
 * positional embedding for images.
 */
#include <string.h>

#include "nn/embedding.h"
#include "nn/seqs.h"

void token_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos, const seqs *sq,
                             int ctx, int C) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < sq->B; b++)
        for (int t = 0; t < sq->T; t++) {
            if (t >= seqs_len(sq, b)) continue;
            const float *e = tok + (size_t)ids[(size_t)b * ctx + t] * C, *p = pos + (size_t)t * C;
            float *y = out + ((size_t)seqs_off(sq, b) + t) * C;
            for (int i = 0; i < C; i++) y[i] = e[i] + p[i];
        }
}

void token_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids, const seqs *sq,
                              int ctx, int C) {
    /* Rows of dtok may repeat (the same token twice), so they are summed in
     * the fixed (b, t) order; threads split the columns instead. */
    int nblk = (C + 63) / 64, B = sq->B;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int i0 = blk * 64, i1 = i0 + 64 < C ? i0 + 64 : C;
        for (int b = 0; b < B; b++)
            for (int t = 0, n = seqs_len(sq, b); t < n; t++) {
                const float *g = dout + ((size_t)seqs_off(sq, b) + t) * C;
                float *d = dtok + (size_t)ids[(size_t)b * ctx + t] * C;
                for (int i = i0; i < i1; i++) d[i] += g[i];
            }
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < sq->T; t++)
        for (int b = 0; b < B; b++) {
            if (t >= seqs_len(sq, b)) continue;
            const float *g = dout + ((size_t)seqs_off(sq, b) + t) * C;
            float *d = dpos + (size_t)t * C;
            for (int i = 0; i < C; i++) d[i] += g[i];
        }
}

void patch_im2col(float *cols, const float *pixels, int B, int R, int P) {
    int G = R / P, K = 3 * P * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float *row = cols + ((size_t)b * G * G + (size_t)gy * G + gx) * K;
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < P; ky++) {
                        const float *src = pixels + (((size_t)b * 3 + c) * R + (size_t)gy * P + ky) * R + (size_t)gx * P;
                        memcpy(row + (c * P + ky) * P, src, (size_t)P * sizeof(float));
                    }
            }
}

void vision_embed_forward(float *x, const float *patch_out, const float *class_emb, const float *pos_emb,
                          int B, int GG, int W) {
    int T = GG + 1;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *src = t == 0 ? class_emb : patch_out + ((size_t)b * GG + t - 1) * W;
            const float *p = pos_emb + (size_t)t * W;
            float *y = x + ((size_t)b * T + t) * W;
            for (int i = 0; i < W; i++) y[i] = src[i] + p[i];
        }
}

void vision_embed_backward(float *dpatch, float *dclass, float *dpos, const float *dx, int B, int GG, int W) {
    int T = GG + 1;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int p = 0; p < GG; p++)
            memcpy(dpatch + ((size_t)b * GG + p) * W, dx + ((size_t)b * T + p + 1) * W, (size_t)W * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const float *g = dx + ((size_t)b * T + t) * W;
            float *d = dpos + (size_t)t * W;
            for (int i = 0; i < W; i++) d[i] += g[i];
            if (t == 0)
                for (int i = 0; i < W; i++) dclass[i] += g[i];
        }
}
