/*
 * test_dataset.c — caption dataset readers: the ../shared format samples,
 * our own fixtures in tests/data/formats/, and generated bad inputs
 * (CRLF, BOM, broken lines, invalid UTF-8, NUL bytes, missing images...).
 * Warnings are captured and compared word for word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "harness.h"

#define FIX "tests/data/formats/"

typedef struct {
    int n;
    char msg[16][512];
} warnings;

static void on_warn(const char *msg, void *ud) {
    warnings *w = ud;
    if (w->n < 16) snprintf(w->msg[w->n], sizeof w->msg[0], "%s", msg);
    w->n++;
}

static clipc_dataset_opts opts_w(warnings *w) {
    clipc_dataset_opts o = {0};
    memset(w, 0, sizeof *w);
    o.warn = on_warn;
    o.warn_ud = w;
    return o;
}

/* Writes bytes to test_tmpdir()/name and returns the path (static slots). */
static const char *write_tmp(const char *name, const char *data, size_t len) {
    static char bufs[8][512];
    static int slot;
    char *p = bufs[slot++ & 7];
    snprintf(p, sizeof bufs[0], "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) return NULL;
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}
#define WRITE_STR(name, s) write_tmp(name, s, sizeof(s) - 1)

static void mkdir_tmp(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", test_tmpdir(), rel);
    mkdir(p, 0755);
}

static const char *tmp(const char *rel) {
    static char bufs[8][512];
    static int slot;
    char *p = bufs[slot++ & 7];
    snprintf(p, sizeof bufs[0], "%s/%s", test_tmpdir(), rel);
    return p;
}

static int caption_count(const clipc_dataset *ds, int i, int *first) {
    return clipc_dataset_image_captions(ds, i, first);
}

static const char *cap_of(const clipc_dataset *ds, int i, int k) {
    int f;
    if (k >= caption_count(ds, i, &f)) return "(none)";
    return clipc_dataset_caption(ds, f + k);
}

/* Every caption's image points back at an image whose range holds it. */
static void check_consistent(const clipc_dataset *ds) {
    int total = 0;
    for (int i = 0; i < clipc_dataset_n_images(ds); i++) {
        int f, n = clipc_dataset_image_captions(ds, i, &f);
        CHECKF(f == total, "image %d first caption %d, expected %d", i, f, total);
        for (int k = 0; k < n; k++) CHECK(clipc_dataset_caption_image(ds, f + k) == i);
        total += n;
    }
    CHECK(total == clipc_dataset_n_captions(ds));
}

/* ------------------------------------------------- ../shared samples */

TEST(dataset_shared_karpathy_sample) {
    const char *p = shared_path("formats/flickr8k_karpathy_sample.json");
    if (!p) SKIP("../shared not found: the shared format samples are not available");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_KARPATHY);
    CHECK(w.n == 0);
    REQUIRE(clipc_dataset_n_images(ds) == 3);
    CHECK(clipc_dataset_n_captions(ds) == 15);
    check_consistent(ds);
    static const int64_t ids[3] = {0, 1, 6068};
    static const clipc_split sp[3] = {CLIPC_SPLIT_TRAIN, CLIPC_SPLIT_TRAIN, CLIPC_SPLIT_VAL};
    static const char *const names[3] = {"2513260012_03d33305cf.jpg", "2903617548_d3e38d7f88.jpg",
                                         "2800990525_a1f8427272.jpg"};
    static const int64_t sent0[3] = {0, 5, 30340};
    for (int i = 0; i < 3; i++) {
        CHECK(clipc_dataset_image_id(ds, i) == ids[i]);
        CHECK(clipc_dataset_image_split(ds, i) == sp[i]);
        CHECK(strcmp(clipc_dataset_image_path(ds, i), names[i]) == 0);
        int f;
        CHECK(clipc_dataset_image_captions(ds, i, &f) == 5);
        for (int k = 0; k < 5; k++) CHECK(clipc_dataset_caption_id(ds, f + k) == sent0[i] + k);
    }
    CHECK(strcmp(cap_of(ds, 0, 1), "Black dog chasing brown dog through snow") == 0);
    CHECK(strcmp(cap_of(ds, 2, 3),
                 "A man with sunglasses on his head is standing by signs for the Wharf and ferry terminal .") == 0);
    clipc_dataset_free(ds);

    /* split filter: only the val image remains, with its real imgid. */
    o.split = "val";
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(clipc_dataset_image_id(ds, 0) == 6068);
    CHECK(clipc_dataset_n_captions(ds) == 5);
    clipc_dataset_free(ds);
    o.split = "test";
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "nothing usable: no image of split 'test' left (3 images, 15 captions read)"),
           "got: %s", clipc_last_error());
}

TEST(dataset_shared_flickr8k_sample) {
    const char *p = shared_path("formats/Flickr8k.token_sample.txt");
    if (!p) SKIP("../shared not found: the shared format samples are not available");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_FLICKR8K);
    CHECK(w.n == 0);
    REQUIRE(clipc_dataset_n_images(ds) == 3);
    CHECK(clipc_dataset_n_captions(ds) == 15);
    check_consistent(ds);
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "1000268201_693b08cb0e.jpg") == 0);
    CHECK(strcmp(clipc_dataset_image_path(ds, 2), "1002674143_1b742ab4b8.jpg") == 0);
    CHECK(clipc_dataset_image_split(ds, 0) == CLIPC_SPLIT_NONE);
    CHECK(clipc_dataset_image_id(ds, 2) == 2);
    CHECK(strcmp(cap_of(ds, 1, 0), "A black dog and a spotted dog are fighting") == 0);
    CHECK(strcmp(cap_of(ds, 0, 4), "A little girl in a pink dress going into a wooden cabin .") == 0);
    CHECK(clipc_dataset_caption_id(ds, 5) == 6); /* its line number */
    clipc_dataset_free(ds);
    /* No split files beside the sample: asking for a split is an error. */
    o.split = "train";
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_INVALID);
    CHECKF(strstr(clipc_last_error(), "split 'train' requested but the flickr8k data has no split "
                                      "information (no Flickr_8k.*Images.txt beside it)"),
           "got: %s", clipc_last_error());
}

TEST(dataset_shared_flickr30k_sample) {
    const char *p = shared_path("formats/flickr30k_results_sample.csv");
    if (!p) SKIP("../shared not found: the shared format samples are not available");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_FLICKR30K);
    CHECK(w.n == 0);
    REQUIRE(clipc_dataset_n_images(ds) == 3);
    CHECK(clipc_dataset_n_captions(ds) == 15);
    check_consistent(ds);
    CHECK(strcmp(clipc_dataset_image_path(ds, 1), "10002456.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 0, 1), "Two young , White males are outside near many bushes .") == 0);
    CHECK(strcmp(cap_of(ds, 2, 3), "A little girl climbing into a wooden playhouse") == 0);
    clipc_dataset_free(ds);
}

/* ---------------------------------------------------- own fixtures */

TEST(dataset_karpathy_fixture) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(FIX "karpathy_small.json", &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 3);
    CHECK(clipc_dataset_n_captions(ds) == 5);
    check_consistent(ds);
    /* imgids 3, 17, 42 — not the array positions */
    CHECK(clipc_dataset_image_id(ds, 0) == 3);
    CHECK(clipc_dataset_image_id(ds, 1) == 17);
    CHECK(clipc_dataset_image_id(ds, 2) == 42);
    CHECK(clipc_dataset_image_split(ds, 1) == CLIPC_SPLIT_TEST);
    CHECK(clipc_dataset_image_split(ds, 2) == CLIPC_SPLIT_VAL);
    int f;
    CHECK(clipc_dataset_image_captions(ds, 1, &f) == 0); /* "sentences": [] */
    CHECK(clipc_dataset_image_captions(ds, 2, &f) == 2);
    CHECK(strcmp(clipc_dataset_caption(ds, f + 1), "Birds sitting on a power line") == 0);
    CHECK(clipc_dataset_caption_id(ds, f + 1) == 91);
    CHECK(strcmp(cap_of(ds, 0, 1), "A grey cat on a rug") == 0);
    /* "dataset": "flickr8k" but no Flicker8k_Dataset folder: root = file's folder */
    CHECK(strcmp(clipc_dataset_image_root(ds), "tests/data/formats") == 0);
    REQUIRE(w.n == 1);
    CHECK(strcmp(w.msg[0], FIX "karpathy_small.json: images[1]: image without captions: "
                           "'dog_07.jpg' (1 in all; kept as image-only)") == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_karpathy_coco_filepath_restval) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(FIX "coco/dataset_coco_small.json", &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 3);
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "val2014/COCO_val2014_000000391895.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 0, 0), "A man with a red helmet on a small moped on a dirt road.") == 0);
    char full[256];
    clipc_dataset_image_fullpath(ds, 2, full, sizeof full);
    CHECK(strcmp(full, "tests/data/formats/coco/train2014/COCO_train2014_000000318556.jpg") == 0);
    CHECK(w.n == 0);
    clipc_dataset_free(ds);
    o.split = "restval";
    REQUIRE_OK(clipc_dataset_load(FIX "coco/dataset_coco_small.json", &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(clipc_dataset_image_id(ds, 0) == 1);
    CHECK(clipc_dataset_caption_id(ds, 0) == 681330);
    clipc_dataset_free(ds);
    o.split = "bogus";
    CHECK(clipc_dataset_load(FIX "coco/dataset_coco_small.json", &o, &ds) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_last_error(), "unknown split 'bogus' (train, val, test, restval, all, or a list like val,test)") == 0);
}

TEST(dataset_flickr8k_fixture_splits) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(FIX "flickr8k/Flickr8k.token.txt", &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 4);
    CHECK(clipc_dataset_n_captions(ds) == 6);
    check_consistent(ds);
    CHECK(strcmp(clipc_dataset_image_path(ds, 2), "c#3.jpg") == 0); /* split at the LAST '#' */
    CHECK(clipc_dataset_image_split(ds, 0) == CLIPC_SPLIT_TRAIN);
    CHECK(clipc_dataset_image_split(ds, 1) == CLIPC_SPLIT_VAL);
    CHECK(clipc_dataset_image_split(ds, 2) == CLIPC_SPLIT_TEST);
    CHECK(clipc_dataset_image_split(ds, 3) == CLIPC_SPLIT_NONE);
    REQUIRE(w.n == 3);
    CHECK(strcmp(w.msg[0], FIX "flickr8k/Flickr8k.token.txt:5: not an image file name: "
                           "'2258277193_586949ec62.jpg.1' (2 in all; skipped)") == 0);
    CHECK(strcmp(w.msg[1], FIX "flickr8k/Flickr_8k.testImages.txt:2: split file lists an image "
                           "with no captions: 'missing_99.jpg' (1 in all; ignored)") == 0);
    CHECK(strcmp(w.msg[2], FIX "flickr8k/Flickr8k.token.txt:8: image in no split file: "
                           "'d_04.jpg' (1 in all; kept without split)") == 0);
    clipc_dataset_free(ds);
    o = opts_w(&w);
    o.split = "val";
    REQUIRE_OK(clipc_dataset_load(FIX "flickr8k/Flickr8k.token.txt", &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "b_02.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 0, 1), "A child swimming") == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_flickr8k_image_root_and_crlf) {
    /* Flicker8k_Dataset (sic) beside the token file becomes the root; CRLF. */
    mkdir_tmp("f8");
    mkdir_tmp("f8/Flicker8k_Dataset");
    const char *p = WRITE_STR("f8/Flickr8k.token.txt",
                              "a.jpg#0\tA dog .\r\na.jpg#1\tA brown dog runs .\r\nb.jpg#0\tA cat .\r\n");
    WRITE_STR("f8/Flicker8k_Dataset/a.jpg", "x");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    o.check_images = 1;
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(strcmp(cap_of(ds, 0, 1), "A brown dog runs .") == 0); /* no trailing \r */
    CHECK(strcmp(clipc_dataset_image_root(ds), tmp("f8/Flicker8k_Dataset")) == 0);
    REQUIRE(w.n == 1);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s:3: missing image file: '%s/f8/Flicker8k_Dataset/b.jpg' not found (1 in all; skipped)",
             p, test_tmpdir());
    CHECKF(strcmp(w.msg[0], expect) == 0, "got: %s", w.msg[0]);
    clipc_dataset_free(ds);
}

TEST(dataset_flickr30k_fixture_broken_line) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(FIX "flickr30k_results.csv", &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_FLICKR30K);
    REQUIRE(clipc_dataset_n_images(ds) == 2);
    CHECK(clipc_dataset_n_captions(ds) == 4);
    CHECK(strcmp(cap_of(ds, 0, 0), "A man , a woman and a \"dog\" walk .") == 0);
    CHECK(strcmp(cap_of(ds, 0, 1), "People walking a dog | outside .") == 0);
    CHECK(strcmp(cap_of(ds, 1, 1), "A kid swings in a park .") == 0);
    REQUIRE(w.n == 1);
    CHECK(strcmp(w.msg[0], FIX "flickr30k_results.csv:5: repaired line: no '|' after the comment "
                           "number; read as number 4 + caption (1 in all; repaired)") == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_flickr30k_bom_crlf_real_broken_line) {
    /* BOM + CRLF + the real file's broken line + a bad number + a line with no '|'. */
    const char *p = WRITE_STR("results.csv",
                              "\xEF\xBB\xBFimage_name| comment_number| comment\r\n"
                              "2199200615.jpg| 3| A dog jumps .\r\n"
                              "2199200615.jpg| 4   A dog runs across the grass .\r\n"
                              "1.jpg| x| Not a number .\r\n"
                              "1.jpg| 7| Out of range .\r\n"
                              "just some words\r\n"
                              "2.jpg| 0| Fine .\r\n");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 2);
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "2199200615.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 0, 0), "A dog jumps .") == 0);
    CHECK(strcmp(cap_of(ds, 0, 1), "A dog runs across the grass .") == 0);
    CHECK(strcmp(cap_of(ds, 1, 0), "Fine .") == 0);
    REQUIRE(w.n == 2);
    char e[2][1024];
    snprintf(e[0], sizeof e[0], "%s:4: malformed line: comment number 'x' is not an integer 0..4 "
             "(3 in all; skipped)", p);
    snprintf(e[1], sizeof e[1], "%s:3: repaired line: no '|' after the comment number; read as "
             "number 4 + caption (1 in all; repaired)", p);
    CHECKF(strcmp(w.msg[0], e[0]) == 0, "got: %s", w.msg[0]);
    CHECKF(strcmp(w.msg[1], e[1]) == 0, "got: %s", w.msg[1]);
    clipc_dataset_free(ds);
    /* flickr30k_images/ beside the csv is the default root */
    mkdir_tmp("flickr30k_images");
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(strcmp(clipc_dataset_image_root(ds), tmp("flickr30k_images")) == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_csv_quoted) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(FIX "captions.csv", &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_CSV);
    REQUIRE(clipc_dataset_n_images(ds) == 2);
    CHECK(clipc_dataset_n_captions(ds) == 4);
    CHECK(strcmp(cap_of(ds, 0, 1), "A dog, a cat, and a bird .") == 0);
    CHECK(strcmp(cap_of(ds, 1, 0), "She said \"hello\" , then left .") == 0);
    CHECK(strcmp(cap_of(ds, 1, 1), "A caption that spans\ntwo lines .") == 0);
    CHECK(clipc_dataset_caption_id(ds, 3) == 5); /* the line the record starts on */
    CHECK(w.n == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_csv_variants) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    /* No header, CRLF, BOM, a row with an unquoted comma (never shifted), bad quoting. */
    const char *p = WRITE_STR("plain.csv", "\xEF\xBB\xBF"
                                           "a.jpg,First caption .\r\n"
                                           "a.jpg,\"Quoted, with comma\"\r\n"
                                           "b.jpg,an unquoted, comma\r\n"
                                           "b.jpg,\"bad\"tail\r\n"
                                           "\r\n"
                                           "b.jpg,Last one\r\n");
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 2);
    CHECK(strcmp(cap_of(ds, 0, 0), "First caption .") == 0);
    CHECK(strcmp(cap_of(ds, 0, 1), "Quoted, with comma") == 0);
    CHECK(strcmp(cap_of(ds, 1, 0), "Last one") == 0);
    REQUIRE(w.n == 1);
    char e[1024];
    snprintf(e, sizeof e, "%s:3: malformed line: 3 fields where 2 are expected (quote captions that "
             "contain ',') (2 in all; skipped)", p);
    CHECKF(strcmp(w.msg[0], e) == 0, "got: %s", w.msg[0]);
    clipc_dataset_free(ds);

    /* Header naming the columns in another order, with an extra column. */
    p = WRITE_STR("cols.csv", "id,caption,filename\n1,A red car .,car.jpg\n2,\"A car, blue\",car2.jpg\n");
    o = opts_w(&w);
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 2);
    CHECK(strcmp(clipc_dataset_image_path(ds, 1), "car2.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 1, 0), "A car, blue") == 0);
    CHECK(w.n == 0);
    clipc_dataset_free(ds);

    /* TSV, sniffed by the TAB (key has no '#n', so not Flickr8k). */
    p = WRITE_STR("caps.tsv", "image\ttext\nz.png\tA zebra, standing .\nz.png\tZebra\n");
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_TSV);
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(strcmp(cap_of(ds, 0, 0), "A zebra, standing .") == 0);
    clipc_dataset_free(ds);

    /* Unterminated quote at the end. */
    p = WRITE_STR("unterm.csv", "a.jpg,ok\nb.jpg,\"never closed\n");
    o = opts_w(&w);
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    CHECK(clipc_dataset_n_images(ds) == 1);
    REQUIRE(w.n == 1);
    snprintf(e, sizeof e, "%s:2: malformed line: unterminated quoted field (1 in all; skipped)", p);
    CHECKF(strcmp(w.msg[0], e) == 0, "got: %s", w.msg[0]);
    clipc_dataset_free(ds);
}

TEST(dataset_folder_txt) {
    mkdir_tmp("imgs");
    mkdir_tmp("imgs/sub");
    mkdir_tmp("imgs/.hidden");
    WRITE_STR("imgs/b.jpg", "x");
    WRITE_STR("imgs/b.txt", "A bee .\r\n\r\n  Another bee  \r\n");
    WRITE_STR("imgs/a.PNG", "x");
    WRITE_STR("imgs/a.txt", "An apple\nAn apple\n"); /* duplicate line */
    WRITE_STR("imgs/sub/c.jpeg", "x");                /* no .txt: image-only */
    WRITE_STR("imgs/sub/d.jpg", "x");
    WRITE_STR("imgs/sub/d.txt", "A dog\n");
    WRITE_STR("imgs/notes.txt", "not an image caption\n");
    WRITE_STR("imgs/.hidden/e.jpg", "x");
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    o.check_images = 1;
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(tmp("imgs"), &o, &ds));
    CHECK(clipc_dataset_get_format(ds) == CLIPC_DS_FOLDER);
    REQUIRE(clipc_dataset_n_images(ds) == 4);
    CHECK(clipc_dataset_n_captions(ds) == 4);
    check_consistent(ds);
    /* sorted by byte order: "a.PNG" < "b.jpg" < "sub" */
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "a.PNG") == 0);
    CHECK(strcmp(clipc_dataset_image_path(ds, 1), "b.jpg") == 0);
    CHECK(strcmp(clipc_dataset_image_path(ds, 2), "sub/c.jpeg") == 0);
    CHECK(strcmp(clipc_dataset_image_path(ds, 3), "sub/d.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 1, 1), "Another bee") == 0);
    CHECK(clipc_dataset_caption_id(ds, 2) == 3); /* line 3 of b.txt */
    CHECK(strcmp(clipc_dataset_image_root(ds), tmp("imgs")) == 0);
    REQUIRE(w.n == 2);
    char e[2][1024];
    snprintf(e[0], sizeof e[0], "%s/imgs/a.txt:2: duplicate caption: 'An apple' (1 in all; skipped)",
             test_tmpdir());
    snprintf(e[1], sizeof e[1], "%s/imgs/sub/c.txt: image without captions: 'sub/c.jpeg' (1 in all; "
             "kept as image-only)", test_tmpdir());
    CHECKF(strcmp(w.msg[0], e[0]) == 0, "got: %s", w.msg[0]);
    CHECKF(strcmp(w.msg[1], e[1]) == 0, "got: %s", w.msg[1]);
    clipc_dataset_free(ds);

    mkdir_tmp("empty");
    CHECK(clipc_dataset_load(tmp("empty"), &o, &ds) == CLIPC_ERR_FORMAT);
    CHECKF(strstr(clipc_last_error(), "empty: nothing usable: no image left (0 images, 0 captions read)"),
           "got: %s", clipc_last_error());
}

/* --------------------------------------------------------- bad inputs */

TEST(dataset_bad_lines_counted_once) {
    /* Flickr8k-style file with every kind of problem. */
    const char *p = WRITE_STR("Flickr8k.token.txt",
                              "a.jpg#0\tA fine caption .\n"     /* 1 */
                              "a.jpg#1\t   \n"                  /* 2 empty */
                              "a.jpg#2\tA  FINE caption . \n"   /* 3 duplicate of 1 (normalised) */
                              "a.jpg#3\tbad \xC3\x28 utf8\n"    /* 4 invalid UTF-8 */
                              "no tab here\n"                   /* 5 malformed */
                              "b.jpg#x\tkey without number\n"   /* 6 malformed */
                              "b.jpg#0\t\n"                     /* 7 empty */
                              "b.jpg#1\tA \xED\xA0\x80 surrogate\n" /* 8 invalid UTF-8 */
                              "c.jpg#0\tCafé ☕ is fine\n");    /* 9 */
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 2); /* b.jpg has nothing valid: never created */
    CHECK(clipc_dataset_n_captions(ds) == 2);
    CHECK(strcmp(cap_of(ds, 1, 0), "Café ☕ is fine") == 0);
    REQUIRE(w.n == 4);
    char e[4][1024];
    snprintf(e[0], sizeof e[0], "%s:5: malformed line: no TAB between 'name#n' and the caption "
             "(2 in all; skipped)", p);
    snprintf(e[1], sizeof e[1], "%s:4: invalid UTF-8: line is not valid UTF-8 (2 in all; skipped)", p);
    snprintf(e[2], sizeof e[2], "%s:2: empty caption: caption is empty (2 in all; skipped)", p);
    snprintf(e[3], sizeof e[3], "%s:3: duplicate caption: 'A  FINE caption .' (1 in all; skipped)", p);
    for (int i = 0; i < 4; i++) CHECKF(strcmp(w.msg[i], e[i]) == 0, "got: %s\nwant: %s", w.msg[i], e[i]);
    clipc_dataset_free(ds);
}

TEST(dataset_not_text_is_error) {
    clipc_dataset *ds;
    clipc_dataset_opts o = {0};
    const char *p = WRITE_STR("nul.txt", "a.jpg#0\tok\nb.jpg#0\tx\0y\n");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    char e[1024];
    snprintf(e, sizeof e, "%s:2: NUL byte (binary file?)", p);
    CHECKF(strcmp(clipc_last_error(), e) == 0, "got: %s", clipc_last_error());

    p = WRITE_STR("utf16.txt", "\xFF\xFE" "a\0.\0");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    snprintf(e, sizeof e, "%s: UTF-16 text is not supported; convert it to UTF-8", p);
    CHECKF(strcmp(clipc_last_error(), e) == 0, "got: %s", clipc_last_error());

    size_t n = (1 << 20) + 100;
    char *big = malloc(n);
    REQUIRE(big);
    memcpy(big, "a.jpg,ok\nb.jpg,", 15);
    memset(big + 15, 'x', n - 16);
    big[n - 1] = '\n';
    p = write_tmp("big.csv", big, n);
    free(big);
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    snprintf(e, sizeof e, "%s:2: line longer than 1048576 bytes", p);
    CHECKF(strcmp(clipc_last_error(), e) == 0, "got: %s", clipc_last_error());

    p = WRITE_STR("empty.txt", "\xEF\xBB\xBF \r\n\n");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    snprintf(e, sizeof e, "%s: empty file", p);
    CHECKF(strcmp(clipc_last_error(), e) == 0, "got: %s", clipc_last_error());

    p = WRITE_STR("broken.json", "{\"images\": [\n{\"filename\": \"a.jpg\",\n \"split\" \"train\"}]}");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    snprintf(e, sizeof e, "%s:3: invalid JSON near byte", p);
    CHECKF(strncmp(clipc_last_error(), e, strlen(e)) == 0, "got: %s", clipc_last_error());

    p = WRITE_STR("other.json", "{\"annotations\": []}");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    CHECK(strstr(clipc_last_error(), "no \"images\" array at the top level"));

    CHECK(clipc_dataset_load(tmp("does-not-exist.txt"), &o, &ds) == CLIPC_ERR_IO);
    CHECK(strstr(clipc_last_error(), "does-not-exist.txt: cannot open: No such file or directory"));
}

TEST(dataset_nothing_left_is_error) {
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    clipc_dataset *ds;
    /* Only a header and lines that are all unusable. */
    const char *p = WRITE_STR("r.csv", "image_name| comment_number| comment\n"
                                       "a.jpg| 9| bad number\n"
                                       "b.jpg| 0|    \n");
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    char e[1024];
    snprintf(e, sizeof e, "%s: nothing usable: no image left (0 images, 0 captions read)", p);
    CHECKF(strcmp(clipc_last_error(), e) == 0, "got: %s", clipc_last_error());
    CHECK(w.n == 2); /* malformed, empty caption (warnings still go out) */

    /* check_images with every image missing. */
    p = WRITE_STR("c.csv", "x.jpg,one\ny.jpg,two\n");
    o = opts_w(&w);
    o.check_images = 1;
    CHECK(clipc_dataset_load(p, &o, &ds) == CLIPC_ERR_FORMAT);
    REQUIRE(w.n == 1);
    snprintf(e, sizeof e, "%s:1: missing image file: '%s/x.jpg' not found (2 in all; skipped)", p,
             test_tmpdir());
    CHECKF(strcmp(w.msg[0], e) == 0, "got: %s", w.msg[0]);
    /* ... and with one present, only the other is dropped */
    WRITE_STR("y.jpg", "x");
    o = opts_w(&w);
    o.check_images = 1;
    REQUIRE_OK(clipc_dataset_load(p, &o, &ds));
    REQUIRE(clipc_dataset_n_images(ds) == 1);
    CHECK(strcmp(clipc_dataset_image_path(ds, 0), "y.jpg") == 0);
    CHECK(strcmp(cap_of(ds, 0, 0), "two") == 0);
    CHECK(clipc_dataset_caption_image(ds, 0) == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_format_override_and_names) {
    clipc_dataset_format f;
    REQUIRE_OK(clipc_dataset_format_parse("flickr30k", &f));
    CHECK(f == CLIPC_DS_FLICKR30K);
    CHECK(clipc_dataset_format_parse("xml", &f) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_dataset_format_name(CLIPC_DS_TSV), "tsv") == 0);
    CHECK(strcmp(clipc_split_name(CLIPC_SPLIT_RESTVAL), "restval") == 0);
    /* A '|' file forced to TSV: one field per line, all malformed -> error. */
    warnings w;
    clipc_dataset_opts o = opts_w(&w);
    o.format = CLIPC_DS_TSV;
    clipc_dataset *ds;
    CHECK(clipc_dataset_load(FIX "flickr30k_results.csv", &o, &ds) == CLIPC_ERR_FORMAT);
    REQUIRE(w.n == 1);
    CHECKF(strcmp(w.msg[0], FIX "flickr30k_results.csv:1: malformed line: 1 fields where 2 are "
                            "expected (quote captions that contain '\\t') (5 in all; skipped)") == 0,
           "got: %s", w.msg[0]);
    /* Forcing a file format on a folder is refused. */
    o.format = CLIPC_DS_KARPATHY;
    CHECK(clipc_dataset_load(FIX, &o, &ds) == CLIPC_ERR_INVALID);
    /* Image root override. */
    o = opts_w(&w);
    o.image_root = "/data/images";
    REQUIRE_OK(clipc_dataset_load(FIX "captions.csv", &o, &ds));
    char full[128];
    CHECK(clipc_dataset_image_fullpath(ds, 1, full, sizeof full) == (int)strlen("/data/images/x2.png"));
    CHECK(strcmp(full, "/data/images/x2.png") == 0);
    clipc_dataset_free(ds);
}

TEST(dataset_split_list) {
    /* emoji-mini: Noto images of trained (val) and held-out (test) concepts together. */
    clipc_dataset *ds;
    clipc_dataset_opts o = {.split = "val,test"};
    REQUIRE_OK(clipc_dataset_load("data/emoji-mini/dataset_emoji.json", &o, &ds));
    int val = 0, test = 0;
    for (int i = 0; i < clipc_dataset_n_images(ds); i++) {
        clipc_split s = clipc_dataset_image_split(ds, i);
        val += s == CLIPC_SPLIT_VAL;
        test += s == CLIPC_SPLIT_TEST;
    }
    CHECK(val == 1714 && test == 192 && val + test == clipc_dataset_n_images(ds));
    clipc_dataset_free(ds);
    o.split = "val,bogus";
    CHECK(clipc_dataset_load("data/emoji-mini/dataset_emoji.json", &o, &ds) == CLIPC_ERR_INVALID);
    CHECK(strstr(clipc_last_error(), "val,bogus") != NULL);
}
