/*
 * harness.c — runs the registered tests.  Usage:
 *   clipc_tests [--slow] [--list] [NAME-SUBSTRING...]
 * Without arguments runs the default (non-slow) tests.  With substrings, runs
 * the tests whose name or file contains one of them, slow ones included.
 * Ends with "N passed, N failed, N skipped" and exits 1 if any failed.
 *
 * The folder of this binary goes first on PATH (see clipc_exe() in harness.h),
 * so the tests of a sanitizer build run the sanitized CLI.
 *
 * So that CI cannot quietly check less than it seems:
 *   CLIPC_TEST_TIMEOUT=S   a test running longer than S seconds (default 900)
 *                          fails the run, which ends there;
 *   CLIPC_STRICT_SKIPS=1   a skip that is not in expected_skips (below) fails;
 *   CLIPC_REQUIRE_SHARED=1 ../shared must be there (implies strict skips).
 */
#include "harness.h"
#include "clipc.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *name, *file;
    test_fn fn;
    int slow;
} test_case;

static test_case tests[1024];
static int n_tests;
static jmp_buf test_jmp;
static int cur_failed, cur_skipped;
static char skip_reason[512];
static char tmpdir[256];
static const char *cur_name;
static int n_passed, n_failed, n_skipped;

void harness_register(const char *name, const char *file, test_fn fn, int slow) {
    if (n_tests < (int)(sizeof tests / sizeof tests[0]))
        tests[n_tests++] = (test_case){name, file, fn, slow};
}

void harness_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "    %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    cur_failed++;
}

void harness_abort_test(void) { longjmp(test_jmp, 1); }

int harness_failures_in_test(void) { return cur_failed; }
void harness_forgive_failures(int n) { cur_failed = n; }

void harness_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
    cur_skipped = 1;
    longjmp(test_jmp, 1);
}

const char *shared_path(const char *rel) {
    static char bufs[8][1024];
    static int slot;
    const char *root = getenv("CLIPC_SHARED");
    if (!root || !*root) root = "../shared";
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    char *b = bufs[slot++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

int run_capture(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    if (!p) {
        harness_fail(__FILE__, __LINE__, "popen(%s) failed", cmd);
        harness_abort_test();
    }
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int st = pclose(p);
    if (!buf) {
        harness_fail(__FILE__, __LINE__, "out of memory capturing %s", cmd);
        harness_abort_test();
    }
    buf[n] = 0;
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/clipc-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

static void remove_tmpdir(void) {
    if (!tmpdir[0]) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    tmpdir[0] = 0;
}

/* ---- the CLI next to this binary */

static char exe_dir[1024];

static void find_exe_dir(void) {
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        exit(2);
    }
    exe_dir[n] = 0;
    char *sl = strrchr(exe_dir, '/');
    if (sl) *sl = 0;
    /* PATH: this folder first, so "clipc" in a test's command is ours */
    const char *path = getenv("PATH");
    size_t len = strlen(exe_dir) + (path ? strlen(path) : 0) + 2;
    char *np = malloc(len);
    if (!np) exit(2);
    snprintf(np, len, "%s%s%s", exe_dir, path && *path ? ":" : "", path ? path : "");
    setenv("PATH", np, 1);
    free(np);
}

const char *clipc_exe(void) {
    static char p[1100];
    snprintf(p, sizeof p, "%s/clipc", exe_dir);
    return p;
}

const char *clipc_testhooks_exe(void) {
    static char p[1100];
    snprintf(p, sizeof p, "%s/clipc-testhooks", exe_dir);
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- a hung test fails the run instead of stalling it */

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}

static void put_int(int v) {
    char b[16];
    int i = (int)sizeof b;
    b[--i] = 0;
    do b[--i] = (char)('0' + v % 10), v /= 10; while (v > 0 && i > 0);
    put(b + i);
}

/* SIGALRM: the running test took longer than CLIPC_TEST_TIMEOUT seconds.
 * Only async-signal-safe calls: write and _exit. */
static void on_timeout(int sig) {
    (void)sig;
    put("FAIL ");
    put(cur_name ? cur_name : "?");
    put(": timed out (CLIPC_TEST_TIMEOUT)\n");
    put_int(n_passed), put(" passed, "), put_int(n_failed + 1), put(" failed, "), put_int(n_skipped),
        put(" skipped\n");
    _exit(1);
}

/* ---- skips that are expected; with CLIPC_STRICT_SKIPS=1 any other fails */

static const struct {
    const char *name_part, *reason_part;
} expected_skips[] = {
    {"bf16", "AVX512_BF16"},                   /* CPUs without native bf16 */
    /* No entry for chromium: CI installs it (tools/install-deps.sh), so the
     * browser tests (test_serve_browser.c, the gallery's) may not skip there. */
    {"inputs_", "no unprivileged user"},       /* permission tests where nobody cannot reach /tmp */
};

static int skip_expected(const char *name, const char *reason) {
    for (size_t i = 0; i < sizeof expected_skips / sizeof expected_skips[0]; i++)
        if (strstr(name, expected_skips[i].name_part) && strstr(reason, expected_skips[i].reason_part)) return 1;
    return 0;
}

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "1");
}

/* Runs one test; kept out of main() so no local of main lives across longjmp. */
static void run_one(test_case *t) {
    cur_failed = 0;
    cur_skipped = 0;
    if (setjmp(test_jmp) == 0) t->fn();
    remove_tmpdir();
}

static int cmp_test(const void *a, const void *b) {
    const test_case *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    /* The CLI starts over with OPENBLAS_CORETYPE set when OpenBLAS chose
     * kernels below the CPU (clipc_blas_core_override); so does the runner,
     * so that the library in this process and the CLIs it runs compute with
     * the same kernels. */
    const char *core = clipc_blas_core_override();
    if (core && !setenv("OPENBLAS_CORETYPE", core, 1)) execv("/proc/self/exe", argv);
    int slow = 0, list = 0, n_filters = 0;
    const char *filters[64];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--slow")) slow = 1;
        else if (!strcmp(argv[i], "--list")) list = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clipc_tests [--slow] [--list] [NAME-SUBSTRING...]\n"
                   "Runs the default tests; --slow adds the long ones; substrings select\n"
                   "tests by name or file (slow ones included).\n");
            return 0;
        } else if (n_filters < 64) filters[n_filters++] = argv[i];
    }
    qsort(tests, n_tests, sizeof tests[0], cmp_test);
    find_exe_dir();
    setvbuf(stdout, NULL, _IOLBF, 0);
    int require_shared = env_flag("CLIPC_REQUIRE_SHARED"), strict = require_shared || env_flag("CLIPC_STRICT_SKIPS");
    const char *to = getenv("CLIPC_TEST_TIMEOUT");
    int timeout = to && atoi(to) > 0 ? atoi(to) : 900;
    signal(SIGALRM, on_timeout);
    if (!shared_path("")) {
        if (require_shared && !list) {
            printf("FAIL ../shared (reference goldens) not found and CLIPC_REQUIRE_SHARED=1\n");
            printf("0 passed, 1 failed, 0 skipped\n");
            return 1;
        }
        printf("note: ../shared (reference goldens) not found: tests that need it are skipped\n");
    }
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        test_case *t = &tests[i];
        int selected = n_filters == 0 ? (!t->slow || slow) : 0;
        for (int f = 0; f < n_filters; f++)
            if (strstr(t->name, filters[f]) || strstr(t->file, filters[f])) selected = 1;
        if (!selected) continue;
        if (list) {
            printf("%s%s (%s)\n", t->name, t->slow ? " [slow]" : "", t->file);
            continue;
        }
        double t0 = now();
        printf("RUN  %s\n", t->name);
        cur_name = t->name;
        n_passed = passed, n_failed = failed, n_skipped = skipped;
        alarm((unsigned)timeout);
        run_one(t);
        alarm(0);
        double dt = now() - t0;
        if (cur_skipped && !cur_failed && strict && !skip_expected(t->name, skip_reason)) {
            printf("FAIL %s: skipped (%s), and this skip is not in the expected list (CLIPC_STRICT_SKIPS=1)\n",
                   t->name, skip_reason);
            failed++;
        } else if (cur_skipped && !cur_failed) {
            printf("SKIP %s: %s\n", t->name, skip_reason);
            skipped++;
        } else if (cur_failed) {
            printf("FAIL %s (%.2fs)\n", t->name, dt);
            failed++;
        } else {
            printf("PASS %s (%.2fs)\n", t->name, dt);
            passed++;
        }
    }
    if (!list) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

int test_dir_has_temp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) found = 1;
    closedir(d);
    return found;
}

int test_has_line(const char *out, const char *line, const char *tail) {
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) + 1 : strlen(l), ll = strlen(line), lt = tail ? strlen(tail) : 0;
        if (!tail && n == ll && !memcmp(l, line, n)) return 1;
        if (tail && n >= ll + lt && !memcmp(l, line, ll) && !memcmp(l + n - lt, tail, lt)) return 1;
    }
    return 0;
}
