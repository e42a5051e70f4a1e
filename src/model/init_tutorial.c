/*
 * init_tutorial.c — a new tutorial model (seed 002) from the files its
 * users start from: a torchvision/timm resnet50 state dict for the image
 * tower (--init-image), a Hugging Face DistilBERT folder (model.safetensors
 * + vocab.txt) or file for the text tower (--init-text), a vocab.txt for a
 * text tower trained from scratch (--vocab).  The config's tower shapes
 * follow the files (a file decides its own depth and width); what they
 * leave open comes from the named config (tutorial-rn50: 224 px, context
 * 200, E 256).  Towers without a file and the heads get init.c's random
 * weights.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/tensor_file.h"
#include "model/keymap_distilbert.h"
#include "model/keymap_tutorial.h"

static int is_dir(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* --init-text: a folder's model.safetensors (or pytorch_model.bin) and its
 * vocab.txt, or a weights file with maybe a vocab.txt beside it. */
static void text_paths(const char *text, char *weights, char *vocab, size_t n) {
    if (is_dir(text)) {
        snprintf(weights, n, "%s/model.safetensors", text);
        if (!is_file(weights)) snprintf(weights, n, "%s/pytorch_model.bin", text);
        snprintf(vocab, n, "%s/vocab.txt", text);
        return;
    }
    snprintf(weights, n, "%s", text);
    const char *sl = strrchr(text, '/');
    snprintf(vocab, n, "%.*s%svocab.txt", sl ? (int)(sl - text) : 0, text, sl ? "/" : "");
}

clipc_status clipc_model_create_tutorial(const clipc_config *base, uint64_t seed, const clipc_tutorial_init *ti,
                                         clipc_model **out) {
    *out = NULL;
    clipc_config c = *base;
    if (ti->head) c.head = ti->head;
    char tw[4096] = "", tv[4096] = "";
    const char *vocab = ti->vocab;
    st_file fi = {0}, ft = {0};
    int hi = 0, ht = 0;
    clipc_status s = CLIPC_OK;
    if (ti->image && *ti->image) {
        if (!(s = tf_open(ti->image, &fi))) hi = 1, s = keymap_tv_resnet_shapes(&fi, ti->image, &c);
        if (s) goto done;
    }
    if (ti->text && *ti->text) {
        text_paths(ti->text, tw, tv, sizeof tw);
        if (!(s = tf_open(tw, &ft))) ht = 1, s = keymap_distilbert_shapes(&ft, tw, &c);
        if (s) goto done;
        /* DistilBERT's heads are 64 wide; the context is the tutorial's
         * max_length, within the file's position table */
        c.transformer_heads = c.transformer_width / 64 > 0 ? c.transformer_width / 64 : 1;
        if (c.context_length > c.text_positions) c.context_length = c.text_positions;
        if (!vocab && is_file(tv)) vocab = tv;
    }
    char *vbuf = NULL;
    size_t vn = 0;
    if (vocab && *vocab) {
        if ((s = clipc_read_file(vocab, &vbuf, &vn))) goto done;
        clipc_wordpiece *wp = clipc_wordpiece_from_buffer(vbuf, vn, vocab);
        if (!wp) {
            s = CLIPC_ERR_FORMAT;
            free(vbuf);
            goto done;
        }
        int v = clipc_wordpiece_vocab_size(wp);
        clipc_wordpiece_free(wp);
        if (ht && v != c.vocab_size) {
            s = clipc_error(CLIPC_ERR_INVALID, "%s: %d tokens, but %s's word embedding has %d rows", vocab, v, tw,
                            c.vocab_size);
            free(vbuf);
            goto done;
        }
        c.vocab_size = v;
    }
    s = clipc_model_create(&c, seed, out);
    if (!s && hi) s = keymap_tv_resnet_gather(&fi, ti->image, &(*out)->tab, (*out)->params, NULL);
    if (!s && ht) s = keymap_distilbert_gather(&ft, tw, &(*out)->tab, (*out)->params, NULL);
    if (!s && vbuf) s = clipc_model_set_vocab(*out, vbuf, vn, vocab);
    free(vbuf);
    if (s) {
        clipc_model_free(*out);
        *out = NULL;
    }
done:
    if (hi) st_close(&fi);
    if (ht) st_close(&ft);
    return s;
}
