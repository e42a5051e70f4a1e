/*
 * caption_key.c — the caption normaliser used as a dedup key (see
 * caption_key.h).
 */
#include "data/caption_key.h"

/* The readers' white space (builder.c's text_is_space): ASCII only. */
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

size_t caption_key(const char *s, size_t n, char *out) {
    size_t j = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space(c)) {
            space = j > 0;
            continue;
        }
        if (space) out[j++] = ' ';
        space = 0;
        out[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[j] = 0;
    return j;
}
