/*
 * difftest_ftfy_driver.c -- the C half of tests/difftest_ftfy.sh (not part of
 * the test binary): reads one UTF-8 string per line, in hex, and writes
 * ftfy_fix_text's output the same way ("ERR" when it fails).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/utf8.h"
#include "text/ftfy.h"
int main(void) {
    /* one line per case; long cases are cut, and then simply differ */
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        size_t l = strcspn(line, "\n") / 2;
        uint8_t *s = malloc(l + 1);
        for (size_t i = 0; i < l; i++) { unsigned x; sscanf(line + 2 * i, "%2x", &x); s[i] = (uint8_t)x; }
        uint32_t *cps = malloc((l + 1) * 4), *out; size_t bad, m;
        size_t n = utf8_decode(s, l, cps, &bad);
        if (n == (size_t)-1 || ftfy_fix_text(cps, n, &out, &m)) { puts("ERR"); continue; }
        uint8_t b[4];
        for (size_t i = 0; i < m; i++) { int k = utf8_put(out[i], b); for (int j = 0; j < k; j++) printf("%02x", b[j]); }
        putchar('\n');
        free(s); free(cps); free(out);
    }
    return 0;
}
