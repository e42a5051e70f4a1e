/*
 * test_image.c — image decoding and OpenAI preprocessing against Pillow.
 *
 *   - the reference inputs (../shared, vit_tiny 32 px and rn_tiny 64 px):
 *     decode, resize, crop and pixel_values bit for bit;
 *   - tests/data/images/ (made by tools/gen_image_testdata.py with Pillow
 *     9.4): every PNG/JPEG kind clipc reads, decoded and preprocessed, plus
 *     direct one-direction resizes, compared byte for byte and bit for bit;
 *   - malformed inputs (truncated, corrupt, wrong magic, huge header, empty,
 *     a directory, a missing file): a non-zero status and a one-line message
 *     naming the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "image/resize.h"
#include "harness.h"

#define DATA_DIR "tests/data/images"

/* Compares n bytes; reports the count and the first mismatch. */
static int bytes_differ(const char *what, const uint8_t *got, const uint8_t *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && !bad++) first = i;
    if (bad)
        harness_fail(__FILE__, __LINE__, "%s: %zu of %zu bytes differ (first at %zu: %d vs %d)", what,
                     bad, n, first, got[first], want[first]);
    return bad != 0;
}

/* Compares floats bit for bit; returns the largest difference in ulps. */
static long max_ulps(const float *got, const float *want, size_t n) {
    long worst = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want[i], 4);
        long d = labs((long)a - (long)b);
        if (d > worst) worst = d;
    }
    return worst;
}

static const st_tensor *get_u8(const st_file *f, const char *name) {
    const st_tensor *t = st_get(f, name);
    REQUIREF(t && t->dtype == ST_U8, "%s: missing U8 tensor %s", f->path, name);
    return t;
}

/* ------------------------------------------------------- reference goldens */

static void check_reference(const char *model, int n) {
    char rel[256];
    snprintf(rel, sizeof rel, "reference/openai_clip/%s/inputs/inputs.safetensors", model);
    const char *st_path = shared_path(rel);
    if (!st_path) SKIP("../shared absent: no reference inputs");
    static const char *files[6] = {"img0_gradient_%dx%d.png", "img1_shapes_%dx%d.png",
                                   "img2_noise_%dx%d.png", "img3_gray_%dx%d.png",
                                   "img4_scene_97x61.png", "img5_blobs_300x200.jpg"};
    st_file f;
    REQUIRE_OK(st_open(st_path, &f));
    const st_tensor *pv = st_get(&f, "pixel_values");
    REQUIRE(pv && pv->dtype == ST_F32 && pv->ndim == 4 && pv->shape[0] == 6 && pv->shape[2] == n);
    float *px = malloc(sizeof(float) * 3 * n * n);
    uint8_t *rgb = malloc(3 * (size_t)n * n);
    for (int k = 0; k < 6; k++) {
        char name[64], key[64];
        snprintf(name, sizeof name, files[k], n, n);
        snprintf(rel, sizeof rel, "reference/openai_clip/%s/inputs/%s", model, name);
        clipc_image img;
        REQUIRE_OK(clipc_image_load(shared_path(rel), &img));
        snprintf(key, sizeof key, "img%d.decoded", k);
        const st_tensor *dec = get_u8(&f, key);
        CHECKF(dec->shape[0] == img.height && dec->shape[1] == img.width &&
                   dec->shape[2] == img.channels,
               "%s: decoded %dx%dx%d", name, img.width, img.height, img.channels);
        if (dec->numel == (size_t)img.width * img.height * img.channels)
            bytes_differ(key, img.data, dec->data, dec->numel);
        snprintf(key, sizeof key, "img%d.resized", k);
        const st_tensor *rs = st_get(&f, key);
        if (rs) { /* the resize stage on its own */
            clipc_image r;
            REQUIRE_OK(pil_resize(&img, (int)rs->shape[1], (int)rs->shape[0], &r));
            bytes_differ(key, r.data, rs->data, rs->numel);
            clipc_image_free(&r);
        }
        REQUIRE_OK(clipc_preprocess(&img, n, px, rgb));
        snprintf(key, sizeof key, "img%d.rgb_u8", k);
        bytes_differ(key, rgb, get_u8(&f, key)->data, 3 * (size_t)n * n);
        long u = max_ulps(px, (const float *)pv->data + (size_t)k * 3 * n * n, 3 * (size_t)n * n);
        CHECKF(u == 0, "%s %s: pixel_values differ by up to %ld ulp", model, name, u);
        clipc_image_free(&img);
    }
    free(px);
    free(rgb);
    st_close(&f);
}

TEST(image_reference_vit_tiny) { check_reference("vit_tiny", 32); }
TEST(image_reference_rn_tiny) { check_reference("rn_tiny", 64); }

/* --------------------------------------------------- Pillow-made test data */

TEST(image_pillow_cases) {
    st_file f;
    struct stat sb;
    if (stat(DATA_DIR "/expected.safetensors", &sb) != 0)
        SKIP("%s absent (run from the repository root)", DATA_DIR);
    REQUIRE_OK(st_open(DATA_DIR "/expected.safetensors", &f));
    int cases = 0, resized = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        size_t len = strlen(t->name);
        if (len < 8 || strcmp(t->name + len - 8, ".decoded")) continue;
        char file[128], key[160], path[256];
        snprintf(file, sizeof file, "%.*s", (int)(len - 8), t->name);
        snprintf(path, sizeof path, "%s/%s", DATA_DIR, file);
        clipc_image img;
        REQUIRE_OK(clipc_image_load(path, &img));
        CHECKF(t->shape[0] == img.height && t->shape[1] == img.width && t->shape[2] == img.channels,
               "%s: decoded %dx%dx%d, Pillow %dx%dx%d", file, img.width, img.height, img.channels,
               (int)t->shape[1], (int)t->shape[0], (int)t->shape[2]);
        if (t->numel == (size_t)img.width * img.height * img.channels)
            bytes_differ(t->name, img.data, t->data, t->numel);

        snprintf(key, sizeof key, "%s.rgb_u8", file);
        const st_tensor *want = get_u8(&f, key);
        int n = (int)want->shape[0];
        float *px = malloc(sizeof(float) * 3 * n * n);
        uint8_t *rgb = malloc(3 * (size_t)n * n);
        REQUIRE_OK(clipc_preprocess(&img, n, px, rgb));
        bytes_differ(key, rgb, want->data, want->numel);
        snprintf(key, sizeof key, "%s.pixels", file);
        const st_tensor *wp = st_get(&f, key);
        REQUIRE(wp && wp->numel == 3 * (size_t)n * n);
        long u = max_ulps(px, wp->data, wp->numel);
        CHECKF(u == 0, "%s: pixels differ by up to %ld ulp", file, u);
        free(px);
        free(rgb);

        snprintf(key, sizeof key, "%s.resized", file);
        const st_tensor *rs = st_get(&f, key);
        if (rs) { /* one direction only, or up in one and down in the other */
            clipc_image r;
            REQUIRE_OK(pil_resize(&img, (int)rs->shape[1], (int)rs->shape[0], &r));
            bytes_differ(key, r.data, rs->data, rs->numel);
            clipc_image_free(&r);
            resized++;
        }
        clipc_image_free(&img);
        cases++;
    }
    CHECKF(cases >= 28, "only %d cases in expected.safetensors", cases);
    CHECK(resized >= 4);
    st_close(&f);
}

TEST(image_kinds) {
    /* What each file kind decodes to (channels, `nearest`). */
    static const struct { const char *file; int ch, nearest; } kinds[] = {
        {"grey_29x41.png", 1, 0},     {"la_33x50.png", 2, 0},       {"rgb_53x37.png", 3, 0},
        {"rgba_45x31.png", 4, 0},     {"pal_40x30.png", 3, 1},      {"pal_trns_17x13.png", 4, 1},
        {"bilevel_30x22.png", 1, 1},  {"rgb16_23x19.png", 3, 0},    {"ga16_18x21.png", 2, 0},
        {"rgba16_26x15.png", 4, 0},   {"grey_20x30.jpg", 1, 0},     {"cmyk_26x18.jpg", 3, 0},
        {"ycc420_37x23.jpg", 3, 0},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", DATA_DIR, kinds[i].file);
        clipc_image img;
        if (clipc_image_load(path, &img) != CLIPC_OK && i == 0) SKIP("%s absent", DATA_DIR);
        CHECKF(img.channels == kinds[i].ch && img.nearest == kinds[i].nearest,
               "%s: channels %d nearest %d", kinds[i].file, img.channels, img.nearest);
        clipc_image_free(&img);
    }
    /* EXIF 5..8 swap the sides. */
    clipc_image img;
    REQUIRE_OK(clipc_image_load(DATA_DIR "/exif6_24x16.jpg", &img));
    CHECK(img.width == 16 && img.height == 24);
    clipc_image_free(&img);
}

/* Magic bytes decide, not the extension. */
TEST(image_magic_not_extension) {
    char *buf;
    size_t len;
    if (clipc_read_file(DATA_DIR "/ycc420_37x23.jpg", &buf, &len)) SKIP("%s absent", DATA_DIR);
    char path[512];
    snprintf(path, sizeof path, "%s/actually_jpeg.png", test_tmpdir());
    REQUIRE_OK(clipc_write_file_atomic(path, buf, len));
    clipc_image img;
    REQUIRE_OK(clipc_image_load(path, &img));
    CHECK(img.width == 37 && img.height == 23 && img.channels == 3);
    clipc_image_free(&img);
    free(buf);
}

/* ------------------------------------------------------------- resampling */

/* A constant image stays constant through every resize path (weights sum to
 * one in 22-bit fixed point), including up- and down-scaling at once. */
TEST(image_resize_constant) {
    uint8_t in[7 * 5 * 4];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i % 4 == 3 ? 255 : 77 + i % 4);
    clipc_image img = {.width = 7, .height = 5, .channels = 4, .data = in};
    static const int sizes[][2] = {{3, 11}, {1, 1}, {30, 2}, {7, 9}, {2, 5}};
    for (int s = 0; s < 5; s++) {
        clipc_image r;
        REQUIRE_OK(pil_resize(&img, sizes[s][0], sizes[s][1], &r));
        for (int i = 0; i < r.width * r.height; i++)
            CHECKF(r.data[i * 4] == 77 && r.data[i * 4 + 1] == 78 && r.data[i * 4 + 2] == 79 &&
                       r.data[i * 4 + 3] == 255,
                   "%dx%d: pixel %d = %d %d %d %d", r.width, r.height, i, r.data[i * 4],
                   r.data[i * 4 + 1], r.data[i * 4 + 2], r.data[i * 4 + 3]);
        clipc_image_free(&r);
    }
}

TEST(image_preprocess_bad_args) {
    uint8_t px[4] = {1, 2, 3, 4};
    clipc_image img = {.width = 2, .height = 2, .channels = 1, .data = px};
    float out[3 * 4];
    CHECK(clipc_preprocess(&img, 0, out, NULL) == CLIPC_ERR_INVALID);
    img.channels = 5;
    CHECK(clipc_preprocess(&img, 2, out, NULL) == CLIPC_ERR_INVALID);
    img.channels = 1;
    /* 65535 x 1 to 65535 px would be 65535^2 x 65535: refused, no overflow. */
    uint8_t line[8] = {0};
    clipc_image thin = {.width = 8, .height = 1, .channels = 1, .data = line};
    CHECK(clipc_preprocess(&thin, 65535, out, NULL) == CLIPC_ERR_RANGE);
    REQUIRE_OK(clipc_preprocess(&img, 2, out, NULL));
    /* grey 1 -> (1/255 - mean_r) / std_r as float32 */
    CHECK(out[0] == (1.0f / 255.0f - 0.48145466f) / 0.26862954f);
}

/* --------------------------------------------------------- malformed input */

/* The call failed with a one-line message that names `name`. */
static void expect_error(clipc_status s, const char *name, const char *needle) {
    const char *msg = clipc_last_error();
    CHECKF(s != CLIPC_OK, "%s: decoding succeeded", name);
    CHECKF(strstr(msg, name) != NULL, "%s: message does not name the file: %s", name, msg);
    CHECKF(!strchr(msg, '\n'), "%s: message has a newline", name);
    if (needle) CHECKF(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", name, msg, needle);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

TEST(image_malformed) {
    const char *dir = test_tmpdir();
    char path[512];
    clipc_image img;
    char *png, *jpg;
    size_t png_len, jpg_len;
    if (clipc_read_file(DATA_DIR "/rgb_53x37.png", &png, &png_len)) SKIP("%s absent", DATA_DIR);
    REQUIRE_OK(clipc_read_file(DATA_DIR "/ycc420_37x23.jpg", &jpg, &jpg_len));

    /* Truncated PNG and JPEG at several points. */
    static const double cuts[] = {0.1, 0.5, 0.9, 0.99};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/trunc%d.png", dir, i);
        REQUIRE_OK(clipc_write_file_atomic(path, png, (size_t)(png_len * cuts[i])));
        expect_error(clipc_image_load(path, &img), path, "truncated PNG");
        snprintf(path, sizeof path, "%s/trunc%d.jpg", dir, i);
        REQUIRE_OK(clipc_write_file_atomic(path, jpg, (size_t)(jpg_len * cuts[i])));
        expect_error(clipc_image_load(path, &img), path, "truncated JPEG");
    }
    /* Just the magic. */
    snprintf(path, sizeof path, "%s/magic_only.png", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, png, 8));
    expect_error(clipc_image_load(path, &img), path, NULL);
    snprintf(path, sizeof path, "%s/magic_only.jpg", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, jpg, 2));
    expect_error(clipc_image_load(path, &img), path, "truncated");

    /* A flipped byte inside the PNG's IDAT (CRC mismatch) and garbage in the
     * JPEG's entropy-coded data. */
    snprintf(path, sizeof path, "%s/corrupt.png", dir);
    png[png_len / 2] ^= 0x55;
    REQUIRE_OK(clipc_write_file_atomic(path, png, png_len));
    expect_error(clipc_image_load(path, &img), path, "PNG");
    png[png_len / 2] ^= 0x55;
    snprintf(path, sizeof path, "%s/corrupt.jpg", dir);
    char *bad = malloc(jpg_len);
    memcpy(bad, jpg, jpg_len);
    memset(bad + 20, 0xFF, 4); /* inside the quantisation tables: invalid markers */
    REQUIRE_OK(clipc_write_file_atomic(path, bad, jpg_len));
    clipc_status s = clipc_image_load(path, &img);
    if (s == CLIPC_OK)
        clipc_image_free(&img); /* libjpeg may accept it; it must not crash */
    else
        expect_error(s, path, "JPEG");
    free(bad);

    /* Wrong magic: a text file named .png. */
    snprintf(path, sizeof path, "%s/text.png", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, "hello, world\n", 13));
    expect_error(clipc_image_load(path, &img), path, "not an image format clipc reads");
    CHECK(clipc_image_load(path, &img) == CLIPC_ERR_UNSUPPORTED);

    /* A PNG header claiming 100000 x 100000 (valid CRC, no data), and a JPEG
     * SOF claiming 65500 x 65500 (> 2^28 pixels): refused before allocating. */
    uint8_t hdr[33];
    memcpy(hdr, png, 33);
    put_be32(hdr + 16, 100000);
    put_be32(hdr + 20, 100000);
    put_be32(hdr + 29, (uint32_t)crc32(0, hdr + 12, 17));
    snprintf(path, sizeof path, "%s/huge.png", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, hdr, 33));
    expect_error(clipc_image_load(path, &img), path, "too large");
    CHECK(clipc_image_load(path, &img) == CLIPC_ERR_RANGE);
    char *big = malloc(jpg_len);
    memcpy(big, jpg, jpg_len);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < jpg_len; i++)
        if ((uint8_t)big[i] == 0xFF && ((uint8_t)big[i + 1] == 0xC0 || (uint8_t)big[i + 1] == 0xC2)) {
            sof = i;
            break;
        }
    REQUIRE(sof);
    big[sof + 5] = (char)0xFF, big[sof + 6] = (char)0xDC; /* height 65500 */
    big[sof + 7] = (char)0xFF, big[sof + 8] = (char)0xDC; /* width 65500 */
    snprintf(path, sizeof path, "%s/huge.jpg", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, big, jpg_len));
    expect_error(clipc_image_load(path, &img), path, "too large");
    free(big);

    /* Zero-length file, a directory, a missing file. */
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    REQUIRE_OK(clipc_write_file_atomic(path, "", 0));
    expect_error(clipc_image_load(path, &img), path, "empty");
    expect_error(clipc_image_load(dir, &img), dir, NULL);
    snprintf(path, sizeof path, "%s/no_such_file.png", dir);
    expect_error(clipc_image_load(path, &img), path, NULL);
    CHECK(clipc_image_load(path, &img) == CLIPC_ERR_IO);

    /* 16-bit greyscale PNGs read as Pillow's "I" clipped to 0..255 (their
     * pixels against Pillow's: test_image_formats.c, png_grey16). */
    REQUIRE_OK(clipc_image_load(DATA_DIR "/grey16_8x8.png", &img));
    CHECK(img.channels == 1 && img.width == 8 && img.height == 8 && !img.nearest);
    clipc_image_free(&img);

    /* The memory entry point names its buffer. */
    expect_error(clipc_image_decode(png, 30, "buffer-name", &img), "buffer-name", NULL);
    expect_error(clipc_image_decode(NULL, 0, "nothing", &img), "nothing", "empty");
    free(png);
    free(jpg);
}

/* Mutated files (flipped bytes, often in the headers and the EXIF block,
 * and random cuts) must decode or fail cleanly: under `make asan` this is a
 * small deterministic fuzz run of the PNG, JPEG and EXIF paths. */
TEST(image_mutations) {
    static const char *files[] = {"rgb_53x37.png", "pal_trns_17x13.png", "la_33x50.png",
                                  "rgb16_23x19.png", "ycc420_37x23.jpg", "ycc444_prog_37x23.jpg",
                                  "exif6_24x16.jpg", "cmyk_26x18.jpg", "grey_20x30.jpg"};
    uint64_t st = 0x9E3779B97F4A7C15ull;
    int ok = 0, failed = 0;
    for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
        char path[256], *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", DATA_DIR, files[fi]);
        if (clipc_read_file(path, &buf, &len)) SKIP("%s absent", DATA_DIR);
        uint8_t *m = malloc(len);
        for (int it = 0; it < 150; it++) {
            memcpy(m, buf, len);
            size_t n = len;
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            int flips = 1 + (int)(st % 4);
            for (int k = 0; k < flips; k++) {
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                /* Half of the flips land in the first 256 bytes: headers, EXIF. */
                size_t at = (st >> 8) % ((k & 1) ? len : (len < 256 ? len : 256));
                m[at] ^= (uint8_t)(1u << (st % 8));
            }
            if (it % 5 == 0) n = 1 + (size_t)((st >> 20) % len);
            clipc_image img;
            clipc_status s = clipc_image_decode(m, n, "mutant", &img);
            if (s == CLIPC_OK) {
                CHECK(img.width > 0 && img.height > 0 && img.data);
                clipc_image_free(&img);
                ok++;
            } else {
                const char *msg = clipc_last_error();
                CHECKF(!strncmp(msg, "mutant: ", 8) && !strchr(msg, '\n'), "bad message: %s", msg);
                failed++;
            }
        }
        free(m);
        free(buf);
    }
    CHECK(failed > 100);
}
