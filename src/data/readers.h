/*
 * readers.h — the caption-format readers, one file each: read_karpathy.c,
 * read_flickr8k.c, read_flickr30k.c, read_csv.c (CSV and TSV) and
 * read_folder.c (images with .txt captions).  Each fills a builder
 * (builder.h) from the caption file's bytes buf[0..len), or from the folder
 * b->path, counting what it skips through the builder's warnings.  Only
 * input that is not a caption file at all (binary, UTF-16, broken JSON) is
 * an error.  Internal to src/data.
 */
#ifndef CLIPC_DATA_READERS_H
#define CLIPC_DATA_READERS_H

#include <stddef.h>

#include "clipc.h"
#include "data/builder.h"

/* Karpathy split JSON (COCO, Flickr8k, Flickr30k): images[].filename
 * (+ filepath), split, imgid, sentences[].raw / sentid. */
clipc_status read_karpathy(builder *b, const char *buf, size_t len);
/* Flickr8k.token.txt ("name.jpg#n<TAB>caption"), with the
 * Flickr_8k.{train,dev,test}Images.txt split lists beside it when present. */
clipc_status read_flickr8k(builder *b, const char *buf, size_t len);
/* Flickr30k results.csv ("image_name| comment_number| comment"). */
clipc_status read_flickr30k(builder *b, const char *buf, size_t len);
/* "image,caption" rows separated by delim (',' or '\t'), header optional. */
clipc_status read_csv(builder *b, const char *buf, size_t len, char delim);
/* The folder b->path, walked in sorted order: every image file with the
 * lines of the .txt file of the same name as its captions. */
clipc_status read_folder(builder *b);

#endif
