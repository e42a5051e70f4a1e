/*
 * tutorial.c — the training run's part for the tutorial's model (seed
 * 002): making the model from the files users have, the loss choice, the
 * temperature.  run.c calls these and stays as it was for OpenAI's models.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/tutorial.h"
#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "base/error.h"
#include "model/model.h"

void tutorial_start_temperature(const clipc_train_opts *o, clipc_model *m) {
    if (!clipc_config_is_tutorial(&m->cfg)) return; /* OpenAI's models keep their logit_scale */
    int soft = o->loss && !strcmp(o->loss, "soft");
    double t = o->temperature > 0 ? o->temperature : soft ? 1.0 : 0.0;
    if (t > 0 && m->w.logit_scale) m->w.logit_scale[0] = (float)log(1.0 / t);
}

clipc_status tutorial_load_model(const clipc_train_opts *o, clipc_model **m, int *handled) {
    *handled = 0;
    int towers = (o->init_image && *o->init_image) || (o->init_text && *o->init_text);
    clipc_status s = CLIPC_OK;
    if (o->init && *o->init) {
        if (towers)
            return clipc_error(CLIPC_ERR_INVALID, "train: --init loads a whole model; --init-image and --init-text "
                               "start a new tutorial model: give one or the other");
        if (!(o->vocab && *o->vocab)) return CLIPC_OK; /* run.c loads it */
        clipc_load_opts lo = {0};
        lo.copy = 1;
        if ((s = clipc_model_load(o->init, &lo, m))) return s;
        *handled = 1;
        if (o->vocab && *o->vocab) {
            char *buf;
            size_t n;
            if (!(s = clipc_read_file(o->vocab, &buf, &n))) {
                s = clipc_model_set_vocab(*m, buf, n, o->vocab);
                free(buf);
            }
        }
        return s;
    }
    clipc_config cfg;
    if ((s = clipc_config_named(o->config ? o->config : "small", &cfg))) return s;
    if (!clipc_config_is_tutorial(&cfg)) {
        if (towers || (o->head && *o->head))
            return clipc_error(CLIPC_ERR_INVALID, "train: --init-image, --init-text and --head are for the "
                               "tutorial's model (--config tutorial-rn50 or tutorial-tiny), not '%s'",
                               o->config ? o->config : "small");
        return CLIPC_OK;
    }
    clipc_tutorial_init ti = {o->init_image, o->init_text, o->vocab, 0};
    if (o->head && *o->head) ti.head = strcmp(o->head, "mlp") ? CLIPC_HEAD_LINEAR : CLIPC_HEAD_MLP;
    if ((s = clipc_model_create_tutorial(&cfg, o->seed, &ti, m))) return s;
    *handled = 1;
    if (!(*m)->vocab) {
        clipc_model_free(*m);
        *m = NULL;
        return clipc_error(CLIPC_ERR_INVALID, "train: a DistilBERT text tower needs its WordPiece vocabulary: "
                           "--vocab vocab.txt, or --init-text with a Hugging Face folder holding vocab.txt");
    }
    return CLIPC_OK;
}

clipc_status tutorial_setup_trainer(const clipc_train_opts *o, trainer *t) {
    t->ws.soft = o->loss && !strcmp(o->loss, "soft");
    if (t->ws.soft && !t->ws.tutorial)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "train: --loss soft is implemented for the tutorial's model only");
    return CLIPC_OK;
}

double tutorial_logit_scale_lr(const clipc_train_opts *o) {
    if (o->learn_temperature && o->lr_logit_scale == 0) return o->lr_proj >= 0 ? o->lr_proj : o->lr;
    return o->lr_logit_scale;
}
