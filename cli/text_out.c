/*
 * text_out.c — writing file names and labels in the CLI's plain-text output.
 *
 * A name may hold any byte but '/' and NUL: a newline in it would forge an
 * output line.  Control characters are escaped as in C (\n, \t, \r, else
 * \xHH) and a backslash is doubled, so each result stays one line and the
 * name can be recovered exactly.
 */
#include <stdio.h>

#include "cli.h"

void text_write_escaped(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (c == '\\') fputs("\\\\", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\x%02x", c);
        else fputc((int)c, f);
    }
}
