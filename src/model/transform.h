/*
 * transform.h — a model's image transform in its file (transform.c): the
 * metadata entries image_mean, image_std, image_resize and image_rgb_first.
 */
#ifndef CLIPC_MODEL_TRANSFORM_H
#define CLIPC_MODEL_TRANSFORM_H

#include "clipc.h"
#include "formats/safetensors.h"

/* The metadata values of t: JSON arrays of 3 numbers (the shortest
 * decimals that read back as the same floats), an integer, true/false. */
typedef struct {
    char mean[64], std[64], resize[16], rgb_first[8];
} transform_meta;
void transform_meta_fill(const clipc_transform *t, transform_meta *tm);

/* Reads the entries of a model file whose config is c.  None of them:
 * t->size = 0 (the architecture's transform applies).  Some: each one
 * given replaces the architecture's value; a malformed value, a std that
 * is not > 0 or a resize below the crop is CLIPC_ERR_FORMAT naming the
 * file and the key. */
clipc_status transform_from_meta(const st_file *f, const char *path, const clipc_config *c, clipc_transform *t);

int transform_equal(const clipc_transform *a, const clipc_transform *b);

#endif
