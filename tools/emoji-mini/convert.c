/*
 * convert.c — builds emoji-mini (data/emoji-mini) from three unpacked npm
 * packages: emoji-datasource-twitter and emoji-datasource-google (the
 * concept list and the 64 px Twemoji / Noto images) and emojibase-data (the
 * CLDR English labels and tags used as captions).  Run by build.sh, which
 * fetches the packages with `npm pack`; see data/emoji-mini/README.md.
 *
 *   convert TWITTER_PKG GOOGLE_PKG EMOJIBASE_PKG OUT_DIR [FACEBOOK_PKG APPLE_PKG]
 *
 * Each concept is one base entry of emoji-datasource's emoji.json (skin-tone
 * variants are nested under it and not used; the five skin-tone swatches of
 * the "Component" category are dropped).  Its image in each style is
 * composited on white and resized to 32x32 with Pillow's bicubic resampler
 * (src/resize.h), then written as an 8-bit RGB PNG.  Captions join on the
 * code point sequence: upper-case hex with the U+FE0F variation selectors
 * removed, because the two projects disagree about where FE0F belongs (the
 * datasource writes fully-qualified sequences, emojibase often does not).
 *
 * Output: dataset_emoji.json in Karpathy's split format, one image per
 * (concept, style), plus twemoji/<stem>.png and noto/<stem>.png where <stem>
 * is the datasource image name (lower-case hex with FE0F, e.g. 2764-fe0f).
 * Splits (FNV-1a 64 of <stem>, held out when the hash is 0 mod 10):
 *   train    twemoji images of training concepts
 *   restval  twemoji images of held-out concepts (not for training)
 *   val      noto images of training concepts
 *   test     noto images of held-out concepts
 * The output is a pure function of the packages: no time stamps, fixed order.
 *
 * With FACEBOOK_PKG and APPLE_PKG (emoji-datasource-facebook / -apple, the
 * quality benchmark's four-style set, built into build/ by
 * tools/quality/build-emoji4.sh and never committed: their licences do not
 * allow it) the same conversion writes facebook/ and apple/ too, keeps only
 * the concepts drawn in all four styles, and writes dataset_emoji4.json:
 *   train    twemoji, noto and facebook images of training concepts
 *   val      facebook images of held-out concepts (for tuning a recipe)
 *   restval  apple images of training concepts  (test: new style)
 *   test     apple images of held-out concepts   (test: new style, new concept)
 * (the twemoji and noto images of held-out concepts are left out).
 *
 * This is a build tool, not library code, so it prints and exits on error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <spng.h>
#include <utf8proc.h>

#include "clipc.h"
#include "resize.h"
#include "util.h"

#define SIZE 32

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("convert: ", stderr);
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

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) die("%s: cannot seek", path);
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) die("%s: cannot seek", path);
    char *buf = xmalloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) die("%s: short read", path);
    buf[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    if (!j) die("%s: invalid JSON near byte %ld", path, (long)(cJSON_GetErrorPtr() - buf));
    free(buf);
    return j;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The join key: "1F441-FE0F-200D-1F5E8-FE0F" -> "1F441-200D-1F5E8". */
static void norm_hex(const char *in, char *out, size_t cap) {
    size_t o = 0;
    const char *p = in;
    while (*p) {
        const char *e = strchr(p, '-');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!(n == 4 && strncasecmp(p, "FE0F", 4) == 0)) {
            if (o && o + 1 < cap) out[o++] = '-';
            for (size_t i = 0; i < n && o + 1 < cap; i++)
                out[o++] = (char)(p[i] >= 'a' && p[i] <= 'f' ? p[i] - 32 : p[i]);
        }
        p += n + (e != NULL);
    }
    out[o] = 0;
}

/* The documented split hash, FNV-1a 64 over the stem's bytes. */
static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

/* Karpathy's tokens: lower-cased, split on anything that is not a letter or
 * a digit (Unicode categories L* and N*, so "piñata" stays one token). */
static cJSON *tokens_of(const char *raw) {
    cJSON *arr = cJSON_CreateArray();
    size_t n = strlen(raw), cap = 4 * n + 1, len = 0;
    char *tok = xmalloc(cap);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)raw;
    utf8proc_ssize_t left = (utf8proc_ssize_t)n;
    for (;;) {
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t k = left > 0 ? utf8proc_iterate(p, left, &c) : 0;
        if (k < 0) die("invalid UTF-8 in caption '%s'", raw);
        utf8proc_category_t cat = k ? utf8proc_category(c) : UTF8PROC_CATEGORY_CN;
        int word = k && ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO));
        if (word) {
            len += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)tok + len);
        } else if (len) {
            tok[len] = 0;
            cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
            len = 0;
        }
        if (!k) break;
        p += k;
        left -= k;
    }
    free(tok);
    return arr;
}

/* Does `tag` add nothing to the label, i.e. is each of its tokens already a
 * token of the label?  ("o’clock" adds nothing to "one o’clock"; "12:00"
 * does.) */
static int tag_in_label(const char *tag, const cJSON *label_tokens) {
    cJSON *tt = tokens_of(tag);
    const cJSON *t, *l;
    int all = 1;
    cJSON_ArrayForEach(t, tt) {
        int found = 0;
        cJSON_ArrayForEach(l, label_tokens) found |= strcmp(t->valuestring, l->valuestring) == 0;
        all &= found;
    }
    cJSON_Delete(tt);
    return all;
}

static void mkdir_p(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("%s: %s", path, strerror(errno));
}

/* 64 px RGBA -> on white -> 32 px RGB (Pillow bicubic) -> PNG file.
 * Compositing before resizing is what Pillow users do
 * (alpha_composite onto white, convert("RGB"), resize); rounding here is the
 * exact nearest integer of c*a/255 + 255*(1-a/255). */
static size_t convert_image(const char *src, const char *dst) {
    clipc_image img;
    if (clipc_image_load(src, &img) != CLIPC_OK) die("%s", clipc_last_error());
    int w = img.width, h = img.height, ch = img.channels;
    uint8_t *rgb = xmalloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const uint8_t *s = img.data + i * (size_t)ch;
        unsigned a = (ch == 2 || ch == 4) ? s[ch - 1] : 255;
        for (int c = 0; c < 3; c++) {
            unsigned v = ch >= 3 ? s[c] : s[0];
            rgb[i * 3 + c] = (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
        }
    }
    clipc_image_free(&img);
    uint8_t small[SIZE * SIZE * 3];
    if (clipc_resize_bicubic(rgb, w, h, 3, small, SIZE, SIZE) != CLIPC_OK)
        die("%s", clipc_last_error());
    free(rgb);

    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!enc) die("out of memory");
    struct spng_ihdr ihdr = {.width = SIZE, .height = SIZE, .bit_depth = 8,
                             .color_type = SPNG_COLOR_TYPE_TRUECOLOR};
    int rc = spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    if (!rc) rc = spng_set_option(enc, SPNG_IMG_COMPRESSION_LEVEL, 9);
    if (!rc) rc = spng_set_ihdr(enc, &ihdr);
    if (!rc) rc = spng_encode_image(enc, small, sizeof small, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (rc) die("%s: PNG encode: %s", dst, spng_strerror(rc));
    size_t len = 0;
    void *png = spng_get_png_buffer(enc, &len, &rc);
    if (!png) die("%s: PNG encode: %s", dst, spng_strerror(rc));
    spng_ctx_free(enc);
    if (clipc_write_file_atomic(dst, png, len) != CLIPC_OK) die("%s", clipc_last_error());
    free(png);
    return len;
}

typedef struct {
    char *stem;     /* datasource image name without ".png" */
    char *category; /* datasource category */
    int sort_order;
    int held_out;
    cJSON *captions; /* array of raw strings */
} concept;

static int by_sort_order(const void *a, const void *b) {
    const concept *x = a, *y = b;
    return (x->sort_order > y->sort_order) - (x->sort_order < y->sort_order);
}

/* Does the other datasource package have an image for `unified`? */
static int has_img(const cJSON *list, const char *unified, const char *flag) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const char *u = jstr(e, "unified");
        if (u && strcmp(u, unified) == 0)
            return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, flag));
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 7) {
        fprintf(stderr, "usage: convert TWITTER_PKG GOOGLE_PKG EMOJIBASE_PKG OUT_DIR [FACEBOOK_PKG APPLE_PKG]\n");
        return 2;
    }
    const char *tw_pkg = argv[1], *go_pkg = argv[2], *eb_pkg = argv[3], *out = argv[4];
    const int four = argc == 7;
    char *p;
    cJSON *fb = NULL, *ap = NULL;
    if (four) {
        fb = read_json(p = join(argv[5], "emoji.json"));
        free(p);
        ap = read_json(p = join(argv[6], "emoji.json"));
        free(p);
        if (!cJSON_IsArray(fb) || !cJSON_IsArray(ap)) die("a package's JSON is not an array");
    }
    cJSON *tw = read_json(p = join(tw_pkg, "emoji.json"));
    free(p);
    cJSON *go = read_json(p = join(go_pkg, "emoji.json"));
    free(p);
    cJSON *eb = read_json(p = join(eb_pkg, "en/data.json"));
    free(p);
    if (!cJSON_IsArray(tw) || !cJSON_IsArray(go) || !cJSON_IsArray(eb))
        die("a package's JSON is not an array");

    int n_src = cJSON_GetArraySize(tw), n = 0;
    int drop_component = 0, drop_nolabel = 0, drop_noimg = 0, matched_exact = 0;
    concept *cs = xmalloc(sizeof(concept) * (size_t)n_src);
    const cJSON *e;
    cJSON_ArrayForEach(e, tw) {
        const char *uni = jstr(e, "unified"), *img = jstr(e, "image"), *cat = jstr(e, "category");
        if (!uni || !img || !cat) die("emoji.json: entry without unified/image/category");
        if (strcmp(cat, "Component") == 0) { /* skin-tone swatches, not concepts */
            drop_component++;
            continue;
        }
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "has_img_twitter")) ||
            !has_img(go, uni, "has_img_google") ||
            (four && (!has_img(fb, uni, "has_img_facebook") || !has_img(ap, uni, "has_img_apple")))) {
            fprintf(stderr, "convert: dropped %s: missing image in one style\n", uni);
            drop_noimg++;
            continue;
        }
        char key[256], k2[256];
        norm_hex(uni, key, sizeof key);
        const cJSON *b = NULL, *x;
        cJSON_ArrayForEach(x, eb) {
            const char *hx = jstr(x, "hexcode");
            if (!hx) continue;
            norm_hex(hx, k2, sizeof k2);
            if (strcmp(key, k2) == 0) {
                b = x;
                matched_exact += strcasecmp(hx, uni) == 0;
                break;
            }
        }
        const char *label = b ? jstr(b, "label") : NULL;
        if (!label || !*label) {
            fprintf(stderr, "convert: dropped %s: no emojibase label\n", uni);
            drop_nolabel++;
            continue;
        }
        concept *c = &cs[n++];
        size_t sl = strlen(img);
        if (sl < 5 || strcmp(img + sl - 4, ".png") != 0) die("emoji.json: odd image name %s", img);
        c->stem = xstrdup(img);
        c->stem[sl - 4] = 0;
        c->category = xstrdup(cat);
        c->sort_order = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "sort_order"));
        c->held_out = fnv1a64(c->stem) % 10 == 0;
        c->captions = cJSON_CreateArray();
        cJSON_AddItemToArray(c->captions, cJSON_CreateString(label));
        /* Second caption: the label followed by the tags that are not
         * already words of it ("grinning face, cheerful, cheery, grin, ...");
         * when no tag adds anything the image keeps one caption, since the
         * reader drops a caption identical to another of the same image. */
        cJSON *lt = tokens_of(label);
        size_t cap = strlen(label) + 1, len = strlen(label);
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(b, "tags"), *t;
        cJSON_ArrayForEach(t, tags) cap += cJSON_IsString(t) ? strlen(t->valuestring) + 2 : 0;
        char *two = xmalloc(cap);
        memcpy(two, label, len + 1);
        cJSON_ArrayForEach(t, tags) {
            if (!cJSON_IsString(t) || tag_in_label(t->valuestring, lt)) continue;
            len += (size_t)snprintf(two + len, cap - len, ", %s", t->valuestring);
        }
        if (strcmp(two, label) != 0) cJSON_AddItemToArray(c->captions, cJSON_CreateString(two));
        free(two);
        cJSON_Delete(lt);
    }
    qsort(cs, (size_t)n, sizeof *cs, by_sort_order);

    mkdir_p(out);
    /* Images: all Twemoji first, then all Noto (then Facebook, Apple), each
     * in datasource order.  A NULL split: the image is not written. */
    typedef struct {
        const char *style, *dir, *pkg_img, *train_split, *held_split;
    } style_def;
    static const style_def styles2[2] = {{"twemoji", "twemoji", "img/twitter/64", "train", "restval"},
                                         {"noto", "noto", "img/google/64", "val", "test"}};
    static const style_def styles4[4] = {{"twemoji", "twemoji", "img/twitter/64", "train", NULL},
                                         {"noto", "noto", "img/google/64", "train", NULL},
                                         {"facebook", "facebook", "img/facebook/64", "train", "val"},
                                         {"apple", "apple", "img/apple/64", "restval", "test"}};
    const style_def *styles = four ? styles4 : styles2;
    const int n_styles = four ? 4 : 2;
    const char *pkgs[4] = {tw_pkg, go_pkg, four ? argv[5] : NULL, four ? argv[6] : NULL};
    for (int s = 0; s < n_styles; s++) {
        char *d = join(out, styles[s].dir);
        mkdir_p(d);
        free(d);
    }
    size_t js_cap = 1 << 16, js_len = 0;
    char *js = xmalloc(js_cap);
    js_len += (size_t)snprintf(js, js_cap, "{\"images\": [\n");
    int imgid = 0, sentid = 0, n_split[8] = {0}, n_caps = 0, n_held = 0;
    size_t png_bytes = 0;
    for (int s = 0; s < n_styles; s++) {
        for (int i = 0; i < n; i++) {
            concept *c = &cs[i];
            if (!(c->held_out ? styles[s].held_split : styles[s].train_split)) continue;
            char name[300];
            snprintf(name, sizeof name, "%s/%s.png", styles[s].pkg_img, c->stem);
            char *src = join(pkgs[s], name);
            snprintf(name, sizeof name, "%s/%s.png", styles[s].dir, c->stem);
            char *dst = join(out, name);
            png_bytes += convert_image(src, dst);
            free(src);
            free(dst);

            cJSON *im = cJSON_CreateObject(), *sids = cJSON_CreateArray(), *sents = cJSON_CreateArray();
            cJSON_AddStringToObject(im, "filename", name);
            cJSON_AddStringToObject(im, "split", c->held_out ? styles[s].held_split : styles[s].train_split);
            n_split[2 * s + c->held_out]++;
            cJSON_AddNumberToObject(im, "imgid", imgid);
            const cJSON *r;
            cJSON_ArrayForEach(r, c->captions) {
                cJSON_AddItemToArray(sids, cJSON_CreateNumber(sentid));
                cJSON *st = cJSON_CreateObject();
                cJSON_AddStringToObject(st, "raw", r->valuestring);
                cJSON_AddItemToObject(st, "tokens", tokens_of(r->valuestring));
                cJSON_AddNumberToObject(st, "imgid", imgid);
                cJSON_AddNumberToObject(st, "sentid", sentid);
                cJSON_AddItemToArray(sents, st);
                sentid++;
                n_caps++;
            }
            cJSON_AddItemToObject(im, "sentids", sids);
            cJSON_AddItemToObject(im, "sentences", sents);
            cJSON_AddStringToObject(im, "concept", c->stem);
            cJSON_AddStringToObject(im, "style", styles[s].style);
            cJSON_AddStringToObject(im, "category", c->category);
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
    }
    js_len += (size_t)snprintf(js + js_len, js_cap - js_len, "\n], \"dataset\": \"%s\"}\n",
                               four ? "emoji-4style" : "emoji-mini");
    char *jpath = join(out, four ? "dataset_emoji4.json" : "dataset_emoji.json");
    if (clipc_write_file_atomic(jpath, js, js_len) != CLIPC_OK) die("%s", clipc_last_error());
    for (int i = 0; i < n; i++) n_held += cs[i].held_out;

    printf("source entries: %d (emoji-datasource-twitter emoji.json)\n", n_src);
    printf("dropped: %d skin-tone components, %d without an image in both styles, %d without an "
           "emojibase label\n", drop_component, drop_noimg, drop_nolabel);
    printf("concepts: %d (joined on hex without FE0F; %d also match exactly)\n", n, matched_exact);
    printf("held-out concepts: %d (%.1f %%)\n", n_held, 100.0 * n_held / (n ? n : 1));
    if (four)
        printf("images: %d  captions: %d  (per style, training / held-out concepts: twemoji %d/-, noto %d/-, "
               "facebook %d/%d, apple %d/%d)\n", imgid, n_caps, n_split[0], n_split[2], n_split[4], n_split[5],
               n_split[6], n_split[7]);
    else
        printf("images: %d  captions: %d  (train %d, restval %d, val %d, test %d)\n", imgid, n_caps,
               n_split[0], n_split[1], n_split[2], n_split[3]);
    printf("PNG bytes: %zu  JSON bytes: %zu\n", png_bytes, js_len);

    free(jpath);
    free(js);
    for (int i = 0; i < n; i++) {
        free(cs[i].stem);
        free(cs[i].category);
        cJSON_Delete(cs[i].captions);
    }
    free(cs);
    cJSON_Delete(tw);
    cJSON_Delete(go);
    cJSON_Delete(eb);
    cJSON_Delete(fb);
    cJSON_Delete(ap);
    return 0;
}
