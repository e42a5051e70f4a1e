/*
 * loader_stub.c — TEMPORARY stand-in for src/loader.c (branch `loader`),
 * so the training loop can be built and tested before the real input
 * pipeline is merged.  Synchronous, no augmentation, no cache, no prefetch:
 * sampler -> clipc_image_load -> clipc_preprocess -> tokenize.  Delete this
 * file when src/loader.c arrives (it defines the same symbols).
 */
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "util.h"

struct clipc_loader {
    clipc_loader_opts o;
    clipc_sampler *s;
    int *img, *cap;
    int *out_img, *out_cap;
    float *pixels;
    int32_t *ids;
    int bad;
};

clipc_status clipc_loader_create(const clipc_loader_opts *o, clipc_loader **out) {
    *out = NULL;
    clipc_loader *l = clipc_calloc(1, sizeof *l, "loader");
    if (!l) return CLIPC_ERR_NOMEM;
    l->o = *o;
    clipc_status s = clipc_sampler_create(o->ds, o->batch_size, o->seed, o->drop_last, &l->s);
    if (s) {
        free(l);
        return s;
    }
    size_t B = (size_t)o->batch_size, R = (size_t)o->image_size;
    l->img = clipc_malloc(B * sizeof(int), "loader");
    l->cap = clipc_malloc(B * sizeof(int), "loader");
    l->out_img = clipc_malloc(B * sizeof(int), "loader");
    l->out_cap = clipc_malloc(B * sizeof(int), "loader");
    l->pixels = clipc_malloc(B * 3 * R * R * sizeof(float), "loader");
    l->ids = clipc_malloc(B * (size_t)o->context_length * sizeof(int32_t), "loader");
    if (!l->img || !l->cap || !l->out_img || !l->out_cap || !l->pixels || !l->ids) {
        clipc_loader_free(l);
        return CLIPC_ERR_NOMEM;
    }
    *out = l;
    return CLIPC_OK;
}

clipc_status clipc_loader_next(clipc_loader *l, clipc_batch *b) {
    int n;
    int64_t epoch;
    uint64_t st[CLIPC_SAMPLER_STATE_WORDS];
    clipc_sampler_get_state(l->s, st); /* st[3]: index of the batch about to come */
    int index = (int)st[3];
    clipc_status s = clipc_sampler_next(l->s, l->img, l->cap, &n, &epoch);
    if (s) return s;
    size_t R = (size_t)l->o.image_size, ctx = (size_t)l->o.context_length;
    int k = 0;
    char path[4096];
    for (int i = 0; i < n; i++) {
        clipc_image im;
        clipc_dataset_image_fullpath(l->o.ds, l->img[i], path, sizeof path);
        if (clipc_image_load(path, &im) || clipc_preprocess(&im, (int)R, l->pixels + (size_t)k * 3 * R * R, NULL)) {
            if (im.data) clipc_image_free(&im);
            l->bad++;
            clipc_error_clear();
            continue;
        }
        clipc_image_free(&im);
        const char *t = clipc_dataset_caption(l->o.ds, l->cap[i]);
        if (clipc_tokenize_context(l->o.tok, t, strlen(t), (int)ctx, 1, l->ids + (size_t)k * ctx)) {
            l->bad++;
            clipc_error_clear();
            continue;
        }
        l->out_img[k] = l->img[i];
        l->out_cap[k] = l->cap[i];
        k++;
    }
    b->n = k;
    b->pixels = l->pixels;
    b->ids = l->ids;
    b->images = l->out_img;
    b->captions = l->out_cap;
    b->epoch = epoch;
    b->index = index;
    return CLIPC_OK;
}

int clipc_loader_batches_per_epoch(const clipc_loader *l) { return clipc_sampler_batches_in_epoch(l->s); }

void clipc_loader_get_state(const clipc_loader *l, uint64_t state[CLIPC_LOADER_STATE_WORDS]) {
    clipc_sampler_get_state(l->s, state);
}

clipc_status clipc_loader_set_state(clipc_loader *l, const uint64_t state[CLIPC_LOADER_STATE_WORDS]) {
    return clipc_sampler_set_state(l->s, state);
}

int clipc_loader_bad_images(const clipc_loader *l) { return l->bad; }

void clipc_loader_free(clipc_loader *l) {
    if (!l) return;
    clipc_sampler_free(l->s);
    free(l->img);
    free(l->cap);
    free(l->out_img);
    free(l->out_cap);
    free(l->pixels);
    free(l->ids);
    free(l);
}
