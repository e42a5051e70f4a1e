/*
 * harness.h — the test harness: every tests/test_*.c registers its tests with
 * TEST(name) (default suite) or TEST_SLOW(name) (run only with --slow or when
 * named), and the test binary (clipc_tests) runs them and ends with the line
 * "N passed, N failed, N skipped".
 *
 * Checks record a failure and go on (CHECK*), or end the test (REQUIRE*).
 * Tests that need ../shared (the reference goldens) call shared_path() and
 * SKIP with a clear message when it is absent.
 */
#ifndef CLIPC_HARNESS_H
#define CLIPC_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void harness_register(const char *name, const char *file, test_fn fn, int slow);
void harness_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void harness_abort_test(void);
/* For tests of a checker: failures recorded so far in this test, and a way
 * to take back the ones a deliberate violation produced. */
int harness_failures_in_test(void);
void harness_forgive_failures(int n);
_Noreturn void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Path of `rel` inside the shared reference folder (../shared, or $CLIPC_SHARED),
 * or NULL when that folder is absent.  Static buffer, rotates over 8 slots. */
const char *shared_path(const char *rel);
/* Runs a shell command and returns its exit status (-1 if it did not exit);
 * *out receives its standard output (malloc'ed, NUL-terminated; add 2>&1
 * to the command for standard error too). */
int run_capture(const char *cmd, char **out);
/* A fresh empty temporary directory for this test (removed at the end). */
const char *test_tmpdir(void);
/* 1 when folder dir holds a name containing ".tmp" (a temporary file or
 * folder an atomic write left behind). */
int test_dir_has_temp(const char *dir);
/* 1 when out holds a whole line that is `line` (tail NULL), or one that
 * starts with `line` and ends with `tail` (a line with a random temporary
 * name in the middle); the line's '\n' belongs to its end. */
int test_has_line(const char *out, const char *line, const char *tail);

/* The CLI under test.  RULE: tests never name build/ (the string is refused
 * by layout_tests_run_the_cli_next_to_the_test_binary): the harness puts the
 * folder of the running test binary first on PATH, so a command line says
 * plain "clipc ..." or "clipc-testhooks ...", and build-asan/clipc_tests runs
 * the sanitized build-asan/clipc.  Where an absolute path is needed (after a
 * `cd`, or for exec), clipc_exe() and clipc_testhooks_exe() give the programs
 * next to the test binary (static strings). */
const char *clipc_exe(void);
const char *clipc_testhooks_exe(void);

#define TEST_(name, slow)                                                            \
    static void name(void);                                                          \
    __attribute__((constructor)) static void harness_reg_##name(void) {              \
        harness_register(#name, __FILE__, name, slow);                               \
    }                                                                                \
    static void name(void)
#define TEST(name) TEST_(name, 0)
#define TEST_SLOW(name) TEST_(name, 1)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) harness_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);    \
    } while (0)
#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) harness_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)
#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            harness_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);           \
            harness_abort_test();                                                    \
        }                                                                            \
    } while (0)
#define REQUIREF(cond, ...)                                                          \
    do {                                                                             \
        if (!(cond)) {                                                               \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                           \
            harness_abort_test();                                                    \
        }                                                                            \
    } while (0)
/* A library call that must return CLIPC_OK; prints clipc_last_error() if not. */
#define REQUIRE_OK(expr)                                                             \
    do {                                                                             \
        int rc_ = (int)(expr);                                                       \
        if (rc_ != 0) {                                                              \
            harness_fail(__FILE__, __LINE__, "%s returned %d: %s", #expr, rc_,       \
                         clipc_last_error());                                        \
            harness_abort_test();                                                    \
        }                                                                            \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double a_ = (double)(a), b_ = (double)(b);                                   \
        if (!(fabs(a_ - b_) <= (tol)))                                               \
            harness_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a,\
                         a_, b_, (double)(tol));                                     \
    } while (0)
#define SKIP(...) harness_skip(__VA_ARGS__)

#endif
