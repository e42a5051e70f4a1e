/*
 * sampler.c — the training batch sampler: one (image, caption) pair per
 * image per epoch, batches free of false negatives.
 *
 * CLIP's loss treats every other pair in a batch as a negative.  Flickr and
 * COCO have ~5 captions per image and many near-identical captions across
 * images ("A dog runs through the grass ."), so a batch holding two captions
 * of one image, or two copies of one text, asks the model to push apart
 * things that are the same (pitfalls.md #9).  We therefore sample one
 * caption per image per step (as the anilhimam17 port does) and keep texts
 * unique within a batch by normalised text.
 *
 * Epoch plan.  At the start of epoch e the whole epoch is planned from a
 * generator seeded with derive(seed, e): shuffle the images that have
 * captions; walk them in order, giving each a random caption among those
 * whose text is not already in the current batch (a random start, then
 * cyclically).  An image whose captions all clash is deferred to the next
 * batch (deferred images are tried first there; an empty batch always
 * accepts one, so this terminates).  The plan is a pure function of
 * (seed, epoch, data, batch size), so resuming needs only (epoch, batch
 * index): the plan is rebuilt and the continuation is bit-identical.  The
 * generator state after planning is stored as a check word and compared on
 * restore to catch a changed data set or plan.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/hash.h"
#include "base/rng.h"
#include "data/caption_key.h"

#define STATE_MAGIC 0x31304d4153435043ULL /* "CPCSAM01" little-endian */

struct clipc_sampler {
    int n_images;       /* images in the source (with or without captions) */
    int *cap_off;       /* [n_images + 1] caption ranges */
    int *text_class;    /* [n_caps] id of the normalised text (equal text = equal id) */
    int n_classes;
    int batch_size;
    int drop_last;
    uint64_t seed;
    uint64_t fingerprint;

    /* the current epoch's plan */
    int64_t epoch;
    int n_pairs;
    int *plan_img, *plan_cap; /* [n_pairs] */
    int *batch_start;         /* [n_batches + 1] */
    int n_batches;
    int pos;                  /* next batch to hand out */
    uint64_t check;           /* generator output after planning */
    int planned;

    /* scratch for planning */
    int *order, *pending, *pending2, *stamp;
};

static clipc_status plan_epoch(clipc_sampler *s, int64_t epoch) {
    rng_state r;
    rng_seed(&r, rng_derive(s->seed, (uint64_t)epoch));
    int n = 0;
    for (int i = 0; i < s->n_images; i++)
        if (s->cap_off[i + 1] > s->cap_off[i]) s->order[n++] = i;
    rng_shuffle_int(&r, s->order, (size_t)n);
    /* stamp[class] == batch number + 1 means the text is in that batch. */
    for (int c = 0; c < s->n_classes; c++) s->stamp[c] = 0;
    int next = 0, np = 0, np2, nb = 0, pairs = 0;
    s->batch_start[0] = 0;
    while (next < n || np > 0) {
        int in_batch = 0, stamp = nb + 1;
        np2 = 0;
        /* Deferred images first, then fresh ones, until the batch is full. */
        for (int k = 0; k < np || (in_batch < s->batch_size && next < n); k++) {
            int img;
            if (k < np) {
                img = s->pending[k];
                if (in_batch == s->batch_size) {
                    s->pending2[np2++] = img;
                    continue;
                }
            } else {
                img = s->order[next++];
            }
            int f = s->cap_off[img], m = s->cap_off[img + 1] - f;
            int start = (int)rng_below(&r, (uint64_t)m), chosen = -1;
            for (int t = 0; t < m; t++) {
                int c = f + (start + t) % m;
                if (s->stamp[s->text_class[c]] != stamp) {
                    chosen = c;
                    break;
                }
            }
            if (chosen < 0) {
                s->pending2[np2++] = img;
                continue;
            }
            s->stamp[s->text_class[chosen]] = stamp;
            s->plan_img[pairs] = img;
            s->plan_cap[pairs] = chosen;
            pairs++;
            in_batch++;
        }
        int *t = s->pending;
        s->pending = s->pending2;
        s->pending2 = t;
        np = np2;
        s->batch_start[++nb] = pairs;
    }
    if (s->drop_last && nb > 0 && s->batch_start[nb] - s->batch_start[nb - 1] < s->batch_size) nb--;
    s->n_pairs = pairs;
    s->n_batches = nb;
    s->epoch = epoch;
    s->pos = 0;
    s->check = rng_u64(&r);
    s->planned = 1;
    return CLIPC_OK;
}

/* Assigns each caption the id of the first caption with the same
 * normalised text (exact comparison; the hash only finds candidates). */
static clipc_status build_classes(clipc_sampler *s, const char *const *texts, int n_caps) {
    size_t cap = 16;
    while (cap < (size_t)n_caps * 2) cap *= 2;
    int *table = malloc(cap * sizeof *table);
    char **norm = calloc((size_t)n_caps + 1, sizeof *norm);
    uint64_t *h = malloc(((size_t)n_caps + 1) * sizeof *h);
    clipc_status st = CLIPC_OK;
    if (!table || !norm || !h) {
        st = clipc_error(CLIPC_ERR_NOMEM, "out of memory building the sampler");
        goto done;
    }
    memset(table, 0xff, cap * sizeof *table);
    s->n_classes = 0;
    uint64_t fp = HASH_FNV_OFFSET;
    for (int c = 0; c < n_caps; c++) {
        const char *t = texts[c] ? texts[c] : "";
        size_t n = strlen(t);
        if (!(norm[c] = malloc(n + 1))) {
            st = clipc_error(CLIPC_ERR_NOMEM, "out of memory building the sampler");
            goto done;
        }
        size_t l = caption_key(t, n, norm[c]);
        h[c] = hash_bytes(norm[c], l, HASH_FNV_OFFSET);
        size_t k = h[c] & (cap - 1);
        int cls = -1;
        for (;; k = (k + 1) & (cap - 1)) {
            int o = table[k];
            if (o < 0) break;
            if (h[o] == h[c] && strcmp(norm[o], norm[c]) == 0) {
                cls = s->text_class[o];
                break;
            }
        }
        if (cls < 0) {
            table[k] = c;
            cls = s->n_classes++;
        }
        s->text_class[c] = cls;
        fp = hash_bytes(&h[c], sizeof h[c], fp);
    }
    for (int i = 0; i <= s->n_images; i++) fp = hash_bytes(&s->cap_off[i], sizeof(int), fp);
    s->fingerprint = fp;
done:
    if (norm)
        for (int c = 0; c < n_caps; c++) free(norm[c]);
    free(norm);
    free(table);
    free(h);
    return st;
}

clipc_status clipc_sampler_create_raw(int n_images, const int *cap_offsets,
                                      const char *const *texts, int batch_size, uint64_t seed,
                                      int drop_last, clipc_sampler **out) {
    *out = NULL;
    if (n_images <= 0 || !cap_offsets || !texts)
        return clipc_error(CLIPC_ERR_INVALID, "sampler: no images");
    if (batch_size <= 0)
        return clipc_error(CLIPC_ERR_INVALID, "sampler: batch size %d must be positive", batch_size);
    if (cap_offsets[0] != 0)
        return clipc_error(CLIPC_ERR_INVALID, "sampler: caption offsets must start at 0");
    for (int i = 0; i < n_images; i++)
        if (cap_offsets[i + 1] < cap_offsets[i])
            return clipc_error(CLIPC_ERR_INVALID, "sampler: caption offsets decrease at image %d", i);
    int n_caps = cap_offsets[n_images];
    if (n_caps == 0) return clipc_error(CLIPC_ERR_INVALID, "sampler: no image has a caption");
    clipc_sampler *s = calloc(1, sizeof *s);
    if (!s) return clipc_error(CLIPC_ERR_NOMEM, "out of memory building the sampler");
    s->n_images = n_images;
    s->batch_size = batch_size;
    s->drop_last = drop_last ? 1 : 0;
    s->seed = seed;
    size_t ni = (size_t)n_images, nc = (size_t)n_caps;
    s->cap_off = malloc((ni + 1) * sizeof(int));
    s->text_class = malloc(nc * sizeof(int));
    s->plan_img = malloc(ni * sizeof(int));
    s->plan_cap = malloc(ni * sizeof(int));
    s->batch_start = malloc((ni + 1) * sizeof(int));
    s->order = malloc(ni * sizeof(int));
    s->pending = malloc(ni * sizeof(int));
    s->pending2 = malloc(ni * sizeof(int));
    s->stamp = malloc(nc * sizeof(int));
    clipc_status st = CLIPC_OK;
    if (!s->cap_off || !s->text_class || !s->plan_img || !s->plan_cap || !s->batch_start ||
        !s->order || !s->pending || !s->pending2 || !s->stamp) {
        st = clipc_error(CLIPC_ERR_NOMEM, "out of memory building the sampler");
    } else {
        memcpy(s->cap_off, cap_offsets, (ni + 1) * sizeof(int));
        st = build_classes(s, texts, n_caps);
    }
    if (!st) st = plan_epoch(s, 0);
    if (!st && s->n_batches == 0)
        st = clipc_error(CLIPC_ERR_INVALID,
                         "sampler: batch size %d with drop_last leaves no batch (%d pairs per epoch)",
                         batch_size, s->n_pairs);
    if (st) {
        clipc_sampler_free(s);
        return st;
    }
    *out = s;
    return CLIPC_OK;
}

clipc_status clipc_sampler_create(const clipc_dataset *ds, int batch_size, uint64_t seed,
                                  int drop_last, clipc_sampler **out) {
    *out = NULL;
    int ni = clipc_dataset_n_images(ds), nc = clipc_dataset_n_captions(ds);
    if (ni <= 0) return clipc_error(CLIPC_ERR_INVALID, "sampler: the dataset has no images");
    int *off = malloc(((size_t)ni + 1) * sizeof *off);
    const char **texts = malloc(((size_t)nc + 1) * sizeof *texts);
    if (!off || !texts) {
        free(off);
        free(texts);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory building the sampler");
    }
    for (int i = 0; i < ni; i++) clipc_dataset_image_captions(ds, i, &off[i]);
    off[ni] = nc;
    for (int c = 0; c < nc; c++) texts[c] = clipc_dataset_caption(ds, c);
    clipc_status st = clipc_sampler_create_raw(ni, off, texts, batch_size, seed, drop_last, out);
    free(off);
    free(texts);
    return st;
}

void clipc_sampler_free(clipc_sampler *s) {
    if (!s) return;
    free(s->cap_off);
    free(s->text_class);
    free(s->plan_img);
    free(s->plan_cap);
    free(s->batch_start);
    free(s->order);
    free(s->pending);
    free(s->pending2);
    free(s->stamp);
    free(s);
}

clipc_status clipc_sampler_next(clipc_sampler *s, int *images, int *captions, int *n,
                                int64_t *epoch) {
    int a = s->batch_start[s->pos], b = s->batch_start[s->pos + 1];
    memcpy(images, s->plan_img + a, (size_t)(b - a) * sizeof(int));
    memcpy(captions, s->plan_cap + a, (size_t)(b - a) * sizeof(int));
    *n = b - a;
    if (epoch) *epoch = s->epoch;
    /* Plan the next epoch as soon as this one is used up, so the state and
     * batches_in_epoch always describe the batch that comes next. */
    if (++s->pos == s->n_batches) return plan_epoch(s, s->epoch + 1);
    return CLIPC_OK;
}

int clipc_sampler_batches_in_epoch(const clipc_sampler *s) { return s->n_batches; }

void clipc_sampler_get_state(const clipc_sampler *s, uint64_t st[CLIPC_SAMPLER_STATE_WORDS]) {
    st[0] = STATE_MAGIC;
    st[1] = s->seed;
    st[2] = (uint64_t)s->epoch;
    st[3] = (uint64_t)s->pos;
    st[4] = (uint64_t)s->batch_size;
    st[5] = (uint64_t)s->drop_last;
    st[6] = s->fingerprint;
    st[7] = s->check;
}

clipc_status clipc_sampler_set_state(clipc_sampler *s, const uint64_t st[CLIPC_SAMPLER_STATE_WORDS]) {
    if (st[0] != STATE_MAGIC)
        return clipc_error(CLIPC_ERR_FORMAT, "sampler state: bad magic (not a sampler state)");
    if (st[4] != (uint64_t)s->batch_size || st[5] != (uint64_t)s->drop_last)
        return clipc_error(CLIPC_ERR_INVALID,
                           "sampler state: saved with batch size %llu drop_last %llu, sampler has %d %d",
                           (unsigned long long)st[4], (unsigned long long)st[5], s->batch_size,
                           s->drop_last);
    if (st[6] != s->fingerprint)
        return clipc_error(CLIPC_ERR_INVALID,
                           "sampler state: saved over different data (fingerprint mismatch)");
    if (st[2] > (uint64_t)INT64_MAX)
        return clipc_error(CLIPC_ERR_FORMAT, "sampler state: bad epoch");
    uint64_t old_seed = s->seed;
    int64_t old_epoch = s->epoch;
    int old_pos = s->pos;
    s->seed = st[1];
    clipc_status e = plan_epoch(s, (int64_t)st[2]);
    if (!e && (st[3] >= (uint64_t)s->n_batches || s->check != st[7]))
        e = clipc_error(CLIPC_ERR_INVALID, "sampler state: position %llu / check word do not match "
                        "the rebuilt epoch plan", (unsigned long long)st[3]);
    if (e) { /* back to where the sampler was */
        s->seed = old_seed;
        plan_epoch(s, old_epoch);
        s->pos = old_pos;
        return e;
    }
    s->pos = (int)st[3];
    return CLIPC_OK;
}
