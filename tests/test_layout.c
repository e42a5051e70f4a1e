/*
 * test_layout.c — the source layout's rules, checked on the tree itself
 * (docs/architecture.md states them):
 *   - a file in src/<folder>/ includes only public headers (include/clipc*.h),
 *     headers of its own folder, and headers of folders on a lower level;
 *   - cli/ and examples/ include only public headers and their own;
 *   - no include climbs with "..";
 *   - no hand-written source file is over 800 lines, no function over 150.
 * The tests run from the repository root, so the tree is at ".".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

/* The levels of docs/architecture.md: lower never includes higher, and
 * folders on one level do not include each other. */
static const struct {
    const char *folder;
    int level;
} levels[] = {
    {"base", 0},
    {"formats", 1}, {"kernels", 1}, {"text", 1}, {"image", 1},
    {"nn", 2}, {"data", 2},
    {"model", 3},
    {"eval", 4}, {"index", 4},
    {"train", 5},
    {"bench", 6},
};
#define N_LEVELS (int)(sizeof levels / sizeof levels[0])

static int level_of(const char *folder, size_t n) {
    for (int i = 0; i < N_LEVELS; i++)
        if (strlen(levels[i].folder) == n && !strncmp(levels[i].folder, folder, n)) return levels[i].level;
    return -1;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Files a generator writes (their first lines say GENERATED) are exempt
 * from the size rules. */
static int is_generated(const char *text) {
    const char *g = strstr(text, "GENERATED");
    return g && g - text < 400;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Checks one file's quoted includes.  folder is its folder under src/, or
 * NULL for cli/ and examples/ (public headers and same-folder ones only). */
static void check_includes(const char *path, const char *dir, const char *folder, const char *text) {
    int own = folder ? level_of(folder, strlen(folder)) : -1;
    const char *p = text;
    int line = 1;
    for (; *p; p++) {
        if (*p == '\n') line++;
        if ((p == text || p[-1] == '\n') && !strncmp(p, "#include \"", 10)) {
            const char *name = p + 10, *end = strchr(name, '"');
            if (!end) continue;
            char inc[256];
            snprintf(inc, sizeof inc, "%.*s", (int)(end - name), name);
            char tmp[600];
            CHECKF(!strstr(inc, ".."), "%s:%d: #include \"%s\" climbs out of its folder", path, line, inc);
            const char *slash = strchr(inc, '/');
            if (!slash) {
                /* a public header or one beside the file */
                snprintf(tmp, sizeof tmp, "include/%s", inc);
                int pub = !strncmp(inc, "clipc", 5) && file_exists(tmp);
                snprintf(tmp, sizeof tmp, "%s/%s", dir, inc);
                CHECKF(pub || file_exists(tmp), "%s:%d: #include \"%s\" is neither public nor beside the file", path,
                       line, inc);
                continue;
            }
            CHECKF(folder != NULL, "%s:%d: #include \"%s\": only public headers (include/clipc*.h) outside src/",
                   path, line, inc);
            if (!folder) continue;
            int lv = level_of(inc, (size_t)(slash - inc));
            int same = strlen(folder) == (size_t)(slash - inc) && !strncmp(folder, inc, (size_t)(slash - inc));
            CHECKF(lv >= 0, "%s:%d: #include \"%s\": folder not in the layout", path, line, inc);
            CHECKF(same || lv < own, "%s:%d: #include \"%s\": level %d includes level %d (lower never includes higher)",
                   path, line, inc, own, lv);
            snprintf(tmp, sizeof tmp, "src/%s", inc);
            CHECKF(file_exists(tmp), "%s:%d: #include \"%s\" does not exist", path, line, inc);
        }
    }
}

/* Lines of each function: a definition starts at column 0 with a line that
 * has a '(' and ends with '{', and ends at the next line that is "}". */
static void check_sizes(const char *path, const char *text) {
    if (is_generated(text)) return;
    int lines = 0, fn_start = 0, line = 1;
    char fn_name[128] = "";
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (!fn_start && n > 1 && p[0] != ' ' && p[0] != '#' && p[0] != '/' && p[0] != '}' && p[n - 1] == '{' &&
            memchr(p, '(', n) && !memchr(p, '=', n)) {
            fn_start = line;
            snprintf(fn_name, sizeof fn_name, "%.*s", (int)(n < 100 ? n : 100), p);
        } else if (fn_start && n == 1 && p[0] == '}') {
            CHECKF(line - fn_start + 1 <= 150, "%s:%d: function of %d lines (over 150): %s", path, fn_start,
                   line - fn_start + 1, fn_name);
            fn_start = 0;
        }
        lines++;
        line++;
        p += n + (eol ? 1 : 0);
    }
    CHECKF(lines <= 800, "%s: %d lines (over 800)", path, lines);
}

/* Walks dir (one level of subfolders under src/), checking .c and .h files. */
static int walk(const char *dir, const char *folder, int depth) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth == 0 && !strcmp(dir, "src")) n += walk(path, e->d_name, 1);
            continue;
        }
        size_t len = strlen(e->d_name);
        if (len < 3 || (strcmp(e->d_name + len - 2, ".c") && strcmp(e->d_name + len - 2, ".h"))) continue;
        char *text = slurp(path);
        if (!text) continue;
        check_includes(path, dir, folder, text);
        check_sizes(path, text);
        free(text);
        n++;
    }
    closedir(d);
    return n;
}

TEST(layout_includes_only_downwards_and_sizes) {
    int n_src = walk("src", NULL, 0);
    /* every .c/.h in src/ lives in a folder of the layout */
    DIR *d = opendir("src");
    REQUIRE(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "src/%s", e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            CHECKF(level_of(e->d_name, strlen(e->d_name)) >= 0, "src/%s: folder not in the layout", e->d_name);
        else
            CHECKF(0, "src/%s: a file outside the layout's folders", e->d_name);
    }
    closedir(d);
    int n_cli = walk("cli", NULL, 1) + walk("examples", NULL, 1);
    CHECKF(n_src > 60 && n_cli > 10, "walked %d library and %d CLI/example files: not run from the repository root?",
           n_src, n_cli);
}

/* The checker itself catches what it must: an upward include, a climbing
 * include in the CLI, a long function and a long file. */
TEST(layout_checker_catches_violations) {
    /* feed the checkers directly and count the failures they report */
    int before = harness_failures_in_test();
    check_includes("src/base/x.c", "src/base", "base", "#include \"nn/block.h\"\n");
    check_includes("cli/x.c", "cli", NULL, "#include \"../src/base/csv.h\"\n");
    check_includes("cli/x.c", "cli", NULL, "#include \"model/model.h\"\n");
    check_includes("src/data/x.c", "src/data", "data", "#include \"nn/block.h\"\n");
    char *big = malloc(200 * 4 + 64);
    REQUIRE(big);
    strcpy(big, "static int f(void) {\n");
    for (int i = 0; i < 160; i++) strcat(big, "  x;\n");
    strcat(big, "}\n");
    check_sizes("src/base/y.c", big);
    free(big);
    int caught = harness_failures_in_test() - before;
    harness_forgive_failures(before);
    CHECKF(caught >= 5, "the layout checker reported %d of at least 5 violations", caught);
}

/* The tests run the CLI next to the test binary (harness.h: "clipc" on PATH,
 * clipc_exe()), so that build-asan/clipc_tests runs the sanitized
 * build-asan/clipc.  A test naming the plain build's folder would run the
 * unsanitized CLI under `make asan` without a word: refused here.  The
 * string is spelled in two pieces so this file does not hold it. */
static const char plain_cli[] = "build" "/clipc";

static void check_no_plain_cli(const char *path, const char *text) {
    int line = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') line++;
        if (!strncmp(p, plain_cli, sizeof plain_cli - 1))
            CHECKF(0, "%s:%d: names %s: run \"clipc\" (on PATH) or clipc_exe() instead (tests/harness.h)", path, line,
                   plain_cli);
    }
}

TEST(layout_tests_run_the_cli_next_to_the_test_binary) {
    const char *dirs[] = {"tests", "tests/fuzz"};
    int n = 0;
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        REQUIRE(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 3 || (strcmp(e->d_name + len - 2, ".c") && strcmp(e->d_name + len - 2, ".h"))) continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[k], e->d_name);
            char *text = slurp(path);
            if (!text) continue;
            check_no_plain_cli(path, text);
            free(text);
            n++;
        }
        closedir(d);
    }
    CHECKF(n > 20, "checked %d test files: not run from the repository root?", n);
    /* and the check catches what it must */
    int before = harness_failures_in_test();
    check_no_plain_cli("tests/x.c", "run(\"build" "/clipc encode\");\n");
    int caught = harness_failures_in_test() - before;
    harness_forgive_failures(before);
    CHECKF(caught == 1, "the plain-CLI check reported %d of 1 violation", caught);
}
