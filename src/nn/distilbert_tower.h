/*
 * distilbert_tower.h — the tutorial's text tower (seed 002): Hugging Face's
 * DistilBertModel over WordPiece ids, pooled at [CLS] (distilbert_tower.c).
 */
#ifndef CLIPC_NN_DISTILBERT_TOWER_H
#define CLIPC_NN_DISTILBERT_TOWER_H

#include <stdint.h>

#include "clipc.h"
#include "nn/params.h"
#include "nn/seqs.h"

/* One transformer layer's activations over the N packed rows of a forward.
 * Training keeps a set per layer; inference shares one set between the
 * layers, the output alternating between two buffers. */
typedef struct {
    float *qkv;                 /* (N, 3C) q | k | v per row, biases added */
    float *att_stats;           /* (N, NH, 2) softmax row (max, 1/sum), attention.c */
    float *atty;                /* (N, C) heads concatenated, before out_lin */
    float *s1;                  /* (N, C) x + out_lin(atty): input of sa_layer_norm */
    float *ln1_mean, *ln1_rstd; /* (N) */
    float *x1;                  /* (N, C) sa_layer_norm output */
    float *fch;                 /* (N, 4C) lin1 output (before GELU) */
    float *s2;                  /* (N, C) x1 + drop(lin2(gelu(fch))): input of output_layer_norm */
    float *ln2_mean, *ln2_rstd; /* (N) */
    float *out;                 /* (N, C) output_layer_norm output = the layer's hidden state */
} distilbert_layer_acts;

typedef struct {
    int B, T, R, C, NH, L, training; /* capacity: captions, context (row stride of ids), packed rows */
    int ctx;                         /* the last forward's T */
    float dropout;                   /* training only: probability and step seed (0 = off) */
    uint64_t dropout_seed;
    float *mem;
    int *off;                   /* (B+1) row offsets of the last forward's captions */
    seqs sq;                    /* the last forward's layout (off = the array above) */
    float *emb;                 /* (R, C) word + position embedding: input of embeddings.LayerNorm */
    float *emb_mean, *emb_rstd; /* (R) */
    float *x0;                  /* (R, C) embeddings output (LayerNorm, dropout) */
    distilbert_layer_acts *layers;
    float *h;                   /* training: (R, 4C) gelu(fch) of the layer at hand, rebuilt in
                                 * backward; inference: NULL (GELU in place in fch) */
    float *attn_scratch;        /* attention_scratch_floats(T) */
    /* training only: backward scratch */
    float *dx, *ds, *dr, *dt;   /* (R, C) each */
    float *dbig;                /* (R, 4C): d(gelu input), then dqkv */
} distilbert_acts;

/* Floats distilbert_acts_alloc takes for this capacity (an upper bound of
 * what is touched: only the packed rows of a batch are ever written). */
size_t distilbert_acts_floats(const clipc_config *cfg, int B, int T, int training);
/* Capacity for B captions of at most T ids (T = the row stride of the ids
 * the forwards get, the tokenizer's max length).  Sets dropout to 0. */
clipc_status distilbert_acts_alloc(distilbert_acts *a, const clipc_config *cfg, int B, int T, int training);
void distilbert_acts_free(distilbert_acts *a);
/* Tokens of one id row that the tower runs: 1 + the index of its last
 * non-zero id (at least 1).  The attention mask is ids != 0 and the
 * tokenizer pads only after [SEP], so the trailing pads are dropped, which
 * is exact (they are masked as keys and their rows never reach [CLS]);
 * a 0 inside a row is not masked. */
int distilbert_seq_len(const int32_t *row, int T);
/* Every id in [0, vocab_size) and every caption (distilbert_seq_len) within
 * the text_positions of the position table?  CLIPC_ERR_INVALID naming the
 * first bad one.  The forward reads out of bounds otherwise. */
clipc_status distilbert_check_ids(const int32_t *ids, int B, int T, const clipc_config *cfg);
/* cls (B, transformer_width) = the last hidden state at position 0 of each
 * of the B id rows (stride T <= the capacity's T, B <= its B; ids checked
 * by the caller).  Training acts keep every layer's activations for
 * distilbert_backward; dropout (a->dropout > 0, training acts only) on the
 * embeddings, the attention probabilities and the FFN output, as HF. */
void distilbert_forward(distilbert_acts *a, float *cls, const int32_t *ids, const distilbert_weights *w,
                        const clipc_config *cfg, int B, int T);
/* Backward of the last distilbert_forward (same ids): accumulates into
 * the gradients g. */
void distilbert_backward(distilbert_acts *a, const distilbert_weights *g, const float *dcls, const int32_t *ids,
                         const distilbert_weights *w, const clipc_config *cfg, int B);

#endif
