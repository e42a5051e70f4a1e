/*
 * json_out.c — writing JSON strings and floats for the CLI's JSON Lines.
 *
 * File names on Linux are bytes, not UTF-8; JSON strings are Unicode.  Bytes
 * that are not valid UTF-8 are written as \udcXX (0xXX = the byte), Python's
 * "surrogateescape" convention, so a name survives the round trip through
 * tools that know it and never produces invalid JSON.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void json_write_string(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        int len = utf8_len(s + i, n - i);
        if (len == 0) {
            fprintf(f, "\\udc%02x", c);
            i++;
            continue;
        }
        if (len > 1) {
            fwrite(s + i, 1, (size_t)len, f);
        } else if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
        i += (size_t)len;
    }
    fputc('"', f);
}

void json_write_floats(FILE *f, const float *x, int n) {
    fputc('[', f);
    /* JSON has no nan/inf: a non-finite value (a model loaded with
     * --allow-nonfinite) is written as null. */
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        if (isfinite(x[i])) fprintf(f, "%.9g", (double)x[i]);
        else fputs("null", f);
    }
    fputc(']', f);
}
