/*
 * loss_soft.c — the notebook's (moein-shariatnia/OpenAI-CLIP) loss:
 *   Z = txt img^T / t,   Y = softmax_rows((img img^T + txt txt^T) / 2 * t),
 *   texts_loss_i  = -sum_j Y[i][j] log softmax_rows(Z)[i][j]
 *   images_loss_j = -sum_i Y[i][j] log softmax_cols(Z)[i][j]
 *   loss = mean over the batch of (texts_loss + images_loss) / 2
 * on unnormalised embeddings.  Kept because users of that tutorial ask for
 * it (`--loss soft`); it is known to collapse (every vector alike gives
 * uniform targets and a low loss: the notebook's issues #16 and #27), which
 * is why seed 002's hard-target loss is the default.
 *
 * Backward, with G = -(log Pr + log Pc) / 2B (d loss / d Y) and c_j the
 * column sums of Y (rows of Y sum to one, columns need not):
 *   dZ[i][j] = (Pr - Y + Pc * c_j - Y)[i][j] / 2B
 *   dS = Y * (G - rowsum(Y * G))               (softmax backward, per row)
 *   dtxt = dZ img / t + t/2 (dS + dS^T) txt,  dimg = dZ^T txt / t + t/2 (dS + dS^T) img
 */
#include <math.h>
#include <string.h>

#include "nn/loss_soft.h"
#include "kernels/gemm.h"

size_t soft_loss_cache_floats(int B) { return 5 * (size_t)B * B; }

void soft_loss_cache_bind(soft_loss_cache *c, float *mem, int B) {
    size_t BB = (size_t)B * B;
    c->logits = mem, c->targets = mem + BB, c->p_row = mem + 2 * BB, c->p_col = mem + 3 * BB;
    c->scratch = mem + 4 * BB;
}

/* Softmax along rows (stride_in 1 between elements, B between rows) or
 * along columns; p is written in the same [i][j] layout as x. */
static void softmax_lines(float *p, const float *x, int B, int cols) {
    for (int a = 0; a < B; a++) {
        size_t step = cols ? (size_t)B : 1, base = cols ? (size_t)a : (size_t)a * B;
        float mx = -INFINITY;
        for (int k = 0; k < B; k++) mx = fmaxf(mx, x[base + k * step]);
        double s = 0.0;
        for (int k = 0; k < B; k++) s += exp((double)x[base + k * step] - mx);
        for (int k = 0; k < B; k++) p[base + k * step] = (float)(exp((double)x[base + k * step] - mx) / s);
    }
}

float soft_loss_forward(soft_loss_cache *c, const float *img, const float *txt, float t, int B, int E) {
    size_t BB = (size_t)B * B;
    gemm_f32(0, 1, B, B, E, 1.0f / t, txt, E, img, E, 0.0f, c->logits, B);
    /* similarity (img img^T + txt txt^T) / 2 * t, in scratch, then its row softmax */
    gemm_f32(0, 1, B, B, E, 0.5f * t, img, E, img, E, 0.0f, c->scratch, B);
    gemm_f32(0, 1, B, B, E, 0.5f * t, txt, E, txt, E, 1.0f, c->scratch, B);
    softmax_lines(c->targets, c->scratch, B, 0);
    softmax_lines(c->p_row, c->logits, B, 0);
    softmax_lines(c->p_col, c->logits, B, 1);
    double loss = 0.0;
    for (size_t k = 0; k < BB; k++)
        loss -= (double)c->targets[k] * (log((double)c->p_row[k]) + log((double)c->p_col[k]));
    return (float)(loss / (2.0 * B));
}

void soft_loss_backward(float *dimg, float *dtxt, const soft_loss_cache *c, const float *img, const float *txt,
                        float t, int B, int E) {
    const float *Y = c->targets, *Pr = c->p_row, *Pc = c->p_col;
    float *dS = c->scratch;
    float inv = 1.0f / (2.0f * B);
    /* dS first (it needs Y and the log-probabilities), per row i */
    for (int i = 0; i < B; i++) {
        double dot = 0.0;
        for (int j = 0; j < B; j++) {
            size_t k = (size_t)i * B + j;
            float G = -(logf(Pr[k]) + logf(Pc[k])) * inv;
            dot += (double)Y[k] * G;
        }
        for (int j = 0; j < B; j++) {
            size_t k = (size_t)i * B + j;
            float G = -(logf(Pr[k]) + logf(Pc[k])) * inv;
            dS[k] = Y[k] * (G - (float)dot);
        }
    }
    /* symmetrise: dS + dS^T (the similarity is symmetric in its inputs) */
    for (int i = 0; i < B; i++)
        for (int j = i; j < B; j++) {
            float s = dS[(size_t)i * B + j] + dS[(size_t)j * B + i];
            dS[(size_t)i * B + j] = dS[(size_t)j * B + i] = s;
        }
    gemm_f32(0, 0, B, E, B, 0.5f * t, dS, B, img, E, 0.0f, dimg, E);
    gemm_f32(0, 0, B, E, B, 0.5f * t, dS, B, txt, E, 0.0f, dtxt, E);
    /* dZ, over p_row's storage would break const: build it in dS (done with it) */
    float *dZ = dS;
    for (int j = 0; j < B; j++) {
        double cj = 0.0;
        for (int i = 0; i < B; i++) cj += Y[(size_t)i * B + j];
        for (int i = 0; i < B; i++) {
            size_t k = (size_t)i * B + j;
            dZ[k] = (Pr[k] - 2.0f * Y[k] + Pc[k] * (float)cj) * inv;
        }
    }
    gemm_f32(0, 0, B, E, B, 1.0f / t, dZ, B, img, E, 1.0f, dtxt, E);
    gemm_f32(1, 0, B, E, B, 1.0f / t, dZ, B, txt, E, 1.0f, dimg, E);
}
