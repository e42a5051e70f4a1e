/*
 * fuzz_util.h — what the fuzz targets share (header only: each target is
 * also compiled into the test binary, where `fuzz_corpus_replays_clean`
 * replays the committed corpora through the same functions).
 *
 * A target is a function `int fuzz_<name>(const uint8_t *data, size_t size)`
 * that returns 0 and abort()s when an invariant breaks; FUZZ_ENTRY(name)
 * makes it libFuzzer's entry point, except in the test binary (compiled
 * with -DCLIPC_FUZZ_REPLAY), which holds every target at once.
 *
 * Readers that only take a path get the bytes through a file in a private
 * temporary folder (fuzz_file), removed at exit.
 */
#ifndef CLIPC_FUZZ_UTIL_H
#define CLIPC_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CLIPC_FUZZ_REPLAY
#define FUZZ_ENTRY(name)
#else
#define FUZZ_ENTRY(name)                                                   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_##name(data, size); }
#endif

/* A fuzz target breaks an invariant: say which, then abort (the fuzzer
 * saves the input; the replay test reports the file). */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

static char fuzz_dir_[256];
static char fuzz_files_[8][320];
static int fuzz_n_files_;

static void fuzz_cleanup_(void) {
    for (int i = 0; i < fuzz_n_files_; i++) unlink(fuzz_files_[i]);
    if (fuzz_dir_[0]) rmdir(fuzz_dir_);
}

/* This process's temporary folder (made at the first call). */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/clipc-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_)) abort();
        atexit(fuzz_cleanup_);
    }
    return fuzz_dir_;
}

/* Writes data to fuzz_dir()/name and returns that path (static buffer). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
    static char p[320];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
    int known = 0;
    for (int i = 0; i < fuzz_n_files_; i++) known |= !strcmp(fuzz_files_[i], p);
    if (!known && fuzz_n_files_ < 8) snprintf(fuzz_files_[fuzz_n_files_++], sizeof fuzz_files_[0], "%s", p);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return p;
}

#endif
