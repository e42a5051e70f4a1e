/*
 * augment.h — training-time image augmentation and normalisation (internal;
 * used by the loader).
 */
#ifndef CLIPC_AUGMENT_H
#define CLIPC_AUGMENT_H

#include "clipc.h"
#include "base/rng.h"

/* A crop rectangle (x, y = top-left) and whether to mirror the result. */
typedef struct {
    int x, y, w, h;
    int flip;
} aug_params;

/* torchvision RandomResizedCrop.get_params(scale = (smin, smax), ratio =
 * (3/4, 4/3)) for a width x height image, then a coin for the flip. */
void aug_sample(int width, int height, double smin, double smax, rng_state *r,
                      aug_params *p);

/* Random resized crop (scale 0.5-1, ratio 3/4-4/3) resized to size x size
 * with Pillow's bicubic (pil_resize), horizontal flip with p = 0.5,
 * convert("RGB"), normalise.  All randomness from a generator seeded with
 * `seed`.  out: 3*size*size floats (CHW); rgb_u8 (may be NULL): the
 * size*size*3 crop before normalisation. */
clipc_status augment_image(const clipc_image *img, int size, uint64_t seed, float *out,
                           uint8_t *rgb_u8);

/* The general form used by the loader: crop 1 = random resized crop +
 * flip (augment_image), 2 = the crop without the flip, 0 = the plain center
 * crop of clipc_preprocess; then, when shift > 0, a translation by up to
 * `shift` pixels each way with white fill (the PyTorch peer's --shift).
 * crop 1 with shift 0 gives augment_image's bits. */
clipc_status augment_image_ex(const clipc_image *img, int size, int crop, int shift, uint64_t seed,
                              float *out, uint8_t *rgb_u8);
/* The same for a model's transform (its mean/std; its resize for crop 0);
 * augment_image_ex is this with OpenAI's transform. */
clipc_status augment_image_tf(const clipc_image *img, const clipc_transform *t, int crop, int shift,
                              uint64_t seed, float *out, uint8_t *rgb_u8);

/* size*size HWC RGB bytes -> CHW floats with CLIP's mean/std, computed
 * exactly as clipc_preprocess does (same bits); normalize_u8_tf with the
 * transform's mean/std (t->size x t->size), as clipc_preprocess_transform. */
void normalize_u8(const uint8_t *rgb, int size, float *out);
void normalize_u8_tf(const uint8_t *rgb, const clipc_transform *t, float *out);

#endif
