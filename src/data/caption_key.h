/*
 * caption_key.h — the normal form under which two captions count as the
 * same (caption_key.c): the dataset builder drops such duplicates of one
 * image, and the sampler treats them as one caption.  Internal to src/data.
 */
#ifndef CLIPC_DATA_CAPTION_KEY_H
#define CLIPC_DATA_CAPTION_KEY_H

#include <stddef.h>

/* Caption normalisation used to decide that two captions are "the same":
 * ASCII letters lower-cased, runs of white space collapsed to one space,
 * leading/trailing white space dropped.  Non-ASCII bytes are kept as they
 * are (no Unicode case folding: cheap, locale-free and stable).  Writes at
 * most n bytes + NUL to out (which must hold n + 1) and returns the length. */
size_t caption_key(const char *s, size_t n, char *out);

#endif
