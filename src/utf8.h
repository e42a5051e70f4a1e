/*
 * utf8.h -- UTF-8 <-> code points, the two ways the tokenizer needs: strict
 * decoding of input text (invalid input is an error, never guessed at) and
 * Python's bytes.decode("utf-8", errors="replace") for ids -> text.  Internal.
 */
#ifndef CLIPC_UTF8_H
#define CLIPC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Strict decode of s[0..n) into cps (room for n).  Returns the count, or
 * (size_t)-1 with *bad_at = byte offset of the first invalid sequence
 * (overlong forms, surrogates and values > U+10FFFF are invalid). */
size_t clipc_utf8_decode(const uint8_t *s, size_t n, uint32_t *cps, size_t *bad_at);
/* Python's errors="replace": each maximal ill-formed subpart becomes one
 * U+FFFD.  cps needs room for n.  Returns the count. */
size_t clipc_utf8_decode_replace(const uint8_t *s, size_t n, uint32_t *cps);
/* Writes the UTF-8 form of c (a valid scalar value) to out (room for 4);
 * returns its length. */
int clipc_utf8_put(uint32_t c, uint8_t *out);

#endif
