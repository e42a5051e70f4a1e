/*
 * cli.h — what the subcommands of the clipc program share.  Each subcommand
 * lives in its own cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand name) and is listed in cli/main.c.
 */
#ifndef CLIPC_CLI_H
#define CLIPC_CLI_H

#include "clipc.h"

/* Prints "clipc: <clipc_last_error()>" to stderr and returns exit status 1. */
int cli_report(clipc_status s);
/* Prints "clipc <cmd>: <message>" to stderr and returns exit status 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a positive int option value; returns 0 on success. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out);
/* Warning callback for the library: prints "clipc: warning: ..." to stderr. */
void cli_warn(const char *msg, void *ud);
#include <stdio.h>
/* json_out.c: a JSON string (invalid UTF-8 bytes as \udcXX) and a float array (%.9g). */
void json_write_string(FILE *f, const char *s);
void json_write_floats(FILE *f, const float *x, int n);

int cmd_encode(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);

#endif
