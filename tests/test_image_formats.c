/*
 * test_image_formats.c — WebP, TIFF, GIF, BMP, HEIC/AVIF, 16-bit grey PNG and
 * CMYK JPEG decode to Pillow's pixels.
 *
 * tests/data/imgfmt/ is made by tools/make_image_goldens.py with Debian's
 * Pillow 9.4: each case is a small image file and expected/NAME.png, holding
 * Image.open(file).convert("RGB"); manifest.txt lists file, Pillow's mode
 * after open, width, height.  clipc must give exactly those pixels (after
 * its own convert("RGB") step: grey replicated, alpha dropped), and the
 * `nearest` flag for Pillow's "P" and "1" modes.  HEIC/AVIF (mode "heif"):
 * the reference is libheif's own decoding, as Pillow here cannot open them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"

#define FMT_DIR "tests/data/imgfmt"

/* img as RGB bytes, as Pillow's convert("RGB"). */
static uint8_t *to_rgb(const clipc_image *img) {
    size_t n = (size_t)img->width * img->height;
    uint8_t *o = malloc(n * 3);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->data + i * img->channels;
        for (int c = 0; c < 3; c++) o[i * 3 + c] = img->channels <= 2 ? p[0] : p[c];
    }
    return o;
}

typedef struct {
    char file[128], mode[16];
    int w, h;
} fmt_case;

static int read_manifest(fmt_case *cs, int cap) {
    FILE *f = fopen(FMT_DIR "/manifest.txt", "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fscanf(f, "%127s %15s %d %d", cs[n].file, cs[n].mode, &cs[n].w, &cs[n].h) == 4) n++;
    fclose(f);
    return n;
}

/* Compares the decoding of `file` with its expected PNG; returns the number
 * of differing bytes (and reports the first), -1 on a size mismatch. */
static long compare_case(const fmt_case *c, clipc_exif_mode exif) {
    char path[256], exp[256], name[128];
    snprintf(path, sizeof path, "%s/%s", FMT_DIR, c->file);
    snprintf(name, sizeof name, "%s", c->file);
    *strrchr(name, '.') = 0;
    snprintf(exp, sizeof exp, "%s/expected/%s.png", FMT_DIR, name);
    clipc_image img, ref;
    clipc_status s = clipc_image_load_ex(path, exif, &img);
    if (s) {
        harness_fail(__FILE__, __LINE__, "%s: %s", c->file, clipc_last_error());
        return -1;
    }
    if (clipc_image_load(exp, &ref)) {
        harness_fail(__FILE__, __LINE__, "%s: %s", exp, clipc_last_error());
        clipc_image_free(&img);
        return -1;
    }
    long diff = -1;
    if (img.width == c->w && img.height == c->h && ref.width == c->w && ref.height == c->h && ref.channels == 3) {
        uint8_t *rgb = to_rgb(&img);
        diff = 0;
        for (size_t i = 0; i < (size_t)c->w * c->h * 3; i++)
            if (rgb[i] != ref.data[i] && diff++ == 0)
                harness_fail(__FILE__, __LINE__, "%s: pixel %zu channel %zu: %d, Pillow %d", c->file, i / 3,
                             i % 3, rgb[i], ref.data[i]);
        free(rgb);
    } else {
        harness_fail(__FILE__, __LINE__, "%s: %dx%d, expected %dx%d", c->file, img.width, img.height, c->w, c->h);
    }
    int want_nearest = !strcmp(c->mode, "P") || !strcmp(c->mode, "1");
    CHECKF(img.nearest == want_nearest, "%s: nearest %d for Pillow mode %s", c->file, img.nearest, c->mode);
    clipc_image_free(&img);
    clipc_image_free(&ref);
    return diff;
}

TEST(image_formats_equal_pillow) {
    fmt_case cs[128];
    int n = read_manifest(cs, 128);
    if (n < 0) SKIP("%s absent (run from the repository root)", FMT_DIR);
    CHECKF(n >= 47, "only %d cases in the manifest", n);
    int per[8] = {0}; /* webp tif gif bmp png jpg heic avif */
    static const char *ext[8] = {".webp", ".tif", ".gif", ".bmp", ".png", ".jpg", ".heic", ".avif"};
    for (int i = 0; i < n; i++) {
        long d = compare_case(&cs[i], CLIPC_EXIF_IGNORE);
        CHECKF(d == 0, "%s: %ld bytes differ from Pillow", cs[i].file, d);
        for (int k = 0; k < 8; k++)
            if (strstr(cs[i].file, ext[k]) && d == 0) per[k]++;
    }
    for (int k = 0; k < 8; k++) CHECKF(per[k] >= 1, "no exact %s case", ext[k]);
}

/* A TIFF's Orientation tag is applied whatever --exif says (Pillow applies it
 * when it loads a TIFF): tiff_orient6 is stored 17x11 and reads 11x17. */
TEST(image_formats_tiff_orientation_always) {
    fmt_case c = {"tiff_orient6.tif", "RGB", 11, 17};
    clipc_image img;
    if (clipc_image_load(FMT_DIR "/tiff_orient6.tif", &img)) SKIP("%s absent", FMT_DIR);
    clipc_image_free(&img);
    CHECK(compare_case(&c, CLIPC_EXIF_APPLY) == 0);
    CHECK(compare_case(&c, CLIPC_EXIF_IGNORE) == 0);
}

/* The extensions a folder walk takes. */
TEST(image_formats_extensions) {
    static const char *yes[] = {"a.jpg", "b.JPEG", "c.png", "d.webp", "e.tif", "f.TIFF", "g.gif", "h.bmp",
                                "i.heic", "j.HEIF", "k.avif", "l.jpe", "m.jfif", "n.dib", "o.hif"};
    static const char *no[] = {"a.txt", "webp", "b.svg", "c.psd", "d.jp2", "e.", "f.tiff.txt"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) CHECKF(clipc_image_path_supported(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) CHECKF(!clipc_image_path_supported(no[i]), "%s", no[i]);
}

/* ------------------------------------------------ the index reports skips */

static const clipc_config tiny_cfg = {20, 16, 1, 16, 8, 2, 77, 49408, 16, 2, 1, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};

static void copy_file(const char *from, const char *to) {
    char *b;
    size_t n;
    REQUIRE_OK(clipc_read_file(from, &b, &n));
    REQUIRE_OK(clipc_write_file_atomic(to, b, n));
    free(b);
}

/* A folder with one image of each format plus broken files: every image is
 * indexed, every other file counted by reason, failures listed, and
 * --verbose lists the files that are not images. */
TEST(image_formats_index_reports_skips) {
    static const char *images[] = {"webp_lossy.webp", "tiff_rgb_lzw.tif", "gif_p.gif", "bmp_rgb24.bmp",
                                   "heic_rgb.heic", "avif_rgba.avif", "png_grey16.png", "jpeg_cmyk.jpg"};
    char src[256], d[512], p[700], db[512], mp[512], cmd[2000], *out;
    FILE *probe = fopen(FMT_DIR "/manifest.txt", "r");
    if (!probe) SKIP("%s absent (run from the repository root)", FMT_DIR);
    fclose(probe);
    const char *tmp = test_tmpdir();
    snprintf(d, sizeof d, "%s/photos", tmp);
    REQUIRE(mkdir(d, 0755) == 0);
    for (size_t i = 0; i < sizeof images / sizeof *images; i++) {
        snprintf(src, sizeof src, "%s/%s", FMT_DIR, images[i]);
        snprintf(p, sizeof p, "%s/%s", d, images[i]);
        copy_file(src, p);
    }
    snprintf(p, sizeof p, "%s/notes.txt", d);
    REQUIRE_OK(clipc_write_file_atomic(p, "not an image\n", 13));
    snprintf(p, sizeof p, "%s/text.jpg", d);
    REQUIRE_OK(clipc_write_file_atomic(p, "hello, world\n", 13));
    char *b;
    size_t n;
    REQUIRE_OK(clipc_read_file(FMT_DIR "/webp_lossless.webp", &b, &n));
    snprintf(p, sizeof p, "%s/cut.webp", d);
    REQUIRE_OK(clipc_write_file_atomic(p, b, n / 2));
    free(b);
    /* A BMP header claiming 70000 x 10 pixels: too large before any pixel. */
    uint8_t bmp[54] = {'B', 'M'};
    bmp[10] = 54, bmp[14] = 40, bmp[18] = 0x70, bmp[19] = 0x11, bmp[20] = 1, bmp[22] = 10, bmp[26] = 1, bmp[28] = 24;
    snprintf(p, sizeof p, "%s/huge.bmp", d);
    REQUIRE_OK(clipc_write_file_atomic(p, bmp, sizeof bmp));
    snprintf(p, sizeof p, "%s/gone.png", d);
    REQUIRE(symlink("nowhere.png", p) == 0);

    snprintf(mp, sizeof mp, "%s/m.safetensors", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&tiny_cfg, 7, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    snprintf(db, sizeof db, "%s/index.db", tmp);
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' --verbose 2>&1", d, mp, db);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "rc %d: %s", rc, out);
    static const char *want[] = {
        "clipc: skipped (not_image): %s/notes.txt: not an image file name\n",
        "clipc: skipped: %s/gone.png: a symbolic link to nothing (or to what is not a file)\n",
        "clipc: skipped: %s/cut.webp: truncated WebP file (",
        "clipc: skipped: %s/huge.bmp: image too large (70000x10; limits: side <= 65535, <= 2^28 pixels)\n",
        "clipc: skipped: %s/text.jpg: not an image format clipc reads (unrecognised magic bytes; it reads JPEG, "
        "PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF)\n",
        "clipc index: skipped 5 files: 1 not_image, 1 unsupported, 1 corrupt, 1 too_large, 1 unreadable\n",
        "{\"added\": 8, \"updated\": 0, \"removed\": 0, \"unchanged\": 0, \"failed\": 4, \"embedded\": 8, "
        "\"model_changed\": true, \"skipped_folders\": 0, \"skipped\": {\"not_image\": 1, \"unsupported\": 1, "
        "\"corrupt\": 1, \"too_large\": 1, \"unreadable\": 1, \"other\": 0}, \"vectors\": \"rewritten\"}\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char line[1024];
        snprintf(line, sizeof line, want[i], d);
        CHECKF(strstr(out, line), "missing line %zu: %s\noutput:\n%s", i, line, out);
    }
    free(out);
    /* Without --verbose the files that are not images are only counted. */
    snprintf(cmd, sizeof cmd, "clipc index '%s' --model '%s' --db '%s' 2>&1", d, mp, db);
    rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "rc %d: %s", rc, out);
    CHECKF(!strstr(out, "notes.txt") && strstr(out, "\"unchanged\": 8, \"failed\": 4") &&
               strstr(out, "\"skipped\": {\"not_image\": 1, \"unsupported\": 1"),
           "output:\n%s", out);
    free(out);
}

/* ------------------------------------------------------- --exif apply|ignore */

/* tests/data/images/exifN_24x16.jpg hold the same stored pixels with EXIF
 * orientations 1..8: ignored, all decode to exif1's pixels (what Pillow's
 * Image.open gives, without exif_transpose); applied, 5..8 swap the sides. */
TEST(image_formats_exif_choice) {
    clipc_image ref, img;
    if (clipc_image_load_ex("tests/data/images/exif1_24x16.jpg", CLIPC_EXIF_IGNORE, &ref))
        SKIP("tests/data/images absent");
    for (int o = 1; o <= 8; o++) {
        char path[128];
        snprintf(path, sizeof path, "tests/data/images/exif%d_24x16.jpg", o);
        REQUIRE_OK(clipc_image_load_ex(path, CLIPC_EXIF_IGNORE, &img));
        CHECKF(img.width == 24 && img.height == 16 && !memcmp(img.data, ref.data, 24 * 16 * 3), "exif%d ignored", o);
        clipc_image_free(&img);
        REQUIRE_OK(clipc_image_load_ex(path, CLIPC_EXIF_APPLY, &img));
        CHECKF(img.width == (o >= 5 ? 16 : 24), "exif%d applied: %dx%d", o, img.width, img.height);
        CHECKF((o == 1) == !memcmp(img.data, ref.data, 24 * 16 * 3), "exif%d applied", o);
        clipc_image_free(&img);
    }
    /* The process-wide choice behind clipc_image_load. */
    CHECK(clipc_image_get_exif() == CLIPC_EXIF_APPLY);
    clipc_image_set_exif(CLIPC_EXIF_IGNORE);
    clipc_status s = clipc_image_load("tests/data/images/exif6_24x16.jpg", &img);
    clipc_image_set_exif(CLIPC_EXIF_APPLY);
    REQUIRE_OK(s);
    CHECK(img.width == 24 && !memcmp(img.data, ref.data, 24 * 16 * 3));
    clipc_image_free(&img);
    clipc_image_free(&ref);

    /* The CLI: encode --exif ignore of exif6 prints exif1's embedding. */
    const char *tmp = test_tmpdir();
    char mp[512], cmd[1200], *out[3];
    snprintf(mp, sizeof mp, "%s/m.safetensors", tmp);
    clipc_model *m;
    REQUIRE_OK(clipc_model_create(&tiny_cfg, 9, &m));
    REQUIRE_OK(clipc_model_save(m, mp));
    clipc_model_free(m);
    static const char *const args[3] = {"exif1_24x16.jpg --exif ignore", "exif6_24x16.jpg --exif ignore",
                                        "exif6_24x16.jpg"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "clipc encode --model '%s' --image tests/data/images/%s", mp, args[i]);
        REQUIRE(run_capture(cmd, &out[i]) == 0);
    }
    const char *e[3];
    for (int i = 0; i < 3; i++) REQUIRE((e[i] = strstr(out[i], "\"embedding\"")));
    CHECKF(!strcmp(e[0], e[1]), "ignore: %s vs %s", e[0], e[1]);
    CHECKF(strcmp(e[1], e[2]) != 0, "apply gave the unrotated embedding");
    for (int i = 0; i < 3; i++) free(out[i]);
}

/* ------------------------------------------------------- damaged files */

/* Every new decoder, on files cut short and with bytes flipped: an error
 * naming the file and the format (never a crash, never silent success for a
 * cut file). */
TEST(image_formats_damaged_files) {
    static const struct { const char *file, *cut_msg; } cases[] = {
        {"webp_lossy.webp", "truncated WebP file"},     {"webp_lossless_alpha.webp", "truncated WebP file"},
        {"tiff_rgb_lzw.tif", "TIFF"},                   {"tiff_p.tif", "TIFF"},
        {"gif_p.gif", "GIF file"},                      {"bmp_rgb24.bmp", "truncated BMP file"},
        {"bmp_p4.bmp", "truncated BMP file"},          {"heic_rgb.heic", "HEIF/AVIF file"},
        {"avif_rgba.avif", "HEIF/AVIF file"},
    };
    char src[256], path[512];
    const char *dir = test_tmpdir();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *b;
        size_t n;
        snprintf(src, sizeof src, "%s/%s", FMT_DIR, cases[i].file);
        if (clipc_read_file(src, &b, &n)) SKIP("%s absent", FMT_DIR);
        static const double cuts[] = {0.3, 0.6, 0.9};
        for (int c = 0; c < 3; c++) {
            snprintf(path, sizeof path, "%s/cut%d_%s", dir, c, cases[i].file);
            REQUIRE_OK(clipc_write_file_atomic(path, b, (size_t)(n * cuts[c])));
            clipc_image img;
            clipc_status s = clipc_image_load(path, &img);
            CHECKF(s == CLIPC_ERR_FORMAT && strstr(clipc_last_error(), path) &&
                       strstr(clipc_last_error(), cases[i].cut_msg),
                   "%s cut to %.0f%%: status %d: %s", cases[i].file, 100 * cuts[c], s, clipc_last_error());
            if (!s) clipc_image_free(&img);
        }
        /* Flipped bytes all over: any outcome but a crash; an error names the file. */
        for (size_t k = 0; k < 64; k++) {
            size_t at = (k * 7919) % n;
            b[at] ^= (uint8_t)(0x5a + k);
            clipc_image img;
            clipc_status s = clipc_image_decode(b, n, "mutant", &img);
            if (s) CHECKF(strstr(clipc_last_error(), "mutant"), "%s: %s", cases[i].file, clipc_last_error());
            else clipc_image_free(&img);
            b[at] ^= (uint8_t)(0x5a + k);
        }
        free(b);
    }
}
