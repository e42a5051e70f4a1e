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
} clipc_html_entity;

extern const clipc_html_entity clipc_html5_entities[];
extern const int clipc_html5_n_entities;
extern const uint32_t clipc_html_invalid_charrefs[][2];
extern const int clipc_html_n_invalid_charrefs;
extern const uint32_t clipc_html_invalid_codepoints[];
extern const int clipc_html_n_invalid_codepoints;

#endif
