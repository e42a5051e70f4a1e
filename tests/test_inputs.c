/*
 * test_inputs.c — inputs that used to be wrong without a word: a NUL byte in
 * a tokenize line or a labels file, invalid recorded head counts, an empty
 * search query and control characters in plain-text result names, an
 * unreadable subfolder under `clipc index`, a read-only index under search,
 * and an image whose aspect ratio would make a huge resize target.
 */
#include <spng.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_index.h"
#include "clipc_labels.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "nn/params.h"
#include "harness.h"

static void write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    REQUIRE(fwrite(data, 1, n, f) == n);
    REQUIRE(fclose(f) == 0);
}

/* A w x h RGB PNG (libspng), pixels from seed. */
static void write_png(const char *path, int w, int h, unsigned seed) {
    uint8_t *px = malloc((size_t)w * h * 3);
    REQUIRE(px);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) px[i] = (uint8_t)(i * (seed % 7 + 1) + seed * 37);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    FILE *f = fopen(path, "wb");
    REQUIRE(ctx && f);
    spng_set_png_file(ctx, f);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
    spng_set_ihdr(ctx, &ihdr);
    REQUIRE(spng_encode_image(ctx, px, (size_t)w * h * 3, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE) == 0);
    spng_ctx_free(ctx);
    fclose(f);
    free(px);
}

static const clipc_config small_cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU};

static void make_model(const char *path) {
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&small_cfg, 7, &m));
    REQUIRE_OK(clipc_model_save(m, path));
    clipc_model_free(m);
}

/* ------------------------------------------------------------- 1. NUL bytes */

TEST(inputs_tokenize_refuses_a_nul_byte) {
    const char *dir = test_tmpdir();
    char in[512], cmd[1200], *out;
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    /* Line 1: a raw NUL inside the string; 2: the escape \u0000; 3: an escaped
     * backslash then "u0000" (no NUL); 4: plain. */
    static const char data[] = "{\"text\": \"a\0b\"}\n{\"text\": \"a\\u0000b\"}\n{\"text\": \"a\\\\u0000\"}\n"
                               "{\"text\": \"a b\"}\n";
    write_bytes(in, data, sizeof data - 1);
    snprintf(cmd, sizeof cmd, "build/clipc tokenize < '%s'", in);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1, "exit status %d", rc);
    const char *l2 = strchr(out, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    REQUIREF(l2 && l3, "output:\n%s", out);
    CHECKF(!strncmp(out, "{\"line\":1,\"error\":\"a NUL byte in the text", 41), "output:\n%s", out);
    CHECKF(!strncmp(l2 + 1, "{\"line\":2,\"error\":\"a NUL byte in the text", 41), "output:\n%s", out);
    CHECKF(!strncmp(l3 + 1, "{\"ids\": [", 9) && strstr(l3, "\n{\"ids\": [320, 321]}\n"), "output:\n%s", out);
    free(out);
}

TEST(inputs_labels_file_refuses_a_nul_byte) {
    const char *dir = test_tmpdir();
    char lab[512], mp[512], img[512], csv[512], cmd[2000], *out;
    snprintf(lab, sizeof lab, "%s/labels.txt", dir);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    snprintf(img, sizeof img, "%s/a.png", dir);
    write_bytes(lab, "cat\ndog\0x\nbird\n", 15);
    make_model(mp);
    write_png(img, 20, 20, 1);
    snprintf(cmd, sizeof cmd, "build/clipc classify --model '%s' --labels-file '%s' '%s' 2>&1", mp, lab, img);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && strstr(out, "labels.txt:2: a NUL byte in the text"), "rc %d, output:\n%s", rc, out);
    CHECKF(!strstr(out, "%"), "classified anyway:\n%s", out);
    free(out);
    /* The library's labels CSV (eval --labels-csv) too. */
    snprintf(csv, sizeof csv, "%s/l.csv", dir);
    write_bytes(csv, "image,label\na.png,cat\nb.png,do\0g\n", 33);
    clipc_labels L = {0};
    CHECK(clipc_labels_read_csv(csv, NULL, &L) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "l.csv:3: a NUL byte in the text"), "%s", clipc_last_error());
    clipc_labels_free(&L);
}

/* ------------------------------------------------------ 2. recorded heads */

/* m's tensors with metadata meta (key, value, ..., NULL). */
static void write_with_meta(const clipc_model *m, const char *path, const char *const *meta) {
    st_out_tensor *t = calloc((size_t)m->tab.n, sizeof *t);
    REQUIRE(t);
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = m->params + p->offset;
    }
    REQUIRE_OK(st_write(path, t, m->tab.n, meta));
    free(t);
}

TEST(inputs_invalid_recorded_heads_are_errors) {
    const char *dir = test_tmpdir();
    char p[512], want[256];
    snprintf(p, sizeof p, "%s/h.safetensors", dir);
    clipc_model *m, *l;
    REQUIRE_OK(clipc_model_create(&small_cfg, 1, &m)); /* widths 16 and 16 */
    static const char *const bad[] = {"0", "-1", "12345678901234567890", "3", "32", "2.5", "\"2\"", "[2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int text = 0; text < 2; text++) {
            const char *key = text ? "transformer_heads" : "vision_heads";
            const char *meta[] = {key, bad[i], text ? "vision_heads" : "transformer_heads", "2", NULL};
            write_with_meta(m, p, meta);
            CHECKF(clipc_model_load(p, NULL, &l) == CLIPC_ERR_FORMAT, "%s = %s loaded", key, bad[i]);
            snprintf(want, sizeof want, "h.safetensors: metadata %s '%s' is not a valid head count for width 16", key,
                     bad[i]);
            CHECKF(strstr(clipc_last_error(), want), "%s = %s: %s", key, bad[i], clipc_last_error());
        }
    /* Valid counts load; "null" still means not recorded (width/64 rule). */
    const char *ok[] = {"vision_heads", "4", "transformer_heads", "16", NULL};
    write_with_meta(m, p, ok);
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    CHECK(l->cfg.vision_heads == 4 && l->cfg.transformer_heads == 16);
    clipc_model_free(l);
    const char *nul[] = {"vision_heads", "null", "transformer_heads", "2", NULL};
    write_with_meta(m, p, nul);
    REQUIRE_OK(clipc_model_load(p, NULL, &l));
    CHECK(l->cfg.vision_heads == 1 && l->cfg.transformer_heads == 2);
    clipc_model_free(l);
    clipc_model_free(m);
}

/* ------------------------------------------- 3. empty query, escaped names */

TEST(inputs_search_refuses_an_empty_query_and_escapes_names) {
    const char *dir = test_tmpdir();
    char d[512], p[700], db[512], mp[512], cmd[3000], *out;
    snprintf(d, sizeof d, "%s/imgs", dir);
    REQUIRE(mkdir(d, 0755) == 0);
    snprintf(p, sizeof p, "%s/x\ny.png", d);
    write_png(p, 24, 24, 1);
    snprintf(p, sizeof p, "%s/back\\slash\t.png", d);
    write_png(p, 24, 24, 2);
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    make_model(mp);
    snprintf(db, sizeof db, "%s/index.db", dir);
    snprintf(cmd, sizeof cmd, "build/clipc index '%s' --model '%s' --db '%s' 2>&1", d, mp, db);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "index: %s", out);
    free(out);
    static const char *const empty[] = {"''", "'   '", "'\t\n'"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "build/clipc search --db '%s' %s 2>&1", db, empty[i]);
        rc = run_capture(cmd, &out);
        CHECKF(rc == 2 && strstr(out, "the query text is empty"), "query %s: rc %d: %s", empty[i], rc, out);
        free(out);
    }
    /* Plain text: one line per result, the newline and tab escaped, the backslash doubled. */
    snprintf(cmd, sizeof cmd, "build/clipc search --db '%s' 'a photo'", db);
    rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "search: %s", out);
    int lines = 0;
    for (const char *q = out; *q; q++) lines += *q == '\n';
    CHECKF(lines == 2 && strstr(out, "/x\\ny.png\n") && strstr(out, "/back\\\\slash\\t.png\n"), "output:\n%s", out);
    free(out);
    /* classify, the same; a label with a tab too. */
    snprintf(cmd, sizeof cmd, "build/clipc classify --model '%s' --labels 'c\tt,dog' --top 2 '%s/x\ny.png'", mp, d);
    rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "classify: %s", out);
    lines = 0;
    for (const char *q = out; *q; q++) lines += *q == '\n';
    CHECKF(lines == 3 && strstr(out, "/x\\ny.png\n") && strstr(out, "%  c\\tt\n"), "output:\n%s", out);
    free(out);
}
