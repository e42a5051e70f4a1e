/*
 * test_python.c — runs the Python package's tests (python/tests/test_clipc.py)
 * from the C suite, so they count in its "N passed" line and run in the
 * sanitizer build too, and checks that `pip install ./python` works offline
 * in a virtual environment.
 *
 * The package is ctypes over libclipc.so: the tests use the libclipc.so and
 * the clipc program next to this test binary (CLIPC_LIBRARY, CLIPC_EXE), so
 * the sanitizer build's tests exercise the sanitized library.  A sanitized
 * shared library inside an uninstrumented python3 needs the ASan runtime
 * loaded first: LD_PRELOAD of the libasan.so this binary itself runs with
 * (found in /proc/self/maps), and detect_leaks=0 because the interpreter
 * keeps its own allocations until exit (the library's leaks are covered by
 * the C tests of the same functions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "harness.h"

#define PYTHON "/usr/bin/python3"

/* The folder of the clipc program (and libclipc.so) under test. */
static const char *bin_dir(void) {
    static char d[1100];
    snprintf(d, sizeof d, "%s", clipc_exe());
    char *slash = strrchr(d, '/');
    if (slash) *slash = 0;
    return d;
}

/* Skips when Debian's python3 or python3-numpy is missing. */
static void require_python(void) {
    if (access(PYTHON, X_OK)) SKIP(PYTHON " is not installed (Debian's python3)");
    char *out = NULL;
    int rc = run_capture(PYTHON " -c 'import numpy' 2>&1", &out);
    free(out);
    if (rc) SKIP("python3-numpy is not installed");
}

/* "LD_PRELOAD=... ASAN_OPTIONS=..." for a sanitized build, "" otherwise. */
static const char *sanitizer_env(void) {
    static char env[1400];
    env[0] = 0;
#ifdef CLIPC_SANITIZED
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1400];
    while (f && fgets(line, sizeof line, f)) {
        char *p = strchr(line, '/');
        if (!p || !strstr(p, "/libasan.so")) continue;
        p[strcspn(p, "\n")] = 0;
        snprintf(env, sizeof env, "LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 ", p);
        break;
    }
    if (f) fclose(f);
    if (!env[0]) harness_fail(__FILE__, __LINE__, "sanitized build, but no libasan.so in /proc/self/maps");
#endif
    return env;
}

/* The number after "Ran " in unittest's summary, or -1. */
static int tests_ran(const char *out) {
    const char *p = strstr(out, "\nRan ");
    return p ? atoi(p + 5) : -1;
}

TEST(python_package_equals_cli) {
    require_python();
    char lib[1200], cmd[4096], *out = NULL;
    snprintf(lib, sizeof lib, "%s/libclipc.so", bin_dir());
    REQUIREF(!access(lib, R_OK), "%s is missing (`make` builds it with the programs)", lib);
    snprintf(cmd, sizeof cmd, "%sCLIPC_LIBRARY='%s' CLIPC_EXE='%s' " PYTHON " python/tests/test_clipc.py 2>&1",
             sanitizer_env(), lib, clipc_exe());
    int rc = run_capture(cmd, &out);
    int ran = tests_ran(out);
    size_t len = strlen(out);
    /* unittest's summary: "Ran N tests in Xs" then "OK" (or "FAILED (...)");
     * the test of the OpenAI reference models skips without ../shared (and
     * fails instead under CLIPC_REQUIRE_SHARED=1, which python inherits). */
    const char *ok = shared_path("reference/openai_clip") ? "OK\n" : "OK (skipped=1)\n";
    CHECKF(rc == 0 && ran == 11 && len >= strlen(ok) && !strcmp(out + len - strlen(ok), ok),
           "python tests: exit %d, %d tests run (expected 11, ending \"%s\"), output:\n%s", rc, ran, ok, out);
    free(out);
}

/* Every Python entry point on the tutorial's model (python/tests/test_tutorial.py):
 * its WordPiece for texts, its image transform for images, against the CLI. */
TEST(python_package_on_a_tutorial_model) {
    require_python();
    clipc_config c;
    REQUIRE_OK(clipc_config_named("tutorial-tiny", &c));
    clipc_tutorial_init ti = {NULL, NULL, "tests/data/wordpiece/vocab.txt", CLIPC_HEAD_LINEAR};
    clipc_model *m = NULL;
    REQUIRE_OK(clipc_model_create_tutorial(&c, 21, &ti, &m));
    char model[1100], lib[1200], cmd[4096], *out = NULL;
    snprintf(model, sizeof model, "%s/tutorial.safetensors", test_tmpdir());
    REQUIRE_OK(clipc_model_save(m, model));
    clipc_model_free(m);
    snprintf(lib, sizeof lib, "%s/libclipc.so", bin_dir());
    snprintf(cmd, sizeof cmd,
             "%sCLIPC_TUTORIAL_MODEL='%s' CLIPC_LIBRARY='%s' CLIPC_EXE='%s' " PYTHON " python/tests/test_tutorial.py 2>&1",
             sanitizer_env(), model, lib, clipc_exe());
    int rc = run_capture(cmd, &out);
    size_t len = strlen(out);
    CHECKF(rc == 0 && tests_ran(out) == 4 && len >= 3 && !strcmp(out + len - 3, "OK\n"),
           "python tutorial tests: exit %d, %d tests run (expected 4), output:\n%s", rc, tests_ran(out), out);
    free(out);
}

TEST(python_package_installs_offline_with_pip) {
    require_python();
    if (access("/usr/lib/python3/dist-packages/setuptools", F_OK) || system(PYTHON " -c 'import venv, ensurepip' 2>/dev/null"))
        SKIP("python3-setuptools or python3-venv is not installed");
    const char *tmp = test_tmpdir();
    char lib[1200], cmd[8192], *out = NULL;
    snprintf(lib, sizeof lib, "%s/libclipc.so", bin_dir());
    REQUIREF(!access(lib, R_OK), "%s is missing (`make` builds it with the programs)", lib);
    /* A copy of python/, so the in-place build leaves the checkout clean;
     * CLIPC_BUNDLE_LIBRARY names the library a checkout build would find in
     * its own build folder. */
    snprintf(cmd, sizeof cmd,
             "cp -r python '%s/src' && rm -rf '%s/src/build' '%s/src/clipc.egg-info' '%s/src/clipc/libclipc.so' && "
             PYTHON " -m venv --system-site-packages '%s/venv' && "
             "CLIPC_BUNDLE_LIBRARY='%s' '%s/venv/bin/pip' install -q --no-build-isolation --no-index '%s/src' 2>&1",
             tmp, tmp, tmp, tmp, tmp, lib, tmp, tmp);
    int rc = run_capture(cmd, &out);
    REQUIREF(rc == 0, "pip install failed (exit %d):\n%s", rc, out);
    free(out);
    /* The installed package, run from elsewhere with no CLIPC_LIBRARY, uses
     * its bundled copy of the library... */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u CLIPC_LIBRARY %s'%s/venv/bin/python' -c "
             "'import clipc; print(clipc.library_path); print(clipc.tokenize(\"a cat\")[0, :4].tolist())' 2>&1",
             tmp, sanitizer_env(), tmp);
    rc = run_capture(cmd, &out);
    char want[2400];
    snprintf(want, sizeof want, "%s/venv/lib/python3.", tmp);
    CHECKF(rc == 0 && !strncmp(out, want, strlen(want)) && strstr(out, "/site-packages/clipc/libclipc.so\n") &&
               strstr(out, "\n[49406, 320, 2368, 49407]\n"),
           "installed package: exit %d, output:\n%s", rc, out);
    free(out);
    /* ...and passes a test of the suite against the CLI. */
    snprintf(cmd, sizeof cmd,
             "env -u CLIPC_LIBRARY %sCLIPC_INSTALLED=1 CLIPC_EXE='%s' '%s/venv/bin/python' python/tests/test_clipc.py "
             "ClipcTest.test_text_embeddings_equal_cli_bit_for_bit 2>&1",
             sanitizer_env(), clipc_exe(), tmp);
    rc = run_capture(cmd, &out);
    CHECKF(rc == 0 && tests_ran(out) == 1, "installed package's test: exit %d, output:\n%s", rc, out);
    free(out);
}
