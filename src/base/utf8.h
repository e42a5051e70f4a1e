/*
 * utf8.h -- UTF-8 <-> code points, the two ways the tokenizer needs: strict
 * decoding of input text (invalid input is an error, never guessed at) and
 * Python's bytes.decode("utf-8", errors="replace") for ids -> text; and the
 * byte-order mark the text readers skip.  Internal.
 */
#ifndef CLIPC_UTF8_H
#define CLIPC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Strict decode of s[0..n) into cps (room for n).  Returns the count, or
 * (size_t)-1 with *bad_at = byte offset of the first invalid sequence
 * (overlong forms, surrogates and values > U+10FFFF are invalid). */
size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cps, size_t *bad_at);
/* Python's errors="replace": each maximal ill-formed subpart becomes one
 * U+FFFD.  cps needs room for n.  Returns the count. */
size_t utf8_decode_replace(const uint8_t *s, size_t n, uint32_t *cps);
/* Writes the UTF-8 form of c (a valid scalar value) to out (room for 4);
 * returns its length. */
int utf8_put(uint32_t c, uint8_t *out);
/* 3 when buf starts with a UTF-8 byte-order mark (spreadsheets write one
 * before CSV), else 0. */
static inline size_t utf8_bom_len(const char *buf, size_t len) {
    return len >= 3 && (unsigned char)buf[0] == 0xef && (unsigned char)buf[1] == 0xbb &&
                   (unsigned char)buf[2] == 0xbf
               ? 3
               : 0;
}

#endif
