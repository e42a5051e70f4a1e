/*
 * text.c — OpenAI's text transformer: token + positional embedding, the
 * residual blocks under a causal mask, ln_final, the feature at the EOT
 * position (argmax of the ids: EOT = 49407 is the largest id), then
 * x @ text_projection.
 *
 * Only the pooled EOT rows go through ln_final: the other positions never
 * reach the output, and under the causal mask positions after a caption's
 * EOT cannot reach it either.  So each caption runs only up to its own EOT
 * and the captions are packed back to back (rows = sum of lengths, about
 * half of batch x longest for the peer's random lengths): layer norms,
 * linear layers and the MLP are row-wise and see N packed rows; attention
 * works per caption over its own block (attention.c).  The result is the
 * padded computation's; dropout indices are those of the packed rows.
 * In inference the caller's backend (backend.h) goes to every GEMM;
 * training passes none.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/text_tower.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "kernels/backend.h"
#include "nn/block.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/seqs.h"

int text_eot_index(const int32_t *row, int ctx) {
    int best = 0;
    for (int t = 1; t < ctx; t++)
        if (row[t] > row[best]) best = t;
    return best;
}

int text_packed_rows(const int32_t *ids, int B, int ctx) {
    int n = 0;
    for (int b = 0; b < B; b++) n += text_eot_index(ids + (size_t)b * ctx, ctx) + 1;
    return n;
}

clipc_status text_acts_alloc(text_acts *a, const clipc_config *c, int B, int R, int training) {
    memset(a, 0, sizeof *a);
    a->B = B;
    a->R = R;
    a->T = c->context_length;
    a->C = c->transformer_width;
    a->E = c->embed_dim;
    a->NH = c->transformer_heads;
    a->L = c->transformer_layers;
    a->training = training;
    size_t RC = (size_t)R * a->C, C = (size_t)a->C;
    size_t blk = block_acts_floats((size_t)R, a->C, a->NH, training);
    size_t n = RC + (training ? (size_t)a->L * blk : blk + 2 * RC) + block_shared_floats((size_t)R, a->T, a->C) +
               3 * (size_t)B * C + 2 * (size_t)B;
    if (training) n += RC + (size_t)B * C + block_grad_scratch_floats((size_t)R, a->C);
    a->mem = mem_alloc(n * sizeof(float), "text activations");
    a->blocks = mem_calloc((size_t)a->L, sizeof(block_acts), "text blocks");
    a->eot = mem_calloc((size_t)B, sizeof(int), "text eot");
    a->off = mem_calloc((size_t)B + 1, sizeof(int), "text offsets");
    if (!a->mem || !a->blocks || !a->eot || !a->off) {
        text_acts_free(a);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory: text activations for batch %d need %.1f MiB", B,
                           (double)n * 4 / 1048576);
    }
    float *m = a->mem;
    a->x0 = m; m += RC;
    float *bshared = m;
    m += block_shared_floats((size_t)R, a->T, a->C);
    if (training) {
        for (int l = 0; l < a->L; l++) m = block_acts_bind(&a->blocks[l], m, bshared, (size_t)R, a->C, a->NH, 1);
    } else {
        float *shared = m;
        m += blk;
        float *ping = m, *pong = m + RC;
        m += 2 * RC;
        for (int l = 0; l < a->L; l++) {
            block_acts_bind(&a->blocks[l], shared, bshared, (size_t)R, a->C, a->NH, 0);
            a->blocks[l].out = (l & 1) ? pong : ping;
        }
    }
    a->pooled = m; m += (size_t)B * C;
    a->lnf = m; m += (size_t)B * C;
    a->lnf_mean = m; m += B;
    a->lnf_rstd = m; m += B;
    a->dpooled = m; m += (size_t)B * C; /* also the d(ln_final output) in backward */
    if (training) {
        a->dx = m; m += RC;
        a->dlnf = m; m += (size_t)B * C;
        m = block_grad_scratch_bind(&a->gs, m, (size_t)R, a->C);
        /* training: the activation lives in the grad scratch (backward rebuilds it there) */
        for (int l = 0; l < a->L; l++) a->blocks[l].h = a->gs.dfch;
    }
    return CLIPC_OK;
}

void text_acts_free(text_acts *a) {
    free(a->mem);
    free(a->blocks);
    free(a->eot);
    free(a->off);
    memset(a, 0, sizeof *a);
}

int text_forward(text_acts *a, float *feat, const int32_t *ids, const text_weights *w, const clipc_config *c,
                 int B, int T, const infer_backend *be) {
    int C = a->C, ctx = c->context_length, Tmax = 1, failed = 0;
    a->off[0] = 0;
    for (int b = 0; b < B; b++) {
        int e = text_eot_index(ids + (size_t)b * ctx, ctx);
        if (T > 0 && e >= T) e = T - 1; /* callers pick T > every EOT; stay in bounds regardless */
        a->eot[b] = e;
        int len = T > 0 ? T : e + 1;
        a->off[b + 1] = a->off[b] + len;
        if (len > Tmax) Tmax = len;
    }
    a->sq = (seqs){B, Tmax, a->off};
    token_embedding_forward(a->x0, ids, w->tok_emb, w->pos_emb, &a->sq, ctx, C);
    const float *x = a->x0;
    for (int l = 0; l < a->L; l++) {
        block_dropout d;
        failed |= block_forward(&a->blocks[l], x, &w->blocks[l], &a->sq, C, a->NH, 1, c->act,
                                tower_dropout(&d, a->dropout, a->dropout_seed, 1, l), be);
        x = a->blocks[l].out;
    }
    for (int b = 0; b < B; b++)
        memcpy(a->pooled + (size_t)b * C, x + ((size_t)a->off[b] + a->eot[b]) * C, (size_t)C * sizeof(float));
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->pooled, w->ln_final_w, w->ln_final_b, B, C);
    matmul_forward(feat, a->lnf, w->proj, B, C, a->E, be);
    return failed;
}

void text_backward(text_acts *a, const text_weights *g, const float *dfeat, const int32_t *ids,
                   const text_weights *w, const clipc_config *c, int B) {
    int C = a->C, ctx = c->context_length;
    matmul_backward(a->dlnf, g->proj, dfeat, a->lnf, w->proj, B, C, a->E);
    memset(a->dpooled, 0, (size_t)B * C * sizeof(float));
    layernorm_backward(a->dpooled, g->ln_final_w, g->ln_final_b, a->dlnf, a->pooled, w->ln_final_w, a->lnf_mean,
                       a->lnf_rstd, B, C);
    memset(a->dx, 0, (size_t)seqs_rows(&a->sq) * C * sizeof(float));
    for (int b = 0; b < B; b++)
        memcpy(a->dx + ((size_t)a->off[b] + a->eot[b]) * C, a->dpooled + (size_t)b * C, (size_t)C * sizeof(float));
    for (int l = a->L - 1; l >= 0; l--) {
        const float *x = l == 0 ? a->x0 : a->blocks[l - 1].out;
        block_dropout d;
        block_backward(a->dx, &g->blocks[l], a->dx, x, &a->blocks[l], &w->blocks[l], &a->gs, &a->sq, C, a->NH, 1,
                       c->act, tower_dropout(&d, a->dropout, a->dropout_seed, 1, l));
    }
    token_embedding_backward(g->tok_emb, g->pos_emb, a->dx, ids, &a->sq, ctx, C);
}
