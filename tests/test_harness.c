/*
 * test_harness.c — the harness's own guards, so that CI cannot quietly check
 * less than it seems: a hung test fails the run (CLIPC_TEST_TIMEOUT), a skip
 * outside the expected list fails under CLIPC_STRICT_SKIPS=1, and a
 * sanitizer build really is sanitized, the CLI the tests run included (the
 * canary).  Each guard is exercised
 * on this binary itself, in a child process.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int selftest(void) {
    const char *v = getenv("CLIPC_HARNESS_SELFTEST");
    return v && !strcmp(v, "1");
}

/* Run only by harness_guards_fail_what_they_must, in a child. */
TEST_SLOW(harness_selftest_hang) {
    if (selftest()) sleep(30);
}
TEST_SLOW(harness_selftest_unexpected_skip) {
    if (selftest()) SKIP("a reason nobody expects");
}

TEST(harness_guards_fail_what_they_must) {
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "CLIPC_HARNESS_SELFTEST=1 CLIPC_TEST_TIMEOUT=1 /proc/%d/exe harness_selftest_hang 2>&1", (int)getpid());
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && out && strstr(out, "FAIL harness_selftest_hang: timed out") &&
               strstr(out, "0 passed, 1 failed, 0 skipped"),
           "timeout: rc %d, output:\n%s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd,
             "CLIPC_HARNESS_SELFTEST=1 CLIPC_STRICT_SKIPS=1 /proc/%d/exe harness_selftest_unexpected_skip 2>&1",
             (int)getpid());
    rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && out && strstr(out, "not in the expected list") && strstr(out, "0 passed, 1 failed, 0 skipped"),
           "strict skips: rc %d, output:\n%s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "CLIPC_HARNESS_SELFTEST=1 CLIPC_STRICT_SKIPS=0 CLIPC_REQUIRE_SHARED=0 /proc/%d/exe "
             "harness_selftest_unexpected_skip 2>&1",
             (int)getpid());
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && out && strstr(out, "0 passed, 0 failed, 1 skipped"), "plain skip: rc %d, output:\n%s", rc,
           out ? out : "");
    free(out);
}

/* `make asan` defines CLIPC_SANITIZED.  There, AddressSanitizer must be
 * compiled in and UndefinedBehaviorSanitizer must stop a signed overflow;
 * in a plain build neither is on.  A CFLAGS from the environment cannot
 * switch them off unnoticed. */
static volatile int big = INT_MAX;

TEST(sanitizer_canary) {
#if defined(__SANITIZE_ADDRESS__)
    int asan = 1;
#else
    int asan = 0;
#endif
#ifdef CLIPC_SANITIZED
    CHECKF(asan, "a sanitizer build (CLIPC_SANITIZED) without AddressSanitizer");
#else
    CHECKF(!asan, "AddressSanitizer is on in a build that does not say so");
#endif
#ifdef CLIPC_SANITIZED
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int r = big + (int)(getpid() > 0); /* signed overflow: UBSan stops here */
        _exit(r == INT_MIN ? 0 : 3);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECKF(!(WIFEXITED(st) && WEXITSTATUS(st) == 0),
           "UndefinedBehaviorSanitizer did not stop a signed overflow (status %d)", st);
#endif
    /* The CLI the tests run is the one next to this binary (PATH), and in a
     * sanitizer build it is sanitized too: a leak at exit fails it. */
    char *out = NULL;
    int rc = run_capture("command -v clipc", &out);
    CHECKF(rc == 0 && out && !strncmp(out, clipc_exe(), strlen(clipc_exe())) && out[strlen(clipc_exe())] == '\n',
           "\"clipc\" on PATH is %s, not %s", out ? out : "(none)", clipc_exe());
    free(out);
    rc = run_capture("CLIPC_TEST_LEAK=1 clipc-testhooks train --help 2>&1", &out);
#ifdef CLIPC_SANITIZED
    CHECKF(rc != 0 && out && strstr(out, "LeakSanitizer: detected memory leaks"),
           "a leak in the CLI went unnoticed: rc %d, output:\n%s", rc, out ? out : "");
    free(out);
    /* the hook is in the test CLI only: the shipped one has no leak to find */
    rc = run_capture("CLIPC_TEST_LEAK=1 clipc train --help 2>&1", &out);
    CHECKF(rc == 0 && out && !strstr(out, "LeakSanitizer"), "shipped CLI: rc %d, output:\n%s", rc, out ? out : "");
#else
    CHECKF(rc == 0 && out && strstr(out, "usage: clipc train"), "plain CLI: rc %d, output:\n%s", rc,
           out ? out : "");
#endif
    free(out);
}
