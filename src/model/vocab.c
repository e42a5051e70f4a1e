/*
 * vocab.c — the tokenizer a model's text tower takes: OpenAI's BPE (the
 * vocabulary embedded in the library) for OpenAI's text transformer, the
 * model's own WordPiece vocabulary for the tutorial's DistilBERT.  That
 * vocabulary travels inside the model (clipc_model.vocab, the file's
 * `wordpiece_vocab` metadata: save.c, load.c), so no command needs a flag
 * to tokenise for a saved tutorial model.
 */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "base/error.h"

clipc_status clipc_model_set_vocab(clipc_model *m, const char *vocab, size_t n, const char *name) {
    if (m->cfg.text_arch != CLIPC_TEXT_DISTILBERT)
        return clipc_error(CLIPC_ERR_INVALID, "%s: only a DistilBERT text tower takes a WordPiece vocabulary",
                           name);
    clipc_wordpiece *wp = clipc_wordpiece_from_buffer(vocab, n, name);
    if (!wp) return CLIPC_ERR_FORMAT;
    int v = clipc_wordpiece_vocab_size(wp);
    clipc_wordpiece_free(wp);
    if (v != m->cfg.vocab_size)
        return clipc_error(CLIPC_ERR_INVALID, "%s: %d tokens, but the model's word embedding has %d rows", name, v,
                           m->cfg.vocab_size);
    char *c = malloc(n + 1);
    if (!c) return clipc_error(CLIPC_ERR_NOMEM, "out of memory copying the vocabulary");
    memcpy(c, vocab, n);
    c[n] = 0;
    free(m->vocab);
    m->vocab = c;
    return CLIPC_OK;
}

const char *clipc_model_vocab(const clipc_model *m) { return m->vocab; }

clipc_status clipc_model_tokenizer(const clipc_model *m, clipc_tokenizer **out) {
    *out = NULL;
    if (m->cfg.text_arch != CLIPC_TEXT_DISTILBERT) return clipc_tokenizer_load(NULL, out);
    if (!m->vocab)
        return clipc_error(CLIPC_ERR_INVALID,
                           "%s: this DistilBERT model carries no WordPiece vocabulary (no wordpiece_vocab metadata, "
                           "no vocab.txt beside the file); put the vocab.txt it was trained with beside it",
                           m->source ? m->source : "model");
    return clipc_tokenizer_wordpiece(m->vocab, strlen(m->vocab), m->source ? m->source : "model vocabulary", out);
}
