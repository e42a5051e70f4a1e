/*
 * seqs.h — how the rows (tokens) of a batch group into sequences, uniform
 * or packed; the attention, the embeddings and the towers take one.
 */
#ifndef CLIPC_NN_SEQS_H
#define CLIPC_NN_SEQS_H


/* ---- sequences: how rows (tokens) group into sequences.  A batch of B
 * sequences is either uniform (off == NULL: B x T rows, every sequence T
 * long) or packed (off has B+1 row offsets: sequence s is rows
 * off[s]..off[s+1]-1, each at most T long).  The text tower packs each
 * caption's tokens up to its EOT back to back; the ViT is uniform. */
typedef struct {
    int B, T;         /* sequences; length of every (uniform) / the longest (packed) */
    const int *off;   /* B+1 row offsets, or NULL */
} seqs;
static inline int seqs_rows(const seqs *q) { return q->off ? q->off[q->B] : q->B * q->T; }
static inline int seqs_off(const seqs *q, int s) { return q->off ? q->off[s] : s * q->T; }
static inline int seqs_len(const seqs *q, int s) { return q->off ? q->off[s + 1] - q->off[s] : q->T; }

#endif
