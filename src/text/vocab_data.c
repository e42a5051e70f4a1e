/*
 * vocab_data.c -- OpenAI's BPE merges file (data/bpe_simple_vocab_16e6.txt.gz,
 * MIT, see data/LICENSE-bpe.txt) embedded in the library, so that
 * clipc_tokenizer_load(NULL, ...) works from any directory with no data file
 * installed.  .incbin takes the path relative to the compiler's working
 * directory, which is the repository root for every Makefile target.
 */
#include <stddef.h>

#include "text/vocab_data.h"

__asm__(".pushsection .rodata\n"
        ".global vocab_gz_start\n"
        ".hidden vocab_gz_start\n"
        ".global vocab_gz_end\n"
        ".hidden vocab_gz_end\n"
        ".balign 16\n"
        "vocab_gz_start:\n"
        ".incbin \"data/bpe_simple_vocab_16e6.txt.gz\"\n"
        "vocab_gz_end:\n"
        ".popsection\n");

extern const unsigned char vocab_gz_start[], vocab_gz_end[];

const unsigned char *vocab_gz(size_t *len) {
    *len = (size_t)(vocab_gz_end - vocab_gz_start);
    return vocab_gz_start;
}
