/*
 * fuzz_tokenizer.c -- libFuzzer target for the tokenizer (`make fuzz`, then
 * build-fuzz/fuzz_tokenizer [corpus dir] -max_total_time=600).  Feeds arbitrary
 * bytes to clipc_tokenize / clipc_tokenize_context (valid or invalid UTF-8)
 * and, read as int32 ids, to clipc_detokenize; checks the invariants that hold
 * for any input, under ASan + UBSan.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "fuzz_util.h"

static clipc_tokenizer *tok;

int fuzz_tokenizer(const uint8_t *data, size_t size) {
    if (!tok && clipc_tokenizer_load(NULL, &tok) != CLIPC_OK) abort();
    int32_t *ids = NULL;
    int n = 0;
    clipc_status st = clipc_tokenize(tok, (const char *)data, size, &ids, &n);
    if (st != CLIPC_OK && st != CLIPC_ERR_INVALID) abort();
    if (st == CLIPC_OK) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] > CLIPC_EOT) abort();
        char *text = NULL;
        if (clipc_detokenize(tok, ids, n, &text) != CLIPC_OK || !text) abort();
        free(text);
        int ctx = size ? 2 + data[0] % 80 : 77;
        int32_t *row = malloc((size_t)ctx * sizeof *row);
        if (!row) abort();
        st = clipc_tokenize_context(tok, (const char *)data, size, ctx, size & 1, row);
        if (n > ctx - 2 && !(size & 1)) {
            if (st != CLIPC_ERR_RANGE) abort();
        } else {
            int k = n > ctx - 2 ? ctx - 2 : n;
            if (st != CLIPC_OK || row[0] != CLIPC_SOT || row[k + 1] != CLIPC_EOT) abort();
            if (k && memcmp(row + 1, ids, (size_t)k * sizeof *ids)) abort();
            for (int i = k + 2; i < ctx; i++)
                if (row[i]) abort();
        }
        free(row);
        free(ids);
    }
    /* The same bytes as ids (mostly in range, some not). */
    int m = (int)(size / 2);
    int32_t *dids = malloc(((size_t)m + 1) * sizeof *dids);
    if (!dids) abort();
    for (int i = 0; i < m; i++) dids[i] = (int32_t)((data[2 * i] | data[2 * i + 1] << 8) % 49500);
    char *text = NULL;
    st = clipc_detokenize(tok, dids, m, &text);
    int bad = 0;
    for (int i = 0; i < m; i++) bad |= dids[i] >= 49408;
    if (bad ? st != CLIPC_ERR_RANGE : (st != CLIPC_OK || !text)) abort();
    free(text);
    free(dids);
    return 0;
}

FUZZ_ENTRY(tokenizer)
