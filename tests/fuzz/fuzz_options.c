/*
 * fuzz_options.c — libFuzzer target for the clipc program's one option
 * parser (cli/options.c, cli_parse): `--opt value`, `--opt=value`, flags,
 * integers with and without a range, 64-bit and unsigned integers, numbers,
 * strings, repeatable lists, custom options, early options, positionals.
 *
 * Input: the arguments separated by NUL bytes (the first byte picks whether
 * parsing stops at the first positional).  Checks: cli_parse returns 0 or
 * the usage status 2, every usage message has the form "clipc fuzz: ...
 * (see clipc fuzz --help)", ranged integers stay in range, no number is
 * NaN, and on success every positional was handed over.  --help / -h are
 * left out (they print the help text, a fixed string).
 *
 * cli/main.c is not linked: this file provides cli_usage_error and
 * cli_report as main.c defines them, writing into a buffer.
 *
 *   make fuzz-options && build-fuzz/fuzz_options SCRATCH tests/fuzz/corpus_options
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "../../cli/cli.h"
#include "../../cli/options.h"
#include "fuzz_util.h"

static char msg[4096];
static int n_usage;

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(msg, sizeof msg, "clipc%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    n_usage++;
    return 2;
}

int cli_report(clipc_status s) {
    snprintf(msg, sizeof msg, "clipc: error: %s", clipc_status_name(s));
    return 1;
}

static int n_pos, n_custom;

static int positional(const char *arg, void *ud) {
    (void)ud;
    FUZZ_CHECK(arg);
    n_pos++;
    return 0;
}

static int custom(const char *cmd, const cli_opt *o, const char *v) {
    (void)o;
    n_custom++;
    if (!strcmp(v, "bad")) return cli_usage_error(cmd, "--custom: bad value");
    return 0;
}

int fuzz_options(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    int use_stop = data[0] & 1;
    char *buf = malloc(size + 1);
    FUZZ_CHECK(buf);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    char *argv[256];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = buf; p < buf + size - 1 && argc < 255; p += strlen(p) + 1) {
        if (!strcmp(p, "--help") || !strcmp(p, "-h")) {
            free(buf);
            return 0;
        }
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    int flag = 0, ranged = 5, anyint = 0, early = 0, given = 0;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    double d = 0;
    const char *str = NULL;
    cli_list list = {0};
    const cli_opt opts[] = {
        {.name = "--flag", .kind = CLI_FLAG, .dest = &flag, .help = "a flag", .given = &given},
        {.name = "--top", .kind = CLI_INT, .dest = &ranged, .min = 1, .max = 1000, .metavar = "K", .help = "ranged"},
        {.name = "--seed", .kind = CLI_INT, .dest = &anyint, .min = 1, .max = 0, .metavar = "N", .help = "any int"},
        {.name = "--steps", .kind = CLI_INT64, .dest = &i64, .metavar = "N", .help = "int64"},
        {.name = "--u", .kind = CLI_U64, .dest = &u64, .metavar = "N", .help = "u64"},
        {.name = "--lr", .kind = CLI_DOUBLE, .dest = &d, .metavar = "X", .help = "double"},
        {.name = "--out", .kind = CLI_STRING, .dest = &str, .metavar = "P", .help = "string"},
        {.name = "--text", .kind = CLI_LIST, .dest = &list, .metavar = "T", .help = "list"},
        {.name = "--custom", .kind = CLI_CUSTOM, .fn = custom, .metavar = "V", .help = "custom"},
        {.name = "--threads", .kind = CLI_INT, .dest = &early, .min = 0, .max = 64, .early = 1, .help = "early"},
    };
    cli_command c = {.cmd = "fuzz", .usage = "usage: fuzz\n", .width = 20, .opts = opts,
                     .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = data[0] & 2 ? positional : NULL};
    n_pos = n_custom = n_usage = 0;
    msg[0] = 0;
    int stop = -1;
    int rc = cli_parse(&c, argc, argv, use_stop ? &stop : NULL);
    FUZZ_CHECK(rc == 0 || rc == 2);
    if (rc == 2) {
        FUZZ_CHECK(n_usage >= 1 && !strncmp(msg, "clipc fuzz: ", 12));
    } else {
        FUZZ_CHECK(n_usage == 0);
        FUZZ_CHECK(ranged >= 1 && ranged <= 1000 && early >= 0 && early <= 64);
        FUZZ_CHECK(!isnan(d));
        FUZZ_CHECK(given <= argc && list.n <= argc && n_pos <= argc);
        if (use_stop) FUZZ_CHECK(stop >= 1 && stop <= argc);
        for (int i = 0; i < list.n; i++) FUZZ_CHECK(list.v[i]);
    }
    cli_list_free(&list);
    free(buf);
    return 0;
}

FUZZ_ENTRY(options)
