/*
 * clipc_tutorial.h — the public API particular to the tutorial's model
 * (seed 002: torchvision/timm ResNet-50 + DistilBERT + projection heads):
 * BERT's WordPiece tokenizer, the vocabulary a model carries, and making a
 * model from the pretrained files users start from.  Everything else
 * (encoding, training, search) is clipc.h's and works on these models too.
 */
#ifndef CLIPC_TUTORIAL_H
#define CLIPC_TUTORIAL_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

/* ---------------------------------------------------------------- WordPiece */

/* BERT's WordPiece tokenizer for uncased vocabularies (DistilBERT's; the
 * tutorial model's text tower, CLIPC_TEXT_DISTILBERT): BasicTokenizer
 * (clean-up, CJK ideographs split, lower-casing, NFD with accents
 * stripped, punctuation split) then greedy longest-match-first WordPiece
 * with "##" continuations (a word over 100 characters or with no match is
 * [UNK]).  The vocabulary is a vocab.txt: one token per line, id = line
 * number from 0; [PAD] must be id 0, [CLS], [SEP] and [UNK] must exist, no
 * token empty or repeated.  Read-only after loading: safe to share
 * between threads. */
typedef struct clipc_wordpiece clipc_wordpiece;
clipc_wordpiece *clipc_wordpiece_load(const char *vocab_txt_path); /* NULL + error on failure */
/* The same from a vocab.txt in memory; name is used in error messages. */
clipc_wordpiece *clipc_wordpiece_from_buffer(const char *data, size_t n, const char *name);
void clipc_wordpiece_free(clipc_wordpiece *wp);
int clipc_wordpiece_vocab_size(const clipc_wordpiece *wp);
/* [CLS] tokens [SEP] of text (UTF-8, NUL-terminated; invalid bytes are
 * dropped), truncated to max_len (the [SEP] kept), padded with 0 up to
 * max_len in ids.  Returns the number of non-pad ids, or -1 with an error
 * (max_len < 2, out of memory). */
int clipc_wordpiece_encode(const clipc_wordpiece *wp, const char *text, int32_t *ids, int max_len);

/* ------------------------------------------------------------- the model */

/* The tutorial's DistilBERT: sets the WordPiece vocabulary (vocab.txt's
 * text, n bytes) the model carries and saves; its size must equal
 * vocab_size.  clipc_model_vocab: that text, or NULL. */
clipc_status clipc_model_set_vocab(clipc_model *m, const char *vocab, size_t n, const char *name);
/* A new tutorial model (seed 002): `base` (e.g. "tutorial-rn50") with its
 * towers' shapes and weights from the files users start from: image, a
 * torchvision/timm resnet50 state dict (.pt/.pth/safetensors); text, a
 * Hugging Face DistilBERT folder (model.safetensors + vocab.txt) or weights
 * file; vocab, a vocab.txt (default: the text folder's); head: 0 = base's,
 * else CLIPC_HEAD_LINEAR or CLIPC_HEAD_MLP.  NULL paths: random init. */
typedef struct {
    const char *image, *text, *vocab;
    clipc_head head;
} clipc_tutorial_init;
clipc_status clipc_model_create_tutorial(const clipc_config *base, uint64_t seed, const clipc_tutorial_init *ti,
                                         clipc_model **out);
const char *clipc_model_vocab(const clipc_model *m);

#endif
