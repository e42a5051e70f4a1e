/*
 * test_prompts.c — prompt template sets: the built-in "imagenet" set is
 * OpenAI's 80 templates (tests/data/prompts/imagenet_templates.txt, taken
 * from their notebook by tools/get_imagenet_prompts.py), and
 * `--templates imagenet`, `--templates-file` and 80 `--template` options
 * give the same text embeddings, bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"

#define TEMPLATES_FILE "tests/data/prompts/imagenet_templates.txt"

static const clipc_config tiny_cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};

/* The file's lines (its buffer is kept in *buf). */
static int file_lines(char **buf, const char **lines, int cap) {
    size_t len;
    if (clipc_read_file(TEMPLATES_FILE, buf, &len)) return -1;
    int n = 0;
    for (char *p = *buf; *p && n < cap;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        lines[n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return n;
}

TEST(prompts_imagenet_set_is_openai_80) {
    char *buf;
    const char *lines[128];
    int n = file_lines(&buf, lines, 128);
    if (n < 0) SKIP("%s absent (run from the repository root)", TEMPLATES_FILE);
    int k;
    const char *const *set = clipc_prompt_templates("imagenet", &k);
    REQUIRE(set && k == 80 && n == 80);
    for (int i = 0; i < 80; i++) CHECKF(!strcmp(set[i], lines[i]), "template %d: '%s' vs '%s'", i, set[i], lines[i]);
    CHECK(!strcmp(set[0], "a bad photo of a {}.") && !strcmp(set[79], "a tattoo of the {}."));
    const char *const *d = clipc_prompt_templates("default", &k);
    CHECK(d && k == 1 && !strcmp(d[0], "a photo of a {}."));
    CHECK(clipc_prompt_templates("imagenet-21k", &k) == NULL && k == 0);

    /* The ensemble from the set equals the one from the file's lines. */
    clipc_model *m;
    clipc_tokenizer *tok;
    REQUIRE_OK(clipc_model_create(&tiny_cfg, 3, &m));
    REQUIRE_OK(clipc_tokenizer_load(NULL, &tok));
    const char *labels[] = {"cat", "golden retriever", "car"};
    int E = tiny_cfg.embed_dim;
    float *a = malloc(sizeof(float) * 3 * E), *b = malloc(sizeof(float) * 3 * E), *c = malloc(sizeof(float) * 3 * E);
    REQUIRE_OK(clipc_zeroshot_weights(m, tok, labels, 3, set, 80, a));
    REQUIRE_OK(clipc_zeroshot_weights(m, tok, labels, 3, lines, 80, b));
    REQUIRE_OK(clipc_zeroshot_weights(m, tok, labels, 3, NULL, 0, c));
    CHECK(!memcmp(a, b, sizeof(float) * 3 * E));
    CHECK(memcmp(a, c, sizeof(float) * 3 * E) != 0); /* the ensemble is not the default prompt */
    /* By hand: the normalised mean of the 80 normalised prompt embeddings. */
    char prompt[256];
    const char *filled[80];
    char store[80][256];
    float *emb = malloc(sizeof(float) * 80 * E), w[64];
    REQUIRE(E <= 64);
    for (int t = 0; t < 80; t++) {
        const char *hole = strstr(lines[t], "{}");
        snprintf(prompt, sizeof prompt, "%.*s%s%s", (int)(hole - lines[t]), lines[t], labels[1], hole + 2);
        strcpy(store[t], prompt);
        filled[t] = store[t];
    }
    REQUIRE_OK(clipc_embed_texts(m, tok, filled, 80, emb, NULL));
    double norm = 0;
    for (int j = 0; j < E; j++) {
        double acc = 0;
        for (int t = 0; t < 80; t++) acc += emb[(size_t)t * E + j];
        w[j] = (float)(acc / 80);
        norm += (double)w[j] * w[j];
    }
    for (int j = 0; j < E; j++) CHECK_NEAR(a[E + j], w[j] / sqrt(norm), 1e-6);
    free(emb);
    free(a);
    free(b);
    free(c);
    free(buf);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
}

/* The CLI: --templates imagenet, --templates-file and the 80 templates typed
 * as --template options print the same probabilities (to the last digit). */
TEST(prompts_cli_templates_imagenet_equals_by_hand) {
    char *buf;
    const char *lines[128];
    int n = file_lines(&buf, lines, 128);
    if (n < 0) SKIP("%s absent (run from the repository root)", TEMPLATES_FILE);
    struct stat st;
    if (stat("tests/data/imgfmt/bmp_rgb24.bmp", &st)) SKIP("tests/data/imgfmt absent");
    const char *tmp = test_tmpdir();
    char mp[512];
    snprintf(mp, sizeof mp, "%s/m.safetensors", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&tiny_cfg, 5, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    size_t cap = 16384;
    char *cmd = malloc(cap), *out[4];
    const char *base = "clipc classify --json --top 3 --labels 'cat,golden retriever,car' "
                       "tests/data/imgfmt/bmp_rgb24.bmp --model";
    snprintf(cmd, cap, "%s '%s' --templates imagenet 2>&1", base, mp);
    CHECK(run_capture(cmd, &out[0]) == 0);
    snprintf(cmd, cap, "%s '%s' --templates-file " TEMPLATES_FILE " 2>&1", base, mp);
    CHECK(run_capture(cmd, &out[1]) == 0);
    size_t l = (size_t)snprintf(cmd, cap, "%s '%s'", base, mp);
    for (int i = 0; i < n; i++) l += (size_t)snprintf(cmd + l, cap - l, " --template '%s'", lines[i]);
    snprintf(cmd + l, cap - l, " 2>&1");
    CHECK(run_capture(cmd, &out[2]) == 0);
    snprintf(cmd, cap, "%s '%s' 2>&1", base, mp);
    CHECK(run_capture(cmd, &out[3]) == 0);
    CHECKF(strstr(out[0], "\"label\": \"golden retriever\""), "%s", out[0]);
    CHECKF(!strcmp(out[0], out[1]) && !strcmp(out[0], out[2]), "set:\n%s\nfile:\n%s\nby hand:\n%s", out[0], out[1],
           out[2]);
    CHECKF(strcmp(out[0], out[3]) != 0, "the ensemble printed what the default template does:\n%s", out[3]);
    for (int i = 0; i < 4; i++) free(out[i]);
    snprintf(cmd, cap, "%s '%s' --templates imagenet21k 2>&1", base, mp);
    CHECK(run_capture(cmd, &out[0]) == 2);
    CHECKF(strstr(out[0], "clipc classify: --templates: unknown set 'imagenet21k' (known: imagenet, default)"),
           "%s", out[0]);
    free(out[0]);
    free(cmd);
    free(buf);
}

/* eval --labels-dir --classes-file: one name per class folder, else an error
 * naming the file and both counts. */
TEST(prompts_eval_classes_file) {
    struct stat st;
    if (stat("tests/data/imgfmt/bmp_rgb24.bmp", &st)) SKIP("tests/data/imgfmt absent");
    const char *tmp = test_tmpdir();
    char mp[512], d[512], p[700], cf[512], cmd[3000], *out;
    snprintf(mp, sizeof mp, "%s/m.safetensors", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&tiny_cfg, 5, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    static const char *cls[] = {"n01", "n02"}, *img[] = {"webp_lossless.webp", "gif_p.gif"};
    snprintf(d, sizeof d, "%s/val", tmp);
    REQUIRE(mkdir(d, 0755) == 0);
    for (int i = 0; i < 2; i++) {
        char *b;
        size_t n;
        snprintf(p, sizeof p, "%s/%s", d, cls[i]);
        REQUIRE(mkdir(p, 0755) == 0);
        snprintf(p, sizeof p, "tests/data/imgfmt/%s", img[i]);
        REQUIRE_OK(clipc_read_file(p, &b, &n));
        snprintf(p, sizeof p, "%s/%s/%s", d, cls[i], img[i]);
        REQUIRE_OK(clipc_write_file_atomic(p, b, n));
        free(b);
    }
    snprintf(cf, sizeof cf, "%s/classes.txt", tmp);
    REQUIRE_OK(clipc_write_file_atomic(cf, "tench\r\ngoldfish\n\n", 17));
    snprintf(cmd, sizeof cmd, "clipc eval --json --model '%s' --labels-dir '%s' --classes-file '%s' 2>&1", mp, d,
             cf);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && strstr(out, "{\"images\": 2, \"classes\": 2, \"top1\": "), "rc %d: %s", rc, out);
    free(out);
    REQUIRE_OK(clipc_write_file_atomic(cf, "tench\n", 6));
    rc = run_capture(cmd, &out);
    snprintf(p, sizeof p, "clipc: error: %s: 1 class names for 2 class folders (one name per line, in the folders' "
             "sorted order)\n", cf);
    CHECKF(rc == 1 && strstr(out, p), "rc %d: %s", rc, out);
    free(out);
}
