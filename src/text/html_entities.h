/*
 * html_entities.h -- the data tables behind Python's html.unescape(), generated
 * into html_entities.c by tools/gen_html_entities.py.  Internal.
 */
#ifndef CLIPC_HTML_ENTITIES_H
#define CLIPC_HTML_ENTITIES_H

#include <stdint.h>

typedef struct {
    const char *name;  /* ASCII, with the trailing ';' where the entity has one */
    uint32_t cp[2];    /* the replacement: one or two code points (cp[1] = 0 if one) */
} html_entity;

extern const html_entity html5_entities[];
extern const int html5_n_entities;
extern const uint32_t html_invalid_charrefs[][2];
extern const int html_n_invalid_charrefs;
extern const uint32_t html_invalid_codepoints[];
extern const int html_n_invalid_codepoints;

#endif
