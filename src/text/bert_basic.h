/*
 * bert_basic.h — BERT's BasicTokenizer for uncased models (bert_basic.c):
 * the words that WordPiece then splits.  Internal.
 */
#ifndef CLIPC_TEXT_BERT_BASIC_H
#define CLIPC_TEXT_BERT_BASIC_H

#include <stddef.h>
#include <stdint.h>

/* Called with each token's code points in order; a non-zero return stops
 * the tokenization (the caller has all it needs). */
typedef int (*bert_token_fn)(void *ctx, const uint32_t *cps, size_t n);
/* Tokenizes text[0..len) (UTF-8; invalid sequences become U+FFFD, which
 * the clean-up drops, as Python's errors="replace" then BERT would).
 * Returns 0, or -1 when out of memory (error set). */
int bert_basic_tokenize(const char *text, size_t len, bert_token_fn fn, void *ctx);
/* BERT's character classes (tokenization.py's _is_whitespace, _is_control,
 * _is_punctuation, _is_chinese_char). */
int bert_is_whitespace(uint32_t c);
int bert_is_control(uint32_t c);
int bert_is_punctuation(uint32_t c);
int bert_is_cjk(uint32_t c);

#endif
