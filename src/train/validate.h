/*
 * validate.h — the validation set of a training run and its evaluation each
 * epoch (validate.c).  Images that do not decode are left out once, at
 * preparation, so recall is over real pairs only.
 */
#ifndef CLIPC_TRAIN_VALIDATE_H
#define CLIPC_TRAIN_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

typedef struct {
    clipc_dataset *ds;
    int n_img, n_txt;
    int *img;            /* dataset index of each kept image */
    int *text_image;     /* [n_txt] position in img[] */
    int32_t *ids;        /* [n_txt, ctx] */
    int *first_text;     /* [n_img] the first caption of each image, for the loss */
    float *pixels;       /* cached preprocessed images, or NULL (decoded per epoch) */
    float *img_emb, *txt_emb;
    float *sim;
} valset;

typedef struct {
    double loss, i2t[3], t2i[3], mean_recall;
} val_result;

/* Prepares v (v->ds loaded, the rest zero): keeps the images that decode,
 * tokenizes their captions, caches the preprocessed images when small.
 * A note on unreadable images goes to warnbuf (empty when none). */
clipc_status valset_prepare(valset *v, clipc_tokenizer *tok, const clipc_model *m, char *warnbuf, size_t wcap);
/* Encodes every kept image and caption, then Recall@1/5/10 both ways and
 * the contrastive loss of (image, first caption) pairs in batches of B,
 * in image order, from the same embeddings (no second forward). */
clipc_status valset_evaluate(valset *v, const clipc_model *m, int B, val_result *r);
/* Frees everything v holds, its dataset included; v is zeroed. */
void valset_free(valset *v);

#endif
