/*
 * ftfy_tables.h -- the data tables behind ftfy.c (ftfy 6's fix_text),
 * generated into ftfy_tables.c by tools/gen_ftfy_tables.py from ftfy's own
 * definitions and Python's codecs.  Internal.
 */
#ifndef CLIPC_FTFY_TABLES_H
#define CLIPC_FTFY_TABLES_H

#include <stdint.h>

/* The single-byte encodings ftfy tries, in its order (latin-1 first). */
enum { FTFY_N_ENCODINGS = 10 };
enum {
    FTFY_ENC_LATIN1 = 0,
    FTFY_ENC_SLOPPY_1252 = 1,
    FTFY_ENC_FIRST_NOT_SLOPPY = 7, /* iso-8859-2, macroman, cp437 are not "sloppy-" */
    FTFY_ENC_MACROMAN = 8
};
extern const char *const ftfy_encoding_names[FTFY_N_ENCODINGS];
extern const uint16_t ftfy_charmap[FTFY_N_ENCODINGS][256];

/* Class bits: ftfy.badness.MOJIBAKE_CATEGORIES, then ftfy.chardata.UTF8_CLUES. */
enum {
    FC_C1 = 1 << 0,
    FC_BAD = 1 << 1,
    FC_LAW = 1 << 2,
    FC_CUR = 1 << 3,
    FC_SP = 1 << 4, /* start_punctuation */
    FC_EP = 1 << 5, /* end_punctuation */
    FC_NUM = 1 << 6,
    FC_KAO = 1 << 7,
    FC_UA = 1 << 8, /* upper_accented */
    FC_LA = 1 << 9, /* lower_accented */
    FC_UC = 1 << 10, /* upper_common */
    FC_LC = 1 << 11, /* lower_common */
    FC_BOX = 1 << 12,
    FC_COMMON = 1 << 13,
    FC_FIRST2 = 1 << 14,
    FC_FIRST3 = 1 << 15,
    FC_FIRST4 = 1 << 16,
    FC_CONT = 1 << 17,
    FC_CONT_STRICT = 1 << 18
};
/* Classes of U+0000..U+04FF by index, then a sorted list from U+2000 on
 * (nothing in between belongs to a class). */
enum { FTFY_CLASS_LO = 0x500, FTFY_CLASS_HI_START = 0x2000 };
extern const uint32_t ftfy_class_lo[FTFY_CLASS_LO];
typedef struct {
    uint32_t cp, mask;
} ftfy_class_entry;
extern const ftfy_class_entry ftfy_classes[];
extern const int ftfy_n_classes;

typedef struct {
    const char *name; /* without the '&', with the ';' */
    uint32_t cp[3];   /* the replacement, 0-terminated when shorter than 3 */
} ftfy_entity;
extern const ftfy_entity ftfy_entities[];
extern const int ftfy_n_entities;

typedef struct {
    uint32_t cp;
    uint32_t to[3]; /* 0-terminated when shorter than 3 */
} ftfy_map_entry;
extern const ftfy_map_entry ftfy_width_map[];
extern const int ftfy_width_map_n;
extern const ftfy_map_entry ftfy_ligatures[];
extern const int ftfy_ligatures_n;

#endif
