/*
 * fuzz_ftfy.c -- libFuzzer target for clipc's ftfy (`make fuzz-ftfy`, then
 * build-fuzz/fuzz_ftfy [corpus dir] -max_total_time=300).  Arbitrary bytes are
 * read as UTF-8 with U+FFFD for invalid sequences (what reaches ftfy is always
 * text) and fixed; under ASan + UBSan it checks, for every input:
 *   - no crash, no leak, no error other than out of memory;
 *   - the output is text: Unicode scalar values only (valid UTF-8);
 *   - idempotence where ftfy guarantees it: fix_text stops a segment when one
 *     round of fixes changes nothing, so an output that is a single segment
 *     (no '\n'; fixes never remove one, so the input was one segment too) is
 *     a fixed point: fixing it again must give it back unchanged.  (Outputs
 *     with line breaks are not: new breaks cut new segments, and ftfy's
 *     heuristics look at whole segments.)
 */
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "text/ftfy.h"
#include "fuzz_util.h"

int fuzz_ftfy(const uint8_t *data, size_t size) {
    uint32_t *cps = malloc((size + 1) * sizeof *cps), *out = NULL, *again = NULL;
    if (!cps) return 0;
    size_t n = utf8_decode_replace(data, size, cps), m = 0, m2 = 0;
    if (ftfy_fix_text(cps, n, &out, &m)) abort();
    int lines = 0;
    for (size_t i = 0; i < m; i++) {
        if (out[i] > 0x10FFFF || (out[i] >= 0xD800 && out[i] <= 0xDFFF)) abort();
        lines |= out[i] == '\n';
    }
    if (!lines) {
        if (ftfy_fix_text(out, m, &again, &m2)) abort();
        if (m2 != m || (m && memcmp(again, out, m * sizeof *out))) abort();
        free(again);
    }
    free(out);
    free(cps);
    return 0;
}

FUZZ_ENTRY(ftfy)
