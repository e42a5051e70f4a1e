/*
 * options.h — the one option parser of the clipc program.  Each subcommand
 * describes its options in a table of cli_opt (name, kind, destination,
 * range, metavar, help) and calls cli_parse, which takes `--opt value` and
 * `--opt=value`, hands positional arguments to the command, reports usage
 * errors ("clipc CMD: ... (see clipc CMD --help)", exit status 2) and prints
 * `--help` from the same table, so an option's flag, parsing and help are
 * written once.
 */
#ifndef CLIPC_CLI_OPTIONS_H
#define CLIPC_CLI_OPTIONS_H

#include <stdio.h>

typedef enum {
    CLI_FLAG,   /* int *: set to 1; takes no value */
    CLI_INT,    /* int *: in [min, max]; min > max: any integer (stored as (int)strtol) */
    CLI_INT64,  /* int64_t * */
    CLI_U64,    /* uint64_t * */
    CLI_DOUBLE, /* double *: a finite or infinite number, not NaN */
    CLI_STRING, /* const char **: the argument itself (last one wins) */
    CLI_LIST,   /* cli_list *: repeatable, every value in order */
    CLI_CUSTOM  /* fn(cmd, opt, value) */
} cli_kind;

/* What a CLI_LIST option collects (v is malloc'ed: cli_list_free). */
typedef struct {
    const char **v;
    int n;
} cli_list;
/* Appends v; returns 0, or 1 after reporting "out of memory". */
int cli_list_add(cli_list *l, const char *v);
void cli_list_free(cli_list *l);

typedef struct cli_opt cli_opt;
struct cli_opt {
    const char *name;    /* "--top" */
    cli_kind kind;
    void *dest;          /* see cli_kind; CLI_CUSTOM: whatever fn wants */
    long min, max;       /* CLI_INT's range */
    const char *metavar; /* "K" in "--top K" in the help; NULL for none */
    const char *help;    /* NULL: not listed by --help; '\n' starts a continuation line */
    /* CLI_CUSTOM: stores the value; returns 0, or the exit status after
     * printing the error (cli_usage_error: 2). */
    int (*fn)(const char *cmd, const cli_opt *o, const char *value);
    const char *deflt;   /* shown as " [deflt]" after the help; NULL: nothing */
    int early;           /* 1: applied before every other option, wherever it stands */
    int *given;          /* if set, counts the times the option was given */
};

typedef struct {
    const char *cmd;    /* "search": messages read "clipc search: ..." */
    const char *usage;  /* --help text before the option list (usage line, paragraphs) */
    const char *epilog; /* --help text after it; NULL for none */
    int width;          /* --help: column width of "--name METAVAR" */
    const cli_opt *opts;
    int n_opts;
    /* Positional arguments, in order: returns 0 or an exit status.  NULL:
     * the command takes none ("unknown option 'ARG'"). */
    int (*positional)(const char *arg, void *ud);
    void *ud;
} cli_command;

/* cli_parse's result when it printed the help: the command exits with 0. */
#define CLI_HELP_SHOWN (-1)

/* Parses argv[1..argc) (argv[0] is the command name).  --help / -h anywhere
 * (not as an option's value) prints the help to stdout and returns
 * CLI_HELP_SHOWN; early options are applied first, then the others in order.
 * Returns 0, CLI_HELP_SHOWN, or the exit status of the first error (2 for a
 * usage error).  If stop is not NULL, parsing ends at the first positional
 * argument and *stop is its index (argc if none). */
int cli_parse(const cli_command *c, int argc, char **argv, int *stop);
/* The --help text: usage, one line per listed option, epilog. */
void cli_help(const cli_command *c, FILE *f);

#endif
