/*
 * fuzz_wordpiece.c -- libFuzzer target for the WordPiece tokenizer (`make
 * fuzz`, then build-fuzz/fuzz_wordpiece [corpus dir]).  Byte 0 picks the
 * mode and max_len: even, the bytes after it are text for a fixed
 * vocabulary; odd, they are "vocab.txt<NUL>text" (a vocabulary that loads
 * or is refused with an error).  Checks the invariants of any encoding:
 * [CLS] first, [SEP] last of the non-pad ids, zeros after, every id inside
 * the vocabulary, under ASan + UBSan.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "fuzz_util.h"

static const char fixed_vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ndog\n##s\na\n##a\nb\n##b\ncafe\n,\n.\n"
                                  "\xe4\xb8\xad\n\xe5\x9b\xbd\nplay\n##ing\n##\n#\n";

int fuzz_wordpiece(const uint8_t *data, size_t size) {
    if (!size) return 0;
    int max_len = 2 + data[0] / 2 % 70;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    clipc_wordpiece *wp;
    if (data[0] & 1) {
        const uint8_t *z = memchr(p, 0, n);
        size_t vn = z ? (size_t)(z - p) : n;
        wp = clipc_wordpiece_from_buffer((const char *)p, vn, "fuzz");
        if (!wp) {
            if (!clipc_last_error()[0]) abort();
            return 0;
        }
        p += z ? vn + 1 : n;
        n -= z ? vn + 1 : n;
    } else {
        wp = clipc_wordpiece_from_buffer(fixed_vocab, sizeof fixed_vocab - 1, "fixed");
        if (!wp) abort();
    }
    char *text = malloc(n + 1);
    int32_t *ids = malloc((size_t)max_len * sizeof *ids);
    if (!text || !ids) abort();
    memcpy(text, p, n);
    text[n] = 0;
    int k = clipc_wordpiece_encode(wp, text, ids, max_len), V = clipc_wordpiece_vocab_size(wp);
    if (k < 2 || k > max_len || ids[k - 1] == 0 || ids[0] == 0) abort();
    for (int i = 0; i < max_len; i++)
        if (ids[i] < 0 || ids[i] >= V || (i >= k && ids[i] != 0) || (i < k && ids[i] == 0)) abort();
    free(text);
    free(ids);
    clipc_wordpiece_free(wp);
    return 0;
}

FUZZ_ENTRY(wordpiece)
