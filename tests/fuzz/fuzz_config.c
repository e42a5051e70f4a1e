/*
 * fuzz_config.c — libFuzzer target for a model's config (src/model/
 * config_file.c): the shapes of the tensors, the safetensors metadata
 * (head counts, widths, activation) and a config.json beside the model.
 *
 * Input: the safetensors header JSON, then optionally a NUL and the bytes
 * of config.json.  The header gets its 8-byte length in front and 4096 zero
 * bytes of data behind it (enough for the seeds' tiny tensors), so the
 * fuzzer works on names, shapes and metadata rather than on framing (that
 * is fuzz_safetensors's job).  An accepted config must validate and its
 * head counts must divide the widths.
 *
 *   make fuzz-config && build-fuzz/fuzz_config SCRATCH tests/fuzz/corpus_config
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "formats/safetensors.h"
#include "fuzz_util.h"
#include "model/config_file.h"

enum { DATA_BYTES = 4096 };

static void quiet(const char *msg, void *ud) {
    (void)ud;
    FUZZ_CHECK(msg && *msg);
}

int fuzz_config(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul ? (size_t)(nul - data) : size;
    char model[320];
    snprintf(model, sizeof model, "%s/model.safetensors", fuzz_dir());
    if (nul) {
        fuzz_file("config.json", nul + 1, size - hlen - 1);
    } else {
        char cj[320];
        snprintf(cj, sizeof cj, "%s/config.json", fuzz_dir());
        unlink(cj);
    }
    uint8_t *buf = calloc(1, 8 + hlen + DATA_BYTES);
    FUZZ_CHECK(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    if (hlen) memcpy(buf + 8, data, hlen);
    st_file f;
    if (st_parse(buf, 8 + hlen + DATA_BYTES, model, &f) == CLIPC_OK) {
        clipc_load_opts o;
        memset(&o, 0, sizeof o);
        o.warn = quiet;
        o.act_given = hlen & 1; /* half the inputs name the activation (--act) */
        clipc_config c;
        clipc_model_origins origin;
        if (model_config_from_file(&f, model, &o, &c, &origin) == CLIPC_OK) {
            FUZZ_CHECK(clipc_config_validate(&c) == CLIPC_OK);
            FUZZ_CHECK(c.vision_heads > 0 && c.vision_width % c.vision_heads == 0);
            FUZZ_CHECK(c.transformer_heads > 0 && c.transformer_width % c.transformer_heads == 0);
        } else {
            FUZZ_CHECK(*clipc_last_error());
        }
    }
    st_close(&f);
    free(buf);
    return 0;
}

FUZZ_ENTRY(config)
