/*
 * clean.h -- the text clean-up OpenAI's CLIP tokenizer does before
 * splitting (simple_tokenizer.py basic_clean (ftfy.fix_text, html.unescape
 * twice) + whitespace_clean + lower),
 * on arrays of Unicode code points.  Internal.
 */
#ifndef CLIPC_TEXT_NORMALIZE_H
#define CLIPC_TEXT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

/* Python's html.unescape() once.  out needs room for n (it never grows). */
size_t html_unescape(const uint32_t *in, size_t n, uint32_t *out);
/* Python's str.isspace() (what strip() removes). */
int is_py_space(uint32_t c);
/* \s of Python's `regex` module (what the split and collapse treat as
 * space): White_Space, i.e. str.isspace() without U+001C..U+001F. */
int is_re_space(uint32_t c);
/* Python's str.lower() (full mapping: U+0130 gives two code points, final
 * sigma by context).  out needs room for 2n; returns the count. */
size_t text_py_lower(const uint32_t *t, size_t n, uint32_t *out);
/* The whole clean-up: ftfy.fix_text, html.unescape twice, strip, collapse
 * \s runs to one ' ', strip, str.lower().  buf has room for 3n; *out is
 * the result, either buf or, when ftfy had work to do (it may lengthen the
 * text), a malloc'd array the caller frees; *m its count.  0, or -1 when
 * out of memory. */
int text_clean(const uint32_t *in, size_t n, uint32_t *buf, uint32_t **out, size_t *m);

#endif
