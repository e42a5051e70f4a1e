/*
 * test_cli_encode.c — `clipc encode` end to end: from the reference PNG/JPEG
 * files and caption strings (not stored tensors) to OpenAI's image_embeds and
 * text_embeds; and bad inputs giving a one-line error and a non-zero exit.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "harness.h"


/* Appends a shell-quoted argument. */
static void q(char *cmd, size_t cap, const char *arg) {
    size_t n = strlen(cmd);
    n += (size_t)snprintf(cmd + n, cap - n, " '");
    for (const char *p = arg; *p && n + 5 < cap; p++) {
        if (*p == '\'') n += (size_t)snprintf(cmd + n, cap - n, "'\\''");
        else cmd[n++] = *p;
    }
    snprintf(cmd + n, cap - n, "'");
}

TEST(cli_encode_matches_openai_from_files) {
    const char *dir = shared_path("reference/openai_clip/vit_tiny");
    if (!dir) SKIP("../shared/reference not found");
    char path[1024], *json;
    size_t len;
    snprintf(path, sizeof path, "%s/inputs/inputs.json", dir);
    REQUIRE_OK(clipc_read_file(path, &json, &len));
    cJSON *meta = cJSON_Parse(json);
    free(json);
    REQUIRE(meta);
    cJSON *images = cJSON_GetObjectItem(meta, "images"), *caps = cJSON_GetObjectItem(meta, "captions");
    REQUIRE(cJSON_GetArraySize(images) == 6 && cJSON_GetArraySize(caps) == 6);
    static char cmd[16384];
    snprintf(cmd, sizeof cmd, "clipc encode --model");
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    q(cmd, sizeof cmd, path);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/inputs/%s", dir, cJSON_GetObjectItem(cJSON_GetArrayItem(images, i), "file")->valuestring);
        strcat(cmd, " --image");
        q(cmd, sizeof cmd, path);
    }
    for (int i = 0; i < 6; i++) {
        strcat(cmd, " --text");
        q(cmd, sizeof cmd, cJSON_GetArrayItem(caps, i)->valuestring);
    }
    char *out;
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "clipc encode exited %d", rc);
    st_file ref;
    snprintf(path, sizeof path, "%s/outputs/outputs.safetensors", dir);
    REQUIRE_OK(st_open(path, &ref));
    const float *ie = st_get(&ref, "image_embeds")->data, *te = st_get(&ref, "text_embeds")->data;
    int line = 0;
    double worst = 0;
    for (char *s = strtok(out, "\n"); s; s = strtok(NULL, "\n"), line++) {
        cJSON *o = cJSON_Parse(s);
        REQUIREF(o, "line %d is not JSON", line + 1);
        cJSON *emb = cJSON_GetObjectItem(o, "embedding");
        REQUIRE(cJSON_GetArraySize(emb) == 64);
        const float *want = line < 6 ? ie + line * 64 : te + (line - 6) * 64;
        if (line >= 6) CHECK(!strcmp(cJSON_GetObjectItem(o, "input")->valuestring,
                                      cJSON_GetArrayItem(caps, line - 6)->valuestring));
        for (int k = 0; k < 64; k++) worst = fmax(worst, fabs(cJSON_GetArrayItem(emb, k)->valuedouble - want[k]));
        cJSON_Delete(o);
    }
    CHECK(line == 12);
    CHECKF(worst <= 1e-4 * 3.3, "max |embedding - OpenAI| = %.3g", worst); /* max|ref| is about 3.3 */
    if (getenv("CLIPC_TEST_VERBOSE")) printf("    clipc encode vs OpenAI: max|diff| %.3g\n", worst);
    free(out);
    st_close(&ref);
    cJSON_Delete(meta);
}

TEST(cli_encode_bad_inputs_fail_cleanly) {
    const char *tmp = test_tmpdir();
    char p[512], cmd[2048], *out;
    /* A truncated model file. */
    snprintf(p, sizeof p, "%s/trunc.safetensors", tmp);
    FILE *f = fopen(p, "wb");
    REQUIRE(f);
    fwrite("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 1, 13, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "clipc encode --model %s --text hi 2>&1", p);
    int rc = run_capture(cmd, &out);
    CHECK(rc == 1);
    CHECKF(strstr(out, "trunc.safetensors") && strchr(out, '\n') == out + strlen(out) - 1,
           "want one line naming the file, got: %s", out);
    free(out);
    /* A good model, a missing image and a non-image file. */
    snprintf(cmd, sizeof cmd, "clipc encode --model tests/data/goldens/b/weights.safetensors --image %s/none.png 2>&1", tmp);
    rc = run_capture(cmd, &out);
    CHECK(rc == 1 && strstr(out, "none.png"));
    free(out);
    snprintf(cmd, sizeof cmd, "clipc encode --model tests/data/goldens/b/weights.safetensors --image Makefile 2>&1");
    rc = run_capture(cmd, &out);
    CHECK(rc == 1 && strstr(out, "Makefile"));
    free(out);
    /* An image given as the model. */
    snprintf(cmd, sizeof cmd, "clipc encode --model tests/data/images/ycc444_prog_37x23.jpg --text hi 2>&1");
    rc = run_capture(cmd, &out);
    CHECK(rc == 1 && strstr(out, "ycc444_prog_37x23.jpg"));
    free(out);
    /* Usage errors exit 2. */
    rc = run_capture("clipc encode --text hi 2>&1", &out);
    CHECK(rc == 2 && strstr(out, "--model"));
    free(out);
}

TEST(cli_encode_normalize_and_safetensors_output) {
    const char *tmp = test_tmpdir();
    char cmd[2048], *out, p[512], mp[512];
    /* A small random model with the real 49408-token vocabulary, saved by the library. */
    clipc_config cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&cfg, 7, &m));
    snprintf(mp, sizeof mp, "%s/model.safetensors", tmp);
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    snprintf(p, sizeof p, "%s/emb.safetensors", tmp);
    snprintf(cmd, sizeof cmd,
             "clipc encode --model %s --normalize --format safetensors "
             "--out %s --text 'a cat' --image tests/data/images/ycc444_prog_37x23.jpg --text 'a dog' 2>&1", mp, p);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "exit %d: %s", rc, out);
    free(out);
    st_file f;
    REQUIRE_OK(st_open(p, &f));
    const st_tensor *t = st_get(&f, "text_embeds"), *i = st_get(&f, "image_embeds");
    REQUIRE(t && i && t->shape[0] == 2 && t->shape[1] == 20 && i->shape[0] == 1);
    double n2 = 0;
    for (int k = 0; k < 20; k++) n2 += ((const float *)t->data)[k] * ((const float *)t->data)[k];
    CHECK_NEAR(n2, 1.0, 1e-5);
    CHECK(st_meta(&f, "text_inputs") && !strcmp(st_meta(&f, "text_inputs"), "[\"a cat\",\"a dog\"]"));
    st_close(&f);
}
