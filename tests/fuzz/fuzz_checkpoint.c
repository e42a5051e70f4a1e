/*
 * fuzz_checkpoint.c — libFuzzer target for what `clipc train --resume`
 * reads from a run folder (src/train/checkpoint.c, src/train/options.c):
 * the stored training options (JSON, also a run's config.json), the
 * training state state.safetensors, and the `last` pointer file.
 *
 * The first byte picks which (mod 3); the rest is that file.  Accepted
 * options go through the same range checks as a run's (train_opts_check,
 * which may refuse them but must not misbehave); an accepted state must be
 * a step count the run could have reached.
 *
 *   make fuzz-checkpoint && build-fuzz/fuzz_checkpoint SCRATCH tests/fuzz/corpus_checkpoint
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "fuzz_util.h"
#include "train/checkpoint.h"
#include "train/options.h"

static void fuzz_options_json(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    FUZZ_CHECK(json);
    memcpy(json, data, size);
    json[size] = 0;
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    cJSON *keep = NULL;
    if (train_opts_from_json(json, "fuzz/config.json", &o, &keep) == CLIPC_OK) {
        FUZZ_CHECK(keep);
        if (!o.out_dir) o.out_dir = "out";
        if (!o.data) o.data = "data.csv";
        if (train_opts_check(&o) != CLIPC_OK) FUZZ_CHECK(*clipc_last_error());
        /* and back to JSON: what a resumed run would store again */
        char *again = train_opts_to_json(&o, NULL);
        FUZZ_CHECK(again);
        free(again);
    } else {
        FUZZ_CHECK(!keep && *clipc_last_error());
    }
    cJSON_Delete(keep);
    free(json);
}

static void fuzz_state(const uint8_t *data, size_t size) {
    fuzz_file("state.safetensors", data, size);
    run_state rs;
    char *opts = NULL;
    if (ckpt_load_state(fuzz_dir(), &rs, NULL, &opts) == CLIPC_OK) {
        FUZZ_CHECK(opts);
        clipc_train_opts o;
        clipc_train_opts_default(&o);
        cJSON *keep = NULL;
        if (train_opts_from_json(opts, "fuzz/state.safetensors", &o, &keep) != CLIPC_OK) FUZZ_CHECK(!keep);
        cJSON_Delete(keep);
    } else {
        FUZZ_CHECK(!opts && *clipc_last_error());
    }
    free(opts);
}

static void fuzz_pointer(const uint8_t *data, size_t size) {
    char st[320];
    snprintf(st, sizeof st, "%s/state.safetensors", fuzz_dir());
    unlink(st);
    fuzz_file("last", data, size);
    int64_t step = ckpt_pointer_step(fuzz_dir(), "last");
    FUZZ_CHECK(step >= -1);
    char *dir = NULL;
    if (ckpt_resolve(fuzz_dir(), &dir) == CLIPC_OK) {
        FUZZ_CHECK(dir && !strncmp(dir, fuzz_dir(), strlen(fuzz_dir())));
        FUZZ_CHECK(!strchr(dir + strlen(fuzz_dir()) + 1, '/')); /* never leaves the run folder */
    } else {
        FUZZ_CHECK(!dir && *clipc_last_error());
    }
    free(dir);
}

int fuzz_checkpoint(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: fuzz_options_json(data + 1, size - 1); break;
    case 1: fuzz_state(data + 1, size - 1); break;
    default: fuzz_pointer(data + 1, size - 1); break;
    }
    return 0;
}

FUZZ_ENTRY(checkpoint)
