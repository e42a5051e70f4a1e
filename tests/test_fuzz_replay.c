/*
 * test_fuzz_replay.c — every fuzz target's committed corpus, crash
 * reproducers included (tests/fuzz/corpus_<name>/), replayed through the
 * target's own function (tests/fuzz/fuzz_<name>.c, compiled into this
 * binary without its libFuzzer entry point), so the default suite keeps
 * every input the fuzzers ever broke on fixed.  Each input runs in a child
 * process: an abort() or a sanitizer report names the file instead of
 * ending the suite.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "harness.h"
#include "formats/vec8.h"
#include "formats/vecfile.h"
#include "image/decoders.h"
#include "index/ann_faiss.h"
#include "train/checkpoint.h"
#include "train/options.h"

int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_tokenizer(const uint8_t *data, size_t size);
int fuzz_captions(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_labels(const uint8_t *data, size_t size);
int fuzz_vecfile(const uint8_t *data, size_t size);
int fuzz_vec8(const uint8_t *data, size_t size);
int fuzz_checkpoint(const uint8_t *data, size_t size);
int fuzz_decode(const uint8_t *data, size_t size);
int fuzz_options(const uint8_t *data, size_t size);
int fuzz_pickle(const uint8_t *data, size_t size);
int fuzz_ftfy(const uint8_t *data, size_t size);
int fuzz_image_webp(const uint8_t *data, size_t size);
int fuzz_image_tiff(const uint8_t *data, size_t size);
int fuzz_image_heif(const uint8_t *data, size_t size);
int fuzz_image_gif(const uint8_t *data, size_t size);
int fuzz_image_bmp(const uint8_t *data, size_t size);
int fuzz_wordpiece(const uint8_t *data, size_t size);
int fuzz_ann(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    {"safetensors", fuzz_safetensors}, {"tokenizer", fuzz_tokenizer}, {"captions", fuzz_captions},
    {"config", fuzz_config},           {"labels", fuzz_labels},       {"vecfile", fuzz_vecfile},
    {"checkpoint", fuzz_checkpoint},   {"decode", fuzz_decode},       {"options", fuzz_options},
    {"pickle", fuzz_pickle},           {"ftfy", fuzz_ftfy},           {"image_webp", fuzz_image_webp},
    {"image_tiff", fuzz_image_tiff},   {"image_heif", fuzz_image_heif}, {"image_gif", fuzz_image_gif},
    {"image_bmp", fuzz_image_bmp},     {"vec8", fuzz_vec8},
    {"wordpiece", fuzz_wordpiece},     {"ann", fuzz_ann},
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs fn on one file in a child; returns its wait status. */
static int replay_one(int (*fn)(const uint8_t *, size_t), const char *path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        char *buf;
        size_t len;
        if (clipc_read_file(path, &buf, &len) != CLIPC_OK) _exit(3);
        /* the exact bytes, in a buffer of exactly their size (ASan sees overreads) */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) _exit(3);
        memcpy(exact, buf, len);
        free(buf);
        int rc = fn(exact, len);
        free(exact);
        exit(rc == 0 ? 0 : 4); /* exit, not _exit: atexit cleanup and LeakSanitizer run */
    }
    int st = -1;
    if (pid > 0) waitpid(pid, &st, 0);
    return st;
}

TEST(fuzz_corpus_replays_clean) {
    int total = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[256];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus_%s", targets[t].name);
        DIR *d = opendir(dir);
        CHECKF(d, "%s: no corpus (run from the repository root)", dir);
        if (!d) continue;
        char *names[512];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 512)
            if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], cmp_str);
        CHECKF(n >= 3, "%s: %d inputs, want a seed corpus of at least 3", dir, n);
        for (int i = 0; i < n; i++) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            int st = replay_one(targets[t].fn, path);
            CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: fuzz_%s failed on it (wait status %d)", path,
                   targets[t].name, st);
            free(names[i]);
            total++;
        }
        printf("  %-12s %3d inputs\n", targets[t].name, n);
    }
    CHECKF(total >= 27, "replayed %d inputs", total);
}

static int aborts(const uint8_t *data, size_t size) {
    if (size && data[0] == '{') abort(); /* as a target does when an invariant breaks */
    return 0;
}

/* The replay notices a failing input (a target that aborts on it). */
TEST(fuzz_replay_notices_a_failure) {
    char path[600];
    snprintf(path, sizeof path, "%s/boom", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("{\"run.i64\":", f);
    fclose(f);
    int ok = replay_one(fuzz_checkpoint, path);
    CHECKF(WIFEXITED(ok) && WEXITSTATUS(ok) == 0, "a plain input failed: status %d", ok);
    int st = replay_one(aborts, path);
    CHECKF(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "a crashing target passed: status %d", st);
}

/* Findings of the campaigns, each checked on its own as well (the replay
 * above runs them, but gcc's UBSan does not check float-to-int casts). */
TEST(fuzz_finding_stored_option_out_of_range_refused) {
    const char *bad[] = {"{\"epochs\": 1e300}", "{\"batch_size\": -1e30}", "{\"steps\": 1e20}", "{\"accum\": 2.5}"};
    for (int i = 0; i < 4; i++) {
        clipc_train_opts o;
        clipc_train_opts_default(&o);
        cJSON *keep = NULL;
        clipc_status s = train_opts_from_json(bad[i], "run/config.json", &o, &keep);
        CHECKF(s == CLIPC_ERR_FORMAT && !keep && strstr(clipc_last_error(), "run/config.json: stored option") &&
                   strstr(clipc_last_error(), "is not an integer in range"),
               "%s: status %d, %s", bad[i], s, clipc_last_error());
        cJSON_Delete(keep);
    }
    clipc_train_opts o;
    clipc_train_opts_default(&o);
    cJSON *keep = NULL;
    REQUIRE_OK(train_opts_from_json("{\"epochs\": 7, \"total_steps_hint\": 1e300}", "x", &o, &keep));
    CHECK(o.epochs == 7);
    cJSON_Delete(keep);
}

/* fuzz_vecfile: with n * dim odd the id map sat 4 bytes off an 8-byte
 * boundary, so reading an id was a misaligned int64 load.  Written files
 * now pad it to a multiple of 8; the old layout is refused (the index then
 * rebuilds the file from its database). */
TEST(fuzz_finding_vecfile_ids_aligned) {
    char p[600];
    snprintf(p, sizeof p, "%s/v.vec", test_tmpdir());
    const float data[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const int64_t ids[3] = {11, 22, 33};
    REQUIRE_OK(vecfile_write(p, data, ids, 3, 3, 5));
    vecfile v;
    REQUIRE_OK(vecfile_open(p, &v));
    CHECK((uintptr_t)v.ids % 8 == 0);
    CHECK(v.n == 3 && v.dim == 3 && v.generation == 5);
    CHECK(!memcmp(v.data, data, sizeof data) && v.ids[0] == 11 && v.ids[1] == 22 && v.ids[2] == 33);
    size_t len = v.map_len;
    vecfile_close(&v);
    CHECK(len == 128 + 36 + 4 + 24); /* version 2: a 128-byte header with its commit records */
    /* the appendable layout's seed: 3 rows of room for 5, the newer of two commit records */
    REQUIRE_OK(vecfile_open("tests/fuzz/corpus_vecfile/valid_v2_3of5x3", &v));
    CHECK(v.version == 2 && v.n == 3 && v.capacity == 5 && v.generation == 7 && v.ids[2] == 33 && v.data[4] == 1.0f);
    vecfile_close(&v);
    clipc_status s = vecfile_open("tests/fuzz/corpus_vecfile/crash-misaligned-ids", &v);
    CHECKF(s == CLIPC_ERR_FORMAT && strstr(clipc_last_error(), "crash-misaligned-ids: not a clipc vector file or truncated"),
           "the old layout: status %d, %s", s, clipc_last_error());
}

/* fuzz_checkpoint: a `last` pointer "ckpt--2" read as step -2 (and
 * "ckpt-5x" as 5); only "ckpt-<digits>" names a checkpoint. */
TEST(fuzz_finding_pointer_names_only_ckpt_digits) {
    const char *dir = test_tmpdir();
    const char *names[] = {"ckpt--2\n", "ckpt-5x\n", "ckpt-\n", "ckpt- 3\n", "ckpt-99999999999999999999\n", "ckpt-12\n",
                           "ckpt-0"};
    const long long want[] = {-1, -1, -1, -1, -1, 12, 0};
    char p[600];
    snprintf(p, sizeof p, "%s/last", dir);
    for (int i = 0; i < 7; i++) {
        REQUIRE_OK(clipc_write_file_atomic(p, names[i], strlen(names[i])));
        long long got = (long long)ckpt_pointer_step(dir, "last");
        CHECKF(got == want[i], "pointer '%s': step %lld, expected %lld", names[i], got, want[i]);
    }
}

/* The vec8 seeds are what their names say: the valid ones open with their
 * sizes (so the fuzzer starts from files that reach the scan), the damaged
 * ones are refused with the format message. */
TEST(fuzz_vec8_seeds_open_or_are_refused) {
    const struct {
        const char *name;
        int dim;
        int64_t n;
    } ok[] = {{"valid_3x4", 4, 3}, {"valid_1x1", 1, 1}, {"valid_2x65", 65, 2}, {"valid_v2_2of4x2", 2, 2}};
    for (int i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof p, "tests/fuzz/corpus_vec8/%s", ok[i].name);
        vec8file c;
        REQUIRE_OK(vec8_open(p, &c));
        CHECKF(c.dim == ok[i].dim && c.n == ok[i].n && c.stride == (ok[i].dim > 64 ? 128 : 64), "%s: %d x %lld",
               p, c.dim, (long long)c.n);
        vec8_close(&c);
    }
    const char *bad[] = {"truncated", "bad_stride", "bad_scales_offset"};
    for (int i = 0; i < 3; i++) {
        char p[256], want[400];
        snprintf(p, sizeof p, "tests/fuzz/corpus_vec8/%s", bad[i]);
        snprintf(want, sizeof want, "%s: not a clipc int8 vector copy or truncated", p);
        vec8file c;
        CHECK(vec8_open(p, &c) == CLIPC_ERR_FORMAT);
        CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    }
}

/* The ann seeds are what their names say (tools/make_ann_seeds.c): the two
 * built ones open through FAISS with their sizes, each damaged copy is
 * refused by clipc's own checks for its reason, and the empty payload
 * passes them and is refused by FAISS's reader.  And the fuzz campaign's
 * finding (crash-kind-padding-junk) is refused by both readers. */
TEST(fuzz_ann_seeds_open_or_are_refused) {
    const struct {
        const char *name, *kind;
        int dim;
        int64_t n;
    } ok[] = {{"hnsw_64x4", "hnsw", 4, 64}, {"ivfpq_1000x8", "ivf,pq", 8, 1000}};
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof p, "tests/fuzz/corpus_ann/%s", ok[i].name);
        ann_index *a = NULL;
        REQUIRE_OK(ann_open(p, &a));
        CHECKF(ann_dim(a) == ok[i].dim && ann_rows(a) == ok[i].n && !strcmp(ann_kind(a), ok[i].kind) &&
                   ann_generation(a) == 7,
               "%s: %d x %lld %s", p, ann_dim(a), (long long)ann_rows(a), ann_kind(a));
        ann_free(a);
    }
    const struct {
        const char *name, *why;
    } bad[] = {{"truncated", "not a clipc ANN index or truncated (length mismatch)"},
               {"bad_length", "not a clipc ANN index or truncated (length mismatch)"},
               {"bad_version", "not a clipc ANN index or truncated (bad header)"},
               {"bad_kind", "not a clipc ANN index or truncated (bad header)"},
               {"bad_hash", "damaged ANN index (checksum mismatch); rebuild it with clipc index --ann KIND"},
               /* the campaign's finding: "ivf,pq" then junk before byte 48, its hash right;
                * the full check took it, ann_peek_kind (search's) did not */
               {"crash-kind-padding-junk", "not a clipc ANN index or truncated (bad header)"}};
    for (int i = 0; i < 6; i++) {
        char p[256], want[512];
        snprintf(p, sizeof p, "tests/fuzz/corpus_ann/%s", bad[i].name);
        snprintf(want, sizeof want, "%s: %s", p, bad[i].why);
        ann_index *a = NULL;
        CHECK(ann_open(p, &a) == CLIPC_ERR_FORMAT && !a);
        CHECKF(!strcmp(clipc_last_error(), want), "%s", clipc_last_error());
    }
    char peek[16];
    CHECK(!ann_peek_kind("tests/fuzz/corpus_ann/crash-kind-padding-junk", peek));
    const char *p = "tests/fuzz/corpus_ann/empty_payload";
    int dim;
    int64_t n;
    char kind[17];
    REQUIRE_OK(ann_check_file(p, &dim, &n, kind));
    CHECK(dim == 4 && n == 64 && !strcmp(kind, "hnsw"));
    ann_index *a = NULL;
    const char *want = "tests/fuzz/corpus_ann/empty_payload: FAISS could not read the index: ";
    CHECK(ann_open(p, &a) == CLIPC_ERR_FORMAT && !a);
    CHECKF(!strncmp(clipc_last_error(), want, strlen(want)), "%s", clipc_last_error());
}

/* image_heif stopped on slow inputs: a 941-byte AVIF spent 6.5 s inside
 * libheif.  The decoders allocate and decode the size the coded stream
 * says, not the `ispe` size clipc checked; and a grid is decoded tile by
 * tile.  Three inputs of the kinds found (each took 9-13 s and 1-3.5 GB
 * before the fix, on a quiet core), now refused before anything is decoded
 * (src/image/heif_probe.c); the real files still decode. */
TEST(fuzz_finding_heif_cost_bounded_before_decoding) {
    const struct {
        const char *name, *why;
        clipc_status status;
    } slow[] = {
        {"slow-av1-codes-more-than-declared",
         "corrupt HEIF/AVIF file: its AV1 stream codes 16384 x 16384 pixels where the image declares 17 x 11 (refused "
         "before decoding)",
         CLIPC_ERR_FORMAT},
        {"slow-hevc-codes-more-than-declared",
         "corrupt HEIF/AVIF file: its HEVC stream codes 16384 x 16384 pixels where the image declares 64 x 64 "
         "(refused before decoding)",
         CLIPC_ERR_FORMAT},
        {"slow-grid-of-nine-8192px-tiles",
         "HEIF/AVIF image too costly to decode (its coded images come to 603979776 pixels; limit: 2^29, twice the "
         "2^28 of an image, for an image and its alpha plane)",
         CLIPC_ERR_RANGE},
        /* found by the ten-minute campaign after the first fix: the grid's
         * dimg box claims 1.8 GB (libheif does not use a reference's size;
         * a box walker skipped it and saw no tiles), 9.6 s and 1.2 GB; and
         * a mutation of the grid above that took libFuzzer's 10 s */
        {"slow-grid-iref-box-size-ignored",
         "corrupt HEIF/AVIF file: its HEVC stream codes 16384 x 16384 pixels where the image declares 64 x 64 "
         "(refused before decoding)",
         CLIPC_ERR_FORMAT},
        {"slow-grid-nine-tiles-mutated",
         "HEIF/AVIF image too costly to decode (its coded images come to 603979776 pixels; limit: 2^29, twice the "
         "2^28 of an image, for an image and its alpha plane)",
         CLIPC_ERR_RANGE},
        /* the next: its tile's ispe renamed, libheif decoded the 16384-pixel stream (10 s, 1.2 GB) */
        {"slow-tile-without-ispe", "corrupt HEIF/AVIF file: image 1 declares no size (no ispe)", CLIPC_ERR_FORMAT},
    };
    for (int i = 0; i < 6; i++) {
        char p[256], want[512];
        snprintf(p, sizeof p, "tests/fuzz/corpus_image_heif/%s", slow[i].name);
        char *buf;
        size_t len;
        REQUIRE_OK(clipc_read_file(p, &buf, &len));
        clipc_image img;
        memset(&img, 0, sizeof img);
        clipc_status s = decode_heif(buf, len, p, &img);
        snprintf(want, sizeof want, "%s: %s", p, slow[i].why);
        CHECKF(s == slow[i].status && !img.data && !strcmp(clipc_last_error(), want), "%s: status %d, %s", p, s,
               clipc_last_error());
        free(buf);
    }
    /* the real files (one a grid of one 64 x 64 tile, one with an alpha plane) */
    const char *good[] = {"heic_rgb.heic", "avif_rgb.avif", "avif_rgba.avif"};
    for (int i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "tests/data/imgfmt/%s", good[i]);
        char *buf;
        size_t len;
        REQUIRE_OK(clipc_read_file(p, &buf, &len));
        clipc_image img;
        memset(&img, 0, sizeof img);
        clipc_status s = decode_heif(buf, len, p, &img);
        CHECKF(s == CLIPC_OK && img.width == 17 && img.height == 11 && img.channels == (i == 2 ? 4 : 3), "%s: %s", p,
               s ? clipc_last_error() : "wrong size");
        clipc_image_free(&img);
        free(buf);
    }
}

/* image_gif stopped on libFuzzer's 10 s timeout: a 462-byte GIF whose first
 * frame is 65535 x 2815 pixels (within the size limits) allocated its
 * 186 MB canvas before failing as truncated (0.4 s in a release build,
 * over 10 s under ASan on a loaded core).  The bytes left after the frame's
 * descriptor can code at most 8 / 3 * 4096 pixels each: refused at once,
 * with the message a truncated file gets.  Then a canvas the header alone
 * paid for, refused beyond 2^24 pixels and 64 times the frame.  The real
 * GIFs still decode. */
TEST(fuzz_finding_gif_frame_larger_than_its_data_refused) {
    const struct {
        const char *name, *why;
        clipc_status status;
    } slow[] = {
        {"slow-frame-larger-than-its-data", "truncated GIF file", CLIPC_ERR_FORMAT},
        /* the next one: a 17 x 54027 frame on a 4407-wide screen (622 bytes, a 238 Mpx canvas) */
        {"slow-canvas-far-larger-than-frame",
         "GIF canvas of 4407 x 54027 pixels around a first frame of 17 x 54027 (limit: over 2^24 pixels, at most 64 "
         "times the frame)",
         CLIPC_ERR_RANGE},
    };
    char *buf;
    size_t len;
    clipc_image img;
    clipc_status s;
    for (int i = 0; i < 2; i++) {
        char p[256], want[512];
        snprintf(p, sizeof p, "tests/fuzz/corpus_image_gif/%s", slow[i].name);
        REQUIRE_OK(clipc_read_file(p, &buf, &len));
        memset(&img, 0, sizeof img);
        s = decode_gif(buf, len, p, &img);
        snprintf(want, sizeof want, "%s: %s", p, slow[i].why);
        CHECKF(s == slow[i].status && !img.data && !strcmp(clipc_last_error(), want), "status %d, %s", s,
               clipc_last_error());
        free(buf);
    }
    const char *good[] = {"gif_anim.gif", "gif_l.gif", "gif_noninterlaced.gif", "gif_p.gif", "gif_p_trns.gif"};
    for (int i = 0; i < 5; i++) {
        char q[256];
        snprintf(q, sizeof q, "tests/data/imgfmt/%s", good[i]);
        REQUIRE_OK(clipc_read_file(q, &buf, &len));
        memset(&img, 0, sizeof img);
        s = decode_gif(buf, len, q, &img);
        CHECKF(s == CLIPC_OK && img.width > 0 && img.data, "%s: %s", q, s ? clipc_last_error() : "no pixels");
        clipc_image_free(&img);
        free(buf);
    }
}
