/*
 * ftfy.h -- ftfy 6.3's fix_text() with its default configuration, on code
 * points: what OpenAI's CLIP tokenizer applies to every caption before its
 * own clean-up.  Internal.
 */
#ifndef CLIPC_FTFY_H
#define CLIPC_FTFY_H

#include <stddef.h>
#include <stdint.h>

/* ftfy.fix_text(in[0..n)).  *out is malloc'd (free it; never NULL on
 * success, even for empty text), *out_n its count.  0, or -1 when out of
 * memory. */
int ftfy_fix_text(const uint32_t *in, size_t n, uint32_t **out, size_t *out_n);

/* 1 when fix_text certainly leaves t unchanged without looking further:
 * printable ASCII without '&', plus tab, newline and form feed (no entity,
 * no mojibake, no control character, no CR, nothing to normalize). */
int ftfy_is_noop_fast(const uint32_t *t, size_t n);

#endif
