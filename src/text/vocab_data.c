/*
 * vocab_data.c -- OpenAI's BPE merges file (data/bpe_simple_vocab_16e6.txt.gz,
 * MIT, see data/LICENSE-bpe.txt) embedded in the library, so that
 * clipc_tokenizer_load(NULL, ...) works from any directory with no data file
 * installed.  .incbin takes the path relative to the compiler's working
 * directory, which is the repository root for every Makefile target.
 */
#include <stddef.h>

__asm__(".pushsection .rodata\n"
        ".global clipc_vocab_gz_start\n"
        ".hidden clipc_vocab_gz_start\n"
        ".global clipc_vocab_gz_end\n"
        ".hidden clipc_vocab_gz_end\n"
        ".balign 16\n"
        "clipc_vocab_gz_start:\n"
        ".incbin \"data/bpe_simple_vocab_16e6.txt.gz\"\n"
        "clipc_vocab_gz_end:\n"
        ".popsection\n");

extern const unsigned char clipc_vocab_gz_start[], clipc_vocab_gz_end[];

/* Used by tokenizer.c. */
const unsigned char *clipc_vocab_gz(size_t *len);
const unsigned char *clipc_vocab_gz(size_t *len) {
    *len = (size_t)(clipc_vocab_gz_end - clipc_vocab_gz_start);
    return clipc_vocab_gz_start;
}
