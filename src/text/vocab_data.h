/*
 * vocab_data.h — OpenAI's BPE merges file, embedded in the library
 * (vocab_data.c), for clipc_tokenizer_load(NULL, ...).
 */
#ifndef CLIPC_TEXT_VOCAB_DATA_H
#define CLIPC_TEXT_VOCAB_DATA_H

#include <stddef.h>

/* The gzip-compressed merges file and its length. */
const unsigned char *vocab_gz(size_t *len);

#endif
