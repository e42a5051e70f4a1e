/*
 * ftfy_encoding.h -- ftfy 6's fix_encoding (mojibake repair) on code points.
 * Internal.
 */
#ifndef CLIPC_FTFY_ENCODING_H
#define CLIPC_FTFY_ENCODING_H

#include "text/ftfy_vec.h"

/* ftfy.fix_encoding(t) with the default config, in place.  0, or -1 when
 * out of memory (t is then unchanged or partly fixed, still valid). */
int ftfy_fix_encoding(cvec *t);

#endif
