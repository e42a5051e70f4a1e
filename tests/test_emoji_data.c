/*
 * test_emoji_data.c — the committed emoji-mini data set (data/emoji-mini,
 * built by tools/emoji-mini/build.sh) is what its README promises: it loads
 * with the ordinary Karpathy reader without a single warning, has the
 * documented split sizes, every image decodes to 32x32 RGB, and the held-out
 * concepts (about 10 %, chosen by FNV-1a 64 of the concept's hex stem) never
 * appear in the training splits.  The exact counts below come from the
 * pinned package versions in build.sh; rebuilding from newer packages means
 * updating them here and in the README.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipc.h"
#include "harness.h"

#define EMOJI_JSON "data/emoji-mini/dataset_emoji.json"
#define N_CONCEPTS 1906
#define N_HELD 192

static void count_warn(const char *msg, void *ud) {
    fprintf(stderr, "emoji-mini warning: %s\n", msg);
    ++*(int *)ud;
}

static clipc_dataset *load_split(const char *split, int *warnings) {
    struct stat st;
    if (stat(EMOJI_JSON, &st) != 0) SKIP("%s not found (run the tests from the repository root)", EMOJI_JSON);
    clipc_dataset_opts o = {.split = split, .check_images = 1, .warn = count_warn, .warn_ud = warnings};
    clipc_dataset *ds = NULL;
    if (clipc_dataset_load(EMOJI_JSON, &o, &ds) != CLIPC_OK) {
        harness_fail(__FILE__, __LINE__, "load %s: %s", split ? split : "all", clipc_last_error());
        harness_abort_test();
    }
    return ds;
}

/* "twemoji/1f600.png" -> style 0, stem "1f600" (into buf). */
static int style_and_stem(const char *path, char *buf, size_t cap) {
    const char *slash = strchr(path, '/'), *dot = strrchr(path, '.');
    if (!slash || !dot || dot < slash || (size_t)(dot - slash) >= cap) return -1;
    memcpy(buf, slash + 1, (size_t)(dot - slash - 1));
    buf[dot - slash - 1] = 0;
    if (strncmp(path, "twemoji/", 8) == 0) return 0;
    if (strncmp(path, "noto/", 5) == 0) return 1;
    return -1;
}

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

TEST(emoji_mini_splits) {
    static const struct { const char *name; int n; } want[4] = {
        {"train", N_CONCEPTS - N_HELD}, {"restval", N_HELD}, {"val", N_CONCEPTS - N_HELD}, {"test", N_HELD}};
    for (int s = 0; s < 4; s++) {
        int warnings = 0;
        clipc_dataset *ds = load_split(want[s].name, &warnings);
        CHECKF(clipc_dataset_n_images(ds) == want[s].n, "%s: %d images, want %d", want[s].name,
               clipc_dataset_n_images(ds), want[s].n);
        CHECKF(warnings == 0, "%s: %d warnings", want[s].name, warnings);
        /* Twemoji for train/restval, Noto for val/test; held out iff hash. */
        for (int i = 0; i < clipc_dataset_n_images(ds); i++) {
            char stem[128];
            int style = style_and_stem(clipc_dataset_image_path(ds, i), stem, sizeof stem);
            int held = fnv1a64(stem) % 10 == 0;
            CHECKF(style == (s >= 2) && held == (s % 2 == 1), "%s: image %s", want[s].name,
                   clipc_dataset_image_path(ds, i));
        }
        clipc_dataset_free(ds);
    }
}

TEST(emoji_mini_images_and_captions) {
    int warnings = 0;
    clipc_dataset *ds = load_split(NULL, &warnings);
    int n = clipc_dataset_n_images(ds);
    CHECK(n == 2 * N_CONCEPTS);
    CHECK(warnings == 0);
    CHECK(strcmp(clipc_dataset_format_name(clipc_dataset_get_format(ds)), "karpathy") == 0);
    char **stems[2] = {calloc((size_t)n, sizeof(char *)), calloc((size_t)n, sizeof(char *))};
    int n_style[2] = {0, 0}, n_held = 0, bad_img = 0, bad_cap = 0;
    REQUIRE(stems[0] && stems[1]);
    for (int i = 0; i < n; i++) {
        char full[1024], stem[128];
        REQUIRE(clipc_dataset_image_fullpath(ds, i, full, sizeof full) < (int)sizeof full);
        clipc_image img;
        if (clipc_image_load(full, &img) != CLIPC_OK) {
            if (bad_img++ < 5) CHECKF(0, "%s", clipc_last_error());
        } else {
            if (!(img.width == 32 && img.height == 32 && img.channels == 3) && bad_img++ < 5)
                CHECKF(0, "%s: %dx%d, %d channels", full, img.width, img.height, img.channels);
            clipc_image_free(&img);
        }
        int first, nc = clipc_dataset_image_captions(ds, i, &first);
        if (nc < 1 || nc > 2) bad_cap++;
        for (int c = first; c < first + nc; c++)
            if (!clipc_dataset_caption(ds, c)[0]) bad_cap++;
        int style = style_and_stem(clipc_dataset_image_path(ds, i), stem, sizeof stem);
        REQUIREF(style >= 0, "odd image path %s", clipc_dataset_image_path(ds, i));
        REQUIRE((stems[style][n_style[style]++] = strdup(stem)) != NULL);
        clipc_split sp = clipc_dataset_image_split(ds, i);
        int held = sp == CLIPC_SPLIT_RESTVAL || sp == CLIPC_SPLIT_TEST;
        if (style == 1) n_held += held;
    }
    CHECKF(bad_img == 0, "%d images do not decode to 32x32 RGB", bad_img);
    CHECKF(bad_cap == 0, "%d images with a bad caption count or an empty caption", bad_cap);
    /* Same concepts in both styles, no concept twice. */
    REQUIRE(n_style[0] == N_CONCEPTS && n_style[1] == N_CONCEPTS);
    qsort(stems[0], N_CONCEPTS, sizeof(char *), cmp_str);
    qsort(stems[1], N_CONCEPTS, sizeof(char *), cmp_str);
    for (int i = 0; i < N_CONCEPTS; i++) {
        CHECKF(strcmp(stems[0][i], stems[1][i]) == 0, "%s vs %s", stems[0][i], stems[1][i]);
        if (i) CHECKF(strcmp(stems[0][i - 1], stems[0][i]) != 0, "concept %s twice", stems[0][i]);
    }
    /* About 10 % held out. */
    CHECKF(n_held == N_HELD, "%d held-out concepts", n_held);
    CHECK(n_held * 100 >= 8 * N_CONCEPTS && n_held * 100 <= 12 * N_CONCEPTS);
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < N_CONCEPTS; i++) free(stems[s][i]);
        free(stems[s]);
    }
    clipc_dataset_free(ds);
}

/* Every concept's split is the same in both styles: a held-out concept is
 * never in train or val, a training concept never in restval or test. */
TEST(emoji_mini_held_out_disjoint) {
    int warnings = 0;
    clipc_dataset *ds = load_split(NULL, &warnings);
    int n = clipc_dataset_n_images(ds);
    char **train = calloc((size_t)n, sizeof(char *)), **held = calloc((size_t)n, sizeof(char *));
    REQUIRE(train && held);
    int nt = 0, nh = 0;
    for (int i = 0; i < n; i++) {
        char stem[128];
        REQUIRE(style_and_stem(clipc_dataset_image_path(ds, i), stem, sizeof stem) >= 0);
        clipc_split sp = clipc_dataset_image_split(ds, i);
        if (sp == CLIPC_SPLIT_TRAIN || sp == CLIPC_SPLIT_VAL) train[nt++] = strdup(stem);
        else held[nh++] = strdup(stem);
    }
    CHECK(nt == 2 * (N_CONCEPTS - N_HELD) && nh == 2 * N_HELD);
    qsort(train, (size_t)nt, sizeof(char *), cmp_str);
    int overlap = 0;
    for (int i = 0; i < nh; i++)
        overlap += bsearch(&held[i], train, (size_t)nt, sizeof(char *), cmp_str) != NULL;
    CHECKF(overlap == 0, "%d held-out images share a concept with training images", overlap);
    for (int i = 0; i < nt; i++) free(train[i]);
    for (int i = 0; i < nh; i++) free(held[i]);
    free(train);
    free(held);
    clipc_dataset_free(ds);
}
