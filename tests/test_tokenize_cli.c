/*
 * test_tokenize_cli.c -- the `clipc tokenize` JSON Lines contract, run
 * through the clipc binary built beside this test binary: one output line
 * per input line, bad lines answered in place, exit status 1 at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc_util.h"
#include "harness.h"

/* Runs `clipc tokenize ARGS < input`; returns the exit status, output in *out. */
static int run_tokenize(const char *args, const char *input, char **out) {
    char exe[1024], cmd[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    const char *dir = test_tmpdir();
    char in_path[600], out_path[600];
    snprintf(in_path, sizeof in_path, "%s/in.jsonl", dir);
    snprintf(out_path, sizeof out_path, "%s/out.jsonl", dir);
    if (clipc_write_file_atomic(in_path, input, strlen(input))) return -1;
    snprintf(cmd, sizeof cmd, "'%s/clipc' tokenize %s < '%s' > '%s' 2>/dev/null", exe, args, in_path, out_path);
    int st = system(cmd);
    size_t len;
    if (clipc_read_file(out_path, out, &len)) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(tokenize_cli_jsonl) {
    char *out;
    int rc = run_tokenize("--context-length 8",
                          "{\"text\": \"a photo of a cat.\"}\n"
                          "not json\n"
                          "{\"text\": \"a b c d e f g\"}\n"
                          "{\"text\": \"caf\xc3\"}\n"
                          "{\"text\": \"A  Cat\"}\n",
                          &out);
    REQUIRE(rc >= 0);
    CHECKF(rc == 1, "exit status %d, expected 1", rc);
    const char *want =
        "{\"ids\": [320, 1125, 539, 320, 2368, 269], \"context\": [49406, 320, 1125, 539, 320, 2368, 269, 49407]}\n"
        "{\"line\":2,\"error\":\"invalid JSON (expected one object per line)\"}\n"
        "{\"line\":3,\"error\":\"text is 7 tokens, more than the 6 that fit a context of 8 (use truncation)\"}\n"
        "{\"line\":4,\"error\":\"text is not valid UTF-8 (byte 3)\"}\n"
        "{\"ids\": [320, 2368], \"context\": [49406, 320, 2368, 49407, 0, 0, 0, 0]}\n";
    CHECKF(!strcmp(out, want), "output:\n%s", out);
    free(out);

    rc = run_tokenize("--context-length 8 --truncate", "{\"text\": \"a b c d e f g\"}\n", &out);
    CHECK(rc == 0);
    CHECKF(!strcmp(out, "{\"ids\": [320, 321, 322, 323, 324, 325, 326], "
                        "\"context\": [49406, 320, 321, 322, 323, 324, 325, 49407]}\n"), "output: %s", out);
    free(out);

    rc = run_tokenize("", "{\"text\": \"\"}\n", &out);
    CHECK(rc == 0 && !strcmp(out, "{\"ids\": []}\n"));
    free(out);
}

TEST(tokenize_cli_decode) {
    char *out;
    int rc = run_tokenize("--decode",
                          "{\"ids\": [320, 1125, 539, 320, 2368, 269]}\n"
                          "{\"ids\": [49408]}\n"
                          "{\"ids\": [188, 226]}\n",
                          &out);
    CHECKF(rc == 1, "exit status %d", rc);
    CHECKF(!strcmp(out, "{\"text\": \"a photo of a cat . \"}\n"
                        "{\"line\":2,\"error\":\"token id 49408 at position 0 is not in [0, 49408)\"}\n"
                        "{\"text\": \"\\u0000\xef\xbf\xbd\"}\n"),
           "output:\n%s", out);
    free(out);
    rc = run_tokenize("--decode", "{\"ids\": [49406, 49407]}\n", &out);
    CHECK(rc == 0 && !strcmp(out, "{\"text\": \"<|startoftext|><|endoftext|>\"}\n"));
    free(out);
}
