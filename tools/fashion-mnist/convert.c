/*
 * convert.c — Fashion-MNIST (Debian package dataset-fashion-mnist) as a
 * captioned data set for the quality benchmark: PNGs plus a Karpathy split
 * JSON with templated captions, written into a build directory at benchmark
 * time (never committed: 70,000 files, and the package is the source).
 *
 *   convert [-v N_VAL] [-t N_TEMPLATES] SRC_DIR OUT_DIR
 *
 * SRC_DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
 * (/usr/share/datasets/fashion-mnist).  Output:
 *   OUT_DIR/<split>/<class>/<n>.png   28x28 8-bit grey, n = index in its IDX file
 *   OUT_DIR/dataset_fashion_mnist.json
 *   OUT_DIR/classes.txt                the 10 class names, label order
 *   OUT_DIR/templates.txt              the caption templates, '{}' = class
 * Splits: "train" = the first 60000-N_VAL training images, "val" = the last
 * N_VAL (default 5000; for tuning a recipe), "test" = the 10,000 t10k images.
 * The class folder makes the label recoverable from the path alone (as in an
 * image-folder layout), which zero-shot evaluation needs.  Every image gets
 * N_TEMPLATES of the 8 templates (default 3) filled with its class, starting
 * at template (n mod 8): the sampler draws a different phrasing each epoch,
 * every phrasing occurs for every class, and the JSON stays near 34 MB (all
 * 8 on every image make it 75 MB and slow to parse); the captions of different
 * images of one class are identical, which is why the sampler must not treat
 * equal captions in a batch as negatives (it never puts two in one batch).
 *
 * A build tool, not library code: it prints and exits on error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <spng.h>
#include <zlib.h>

#include "clipc.h"
#include "util.h"

/* The dataset's label names (its README) in the form a caption uses them. */
static const char *const classes[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                        "sandal", "shirt", "sneaker", "bag", "ankle boot"};
static const char *const templates[] = {
    "a photo of a {}.",        "a black and white photo of a {}.",
    "a low resolution photo of a {}.", "a photo of the {}.",
    "a picture of a {}.",      "a product photo of a {}.",
    "a grey photo of a {}.",   "a {}.",
};
#define N_TEMPLATES_ALL ((int)(sizeof templates / sizeof templates[0]))

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fashion-mnist convert: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

/* A whole IDX file (gzip) with its magic checked: 0x0801 labels, 0x0803
 * images; sizes are big-endian.  *n gets the item count, data points past the
 * header (owned by *raw). */
static const uint8_t *read_idx(const char *dir, const char *name, int dims, int *n, int *rows,
                               int *cols, uint8_t **raw) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile f = gzopen(path, "rb");
    if (!f) die("%s: %s (apt-get install dataset-fashion-mnist)", path, strerror(errno));
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            uint8_t *g = realloc(buf, cap *= 2);
            if (!g) die("out of memory");
            buf = g;
        }
        int k = gzread(f, buf + len, (unsigned)(cap - len));
        if (k < 0) die("%s: corrupt gzip", path);
        if (k == 0) break;
        len += (size_t)k;
    }
    gzclose(f);
    size_t hdr = 4 + 4 * (size_t)dims;
    if (len < hdr || buf[0] || buf[1] || buf[2] != 0x08 || buf[3] != dims)
        die("%s: not an IDX file with %d dimensions", path, dims);
    uint32_t d[3] = {0, 1, 1};
    for (int i = 0; i < dims; i++)
        d[i] = (uint32_t)buf[4 + 4 * i] << 24 | (uint32_t)buf[5 + 4 * i] << 16 |
               (uint32_t)buf[6 + 4 * i] << 8 | buf[7 + 4 * i];
    if (d[0] > 1000000 || d[1] > 1000 || d[2] > 1000 || len != hdr + (size_t)d[0] * d[1] * d[2])
        die("%s: sizes in the header do not match the file", path);
    *n = (int)d[0];
    if (rows) *rows = (int)d[1];
    if (cols) *cols = (int)d[2];
    *raw = buf;
    return buf + hdr;
}

static void mkdir_p(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("%s: %s", path, strerror(errno));
}

static void write_png(const char *path, const uint8_t *px, int w, int h) {
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!enc) die("out of memory");
    struct spng_ihdr ihdr = {.width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = 8,
                             .color_type = SPNG_COLOR_TYPE_GRAYSCALE};
    int rc = spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    if (!rc) rc = spng_set_ihdr(enc, &ihdr);
    if (!rc) rc = spng_encode_image(enc, px, (size_t)w * h, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (rc) die("%s: PNG encode: %s", path, spng_strerror(rc));
    size_t len = 0;
    void *png = spng_get_png_buffer(enc, &len, &rc);
    if (!png) die("%s: PNG encode: %s", path, spng_strerror(rc));
    spng_ctx_free(enc);
    /* Plain writes, not clipc_write_file_atomic: two fsyncs for each of
     * 70,000 files took 6 minutes.  Durability comes from one sync() before
     * the JSON is written (atomically, last), so the JSON's presence means
     * every image it lists is on disk; build.sh clears the folders first. */
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) die("%s: %s", path, strerror(errno));
    free(png);
}

/* "ankle boot" -> "ankle_boot" (folder names without spaces). */
static void slug(const char *s, char *out, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = s[i] == ' ' ? '_' : s[i];
    out[i] = 0;
}

/* Fills "{}" with the class, choosing "an" before a vowel. */
static void fill(const char *tpl, const char *cls, char *out, size_t cap) {
    const char *at = strstr(tpl, "{}");
    int vowel = strchr("aeiou", cls[0]) != NULL;
    size_t pre = (size_t)(at - tpl);
    char head[128];
    snprintf(head, sizeof head, "%.*s", (int)pre, tpl);
    if (vowel && pre >= 2 && strcmp(head + pre - 2, "a ") == 0 && (pre == 2 || head[pre - 3] == ' '))
        snprintf(head + pre - 2, sizeof head - (pre - 2), "an ");
    snprintf(out, cap, "%s%s%s", head, cls, at + 2);
}

static cJSON *tokens_of(const char *raw) {
    cJSON *arr = cJSON_CreateArray();
    char tok[128];
    size_t len = 0;
    for (const char *p = raw;; p++) {
        char c = *p;
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (word && len + 1 < sizeof tok) {
            tok[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else if (!word && len) {
            tok[len] = 0;
            cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
            len = 0;
        }
        if (!c) break;
    }
    return arr;
}

int main(int argc, char **argv) {
    int n_val = 5000, n_tpl = 3, opt;
    while ((opt = getopt(argc, argv, "v:t:")) != -1) {
        if (opt == 'v') n_val = atoi(optarg);
        else if (opt == 't') n_tpl = atoi(optarg);
        else die("usage: convert [-v N_VAL] [-t N_TEMPLATES] SRC_DIR OUT_DIR");
    }
    if (argc - optind != 2) die("usage: convert [-v N_VAL] [-t N_TEMPLATES] SRC_DIR OUT_DIR");
    if (n_tpl < 1 || n_tpl > N_TEMPLATES_ALL) die("-t must be 1..%d", N_TEMPLATES_ALL);
    const char *src = argv[optind], *out = argv[optind + 1];

    static const struct { const char *img, *lab, *dir; } files[2] = {
        {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "train"},
        {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "test"}};
    mkdir_p(out);
    size_t js_cap = 1 << 24, js_len = 0;
    char *js = xmalloc(js_cap);
    js_len += (size_t)snprintf(js, js_cap, "{\"images\": [\n");
    int imgid = 0, sentid = 0, per_split[3] = {0, 0, 0};
    for (int f = 0; f < 2; f++) {
        uint8_t *raw_i, *raw_l;
        int n, nl, rows, cols;
        const uint8_t *px = read_idx(src, files[f].img, 3, &n, &rows, &cols, &raw_i);
        const uint8_t *lab = read_idx(src, files[f].lab, 1, &nl, NULL, NULL, &raw_l);
        if (n != nl) die("%s: %d images but %d labels", files[f].img, n, nl);
        if (f == 0 && (n_val < 0 || n_val >= n)) die("-v must be 0..%d", n - 1);
        for (int s = 0; s < 3; s++) { /* folders for every split this file feeds */
            const char *sp = f == 1 ? "test" : s == 0 ? "train" : "val";
            if (f == 1 && s) break;
            char d[4096];
            snprintf(d, sizeof d, "%s/%s", out, sp);
            mkdir_p(d);
            for (int c = 0; c < 10; c++) {
                char sl[64];
                slug(classes[c], sl, sizeof sl);
                snprintf(d, sizeof d, "%s/%s/%s", out, sp, sl);
                mkdir_p(d);
            }
        }
        for (int i = 0; i < n; i++) {
            if (lab[i] > 9) die("%s: label %d at item %d", files[f].lab, lab[i], i);
            const char *sp = f == 1 ? "test" : i >= n - n_val ? "val" : "train";
            per_split[f == 1 ? 2 : i >= n - n_val ? 1 : 0]++;
            char sl[64], rel[256], path[4096];
            slug(classes[lab[i]], sl, sizeof sl);
            snprintf(rel, sizeof rel, "%s/%s/%05d.png", sp, sl, i);
            snprintf(path, sizeof path, "%s/%s", out, rel);
            write_png(path, px + (size_t)i * rows * cols, cols, rows);

            cJSON *im = cJSON_CreateObject(), *sids = cJSON_CreateArray(), *sents = cJSON_CreateArray();
            cJSON_AddStringToObject(im, "filename", rel);
            cJSON_AddStringToObject(im, "split", sp);
            cJSON_AddNumberToObject(im, "imgid", imgid);
            for (int t = 0; t < n_tpl; t++) {
                char cap[256];
                fill(templates[(i + t) % N_TEMPLATES_ALL], classes[lab[i]], cap, sizeof cap);
                cJSON_AddItemToArray(sids, cJSON_CreateNumber(sentid));
                cJSON *st = cJSON_CreateObject();
                cJSON_AddStringToObject(st, "raw", cap);
                cJSON_AddItemToObject(st, "tokens", tokens_of(cap));
                cJSON_AddNumberToObject(st, "imgid", imgid);
                cJSON_AddNumberToObject(st, "sentid", sentid++);
                cJSON_AddItemToArray(sents, st);
            }
            cJSON_AddItemToObject(im, "sentids", sids);
            cJSON_AddItemToObject(im, "sentences", sents);
            cJSON_AddNumberToObject(im, "label", lab[i]);
            cJSON_AddStringToObject(im, "class", classes[lab[i]]);
            char *line = cJSON_PrintUnformatted(im);
            if (!line) die("out of memory");
            size_t ll = strlen(line);
            while (js_len + ll + 64 > js_cap) js_cap *= 2;
            char *g = realloc(js, js_cap);
            if (!g) die("out of memory");
            js = g;
            js_len += (size_t)snprintf(js + js_len, js_cap - js_len, "%s%s", imgid ? ",\n" : "", line);
            free(line);
            cJSON_Delete(im);
            imgid++;
        }
        free(raw_i);
        free(raw_l);
    }
    js_len += (size_t)snprintf(js + js_len, js_cap - js_len, "\n], \"dataset\": \"fashion-mnist\"}\n");
    sync();
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset_fashion_mnist.json", out);
    if (clipc_write_file_atomic(path, js, js_len) != CLIPC_OK) die("%s", clipc_last_error());
    free(js);

    char txt[4096];
    size_t tl = 0;
    for (int c = 0; c < 10; c++) tl += (size_t)snprintf(txt + tl, sizeof txt - tl, "%s\n", classes[c]);
    snprintf(path, sizeof path, "%s/classes.txt", out);
    if (clipc_write_file_atomic(path, txt, tl) != CLIPC_OK) die("%s", clipc_last_error());
    tl = 0;
    for (int t = 0; t < N_TEMPLATES_ALL; t++)
        tl += (size_t)snprintf(txt + tl, sizeof txt - tl, "%s\n", templates[t]);
    snprintf(path, sizeof path, "%s/templates.txt", out);
    if (clipc_write_file_atomic(path, txt, tl) != CLIPC_OK) die("%s", clipc_last_error());

    printf("fashion-mnist: %d images (train %d, val %d, test %d), %d captions (%d templates)\n",
           imgid, per_split[0], per_split[1], per_split[2], sentid, n_tpl);
    return 0;
}
