/*
 * ftfy_badness.h -- ftfy 6's mojibake heuristics on code points: is_bad()
 * and the embedded-UTF-8 detector of decode_inconsistent_utf8.  Internal.
 */
#ifndef CLIPC_FTFY_BADNESS_H
#define CLIPC_FTFY_BADNESS_H

#include <stddef.h>
#include <stdint.h>

/* The FC_* class bits (text/ftfy_tables.h) of character c. */
uint32_t ftfy_class(uint32_t c);
/* ftfy.badness.is_bad(t[0..n)): 1 when the text looks like mojibake. */
int ftfy_is_bad(const uint32_t *t, size_t n);
/* The length of ftfy.chardata.UTF8_DETECTOR_RE's match at t[i] (with its
 * lookbehind on t[i-1]), 0 when it does not match there. */
size_t ftfy_utf8_detect(const uint32_t *t, size_t n, size_t i);

#endif
