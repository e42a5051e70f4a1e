/*
 * test_cli_options.c — the CLI's one option parser (cli/options.c), through
 * the clipc binary: `--opt value` and `--opt=value` alike, usage errors
 * (unknown option, missing value, bad number, a value given to a flag) with
 * exit status 2 and their messages, and --help made from the option tables
 * (every training option of clipc_train_options in `clipc train --help`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "harness.h"

/* Runs a command line (stderr folded into stdout); returns the exit status. */
static int run(const char *cmd, char **out) {
    char full[2048];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    return run_capture(full, out);
}

/* Checks that `cmd` is a usage error (exit 2) printing exactly `want` + "\n". */
static void expect_usage_error(const char *cmd, const char *want) {
    char *out;
    int rc = run(cmd, &out);
    CHECKF(rc == 2, "%s: exit status %d, want 2 (output: %s)", cmd, rc, out);
    char line[1024];
    snprintf(line, sizeof line, "%s\n", want);
    CHECKF(!strcmp(out, line), "%s:\n  got:  %s  want: %s", cmd, out, line);
    free(out);
}

TEST(cli_options_equals_and_space_forms_agree) {
    char *a, *b;
    /* The value is used, not only accepted: the context row has 4 ints. */
    int ra = run("printf '{\"text\": \"a\"}\\n' | clipc tokenize --context-length=4", &a);
    int rb = run("printf '{\"text\": \"a\"}\\n' | clipc tokenize --context-length 4", &b);
    CHECKF(ra == 0 && rb == 0, "exit status %d and %d", ra, rb);
    CHECKF(!strcmp(a, "{\"ids\": [320], \"context\": [49406, 320, 49407, 0]}\n"), "--context-length=4: %s", a);
    CHECKF(!strcmp(a, b), "--opt=value and --opt value differ:\n%s\n%s", a, b);
    free(a);
    free(b);
    /* --top=3 and --top 3 both get past the parser to the missing index. */
    const char *forms[] = {"clipc search --db tests/no-such.db --top=3 cat",
                           "clipc search --db tests/no-such.db --top 3 cat",
                           "clipc search --top=3 --db=tests/no-such.db cat"};
    for (int i = 0; i < 3; i++) {
        int rc = run(forms[i], &a);
        CHECKF(rc == 1 && strstr(a, "no-such.db: no such index"), "%s: exit %d: %s", forms[i], rc, a);
        free(a);
    }
    /* A value may itself start with "--" or hold '=': here, files that do not exist. */
    int rc = run("clipc encode --model tests/data/goldens/b/weights.safetensors --image --x", &a);
    CHECKF(rc == 1 && strstr(a, "--x"), "exit %d: %s", rc, a);
    free(a);
    rc = run("clipc tokenize --bench=tests/a=b", &a);
    CHECKF(rc == 1 && strstr(a, "tests/a=b"), "exit %d: %s", rc, a);
    free(a);
}

TEST(cli_options_usage_errors) {
    expect_usage_error("clipc search --db x --bogus",
                       "clipc search: unknown option '--bogus' (see clipc search --help)");
    expect_usage_error("clipc search --db x --bogus=1",
                       "clipc search: unknown option '--bogus=1' (see clipc search --help)");
    expect_usage_error("clipc encode stray", "clipc encode: unknown option 'stray' (see clipc encode --help)");
    expect_usage_error("clipc search --db x --top", "clipc search: --top needs a value (see clipc search --help)");
    expect_usage_error("clipc search --db x --top=x cat",
                       "clipc search: --top: 'x' is not an integer in [1, 100000] (see clipc search --help)");
    expect_usage_error("clipc search --db x --top 0 cat",
                       "clipc search: --top: '0' is not an integer in [1, 100000] (see clipc search --help)");
    expect_usage_error("clipc search --db x --top= cat",
                       "clipc search: --top: '' is not an integer in [1, 100000] (see clipc search --help)");
    expect_usage_error("clipc search --db x --json=1 cat",
                       "clipc search: --json takes no value (see clipc search --help)");
    expect_usage_error("clipc train --data d --out o --lr abc",
                       "clipc train: --lr: 'abc' is not a number (see clipc train --help)");
    expect_usage_error("clipc train --data d --out o --epochs 1.5",
                       "clipc train: --epochs: '1.5' is not an integer (see clipc train --help)");
    expect_usage_error("clipc train --data d --out o --seed=x",
                       "clipc train: --seed: 'x' is not an integer (see clipc train --help)");
    expect_usage_error("clipc train --data d --batch", "clipc train: --batch needs a value (see clipc train --help)");
    expect_usage_error("clipc encode --model m --precision f16 --text a",
                       "clipc encode: --precision must be f32, bf16 or int8, not 'f16' (see clipc encode --help)");
    expect_usage_error("clipc index a b --model m --db d",
                       "clipc index: one folder at a time ('a' and 'b') (see clipc index --help)");
    /* --recipe is applied before the other options, wherever it stands. */
    expect_usage_error("clipc train --lr abc --recipe nope",
                       "clipc train: unknown recipe 'nope' (known: seed tutorial tutorial-resnet cpu-small cpu-tiny emoji) "
                       "(see clipc train --help)");
    expect_usage_error("clipc --bogus", "clipc: unknown option '--bogus' (see clipc --help)");
}

TEST(cli_options_help_from_the_tables) {
    char *out;
    int rc = run("clipc train --help", &out);
    REQUIRE(rc == 0);
    CHECK(!strncmp(out, "usage: clipc train --data FILE --out DIR", 40));
    CHECK(strstr(out, "\n  --recipe NAME            settings to start from: seed tutorial tutorial-resnet cpu-small cpu-tiny emoji"));
    int n;
    const clipc_option *t = clipc_train_options(&n);
    CHECK(n > 40);
    const char *prev = out;
    for (int i = 0; i < n; i++) {
        /* "  --name<spaces>help [default]", in the table's order */
        char want[512];
        snprintf(want, sizeof want, "\n  --%-22s %s [", t[i].name, t[i].help);
        const char *at = strstr(out, want);
        CHECKF(at, "train --help lacks --%s with its help", t[i].name);
        CHECKF(!at || at > prev, "--%s out of the table's order", t[i].name);
        if (at) prev = at;
    }
    CHECK(strstr(out, "\n  --batch                  pairs per micro-batch [32]\n"));
    CHECK(strstr(out, "\n  --data                   caption file or folder (Karpathy JSON, Flickr8k/30k, CSV/TSV, "
                      "folder) [(none)]\n"));
    free(out);
    /* Every command: exit 0, its usage line first, -h as --help, and --help
     * wins wherever it stands (not as an option's value). */
    const char *cmds[] = {"encode", "tokenize", "bench", "classify", "eval", "index", "search", "train"};
    for (int i = 0; i < 8; i++) {
        char cmd[256], want[64], *h;
        snprintf(cmd, sizeof cmd, "clipc %s -h", cmds[i]);
        snprintf(want, sizeof want, "usage: clipc %s ", cmds[i]);
        rc = run(cmd, &out);
        CHECKF(rc == 0 && !strncmp(out, want, strlen(want)), "%s: exit %d: %.80s", cmd, rc, out);
        snprintf(cmd, sizeof cmd, "clipc %s --no-such-option --help", cmds[i]);
        rc = run(cmd, &h);
        CHECKF(rc == 0 && !strcmp(out, h), "%s: exit %d", cmd, rc);
        free(out);
        free(h);
    }
    rc = run("clipc search --help", &out);
    CHECK(rc == 0 && strstr(out, "\n  --top K        results (default 10)\n") && !strstr(out, "--bench-query"));
    free(out);
    rc = run("clipc encode --help", &out);
    CHECK(rc == 0 && strstr(out, "\n  --precision P        f32 (default) or bf16: about 2x faster on AVX512_BF16 CPUs,\n"
                                 "                       cosine >= 0.999 to f32 (elsewhere f32, with a warning); or int8\n"
                                 "                       (s8 weights and inputs, oneDNN integer GEMMs; cosine >= 0.99)\n"));
    free(out);
}
