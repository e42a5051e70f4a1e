/*
 * options.c — the option parser every subcommand uses (see options.h):
 * matching `--name`, `--name value` and `--name=value` against a table,
 * converting and checking values, and the --help text made from the table.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc_util.h"
#include "cli.h"
#include "options.h"

void cli_list_free(cli_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* An option rather than a positional argument: "-x...", but not "-" alone
 * nor "- text" (a query may start with a dash and a space). */
static int is_option(const char *a) { return a[0] == '-' && a[1] && a[1] != ' '; }

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* The table entry for argument a ("--name" or "--name=value"); *value is
 * set to the text after '=' (NULL without one). */
static const cli_opt *find(const cli_command *c, const char *a, const char **value) {
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    for (int k = 0; k < c->n_opts; k++) {
        const char *name = c->opts[k].name;
        if (strlen(name) == n && !strncmp(name, a, n)) {
            *value = eq ? eq + 1 : NULL;
            return &c->opts[k];
        }
    }
    return NULL;
}

static int set_int(const char *cmd, const cli_opt *o, const char *v) {
    char *end;
    long x = strtol(v, &end, 10);
    if (o->min <= o->max) {
        if (*v == 0 || *end != 0 || x < o->min || x > o->max)
            return cli_usage_error(cmd, "%s: '%s' is not an integer in [%ld, %ld]", o->name, v, o->min, o->max);
    } else if (!*v || *end) {
        return cli_usage_error(cmd, "%s: '%s' is not an integer", o->name, v);
    }
    *(int *)o->dest = (int)x;
    return 0;
}

int cli_list_add(cli_list *l, const char *v) {
    const char **nv = realloc(l->v, sizeof *nv * (size_t)(l->n + 1));
    if (!nv) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    l->v = nv;
    l->v[l->n++] = v;
    return 0;
}

/* Stores value v of option o; returns 0 or the exit status of the error. */
static int apply(const char *cmd, const cli_opt *o, const char *v) {
    char *end;
    int rc = 0;
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->dest = 1; break;
    case CLI_STRING: *(const char **)o->dest = v; break;
    case CLI_LIST: rc = cli_list_add(o->dest, v); break;
    case CLI_INT: rc = set_int(cmd, o, v); break;
    case CLI_INT64: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end) return cli_usage_error(cmd, "%s: '%s' is not an integer", o->name, v);
        *(int64_t *)o->dest = x;
        break;
    }
    case CLI_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end) return cli_usage_error(cmd, "%s: '%s' is not an integer", o->name, v);
        *(uint64_t *)o->dest = x;
        break;
    }
    case CLI_DOUBLE: {
        double x = strtod(v, &end);
        if (!*v || *end || isnan(x)) return cli_usage_error(cmd, "%s: '%s' is not a number", o->name, v);
        *(double *)o->dest = x;
        break;
    }
    case CLI_CUSTOM: rc = o->fn(cmd, o, v); break;
    }
    if (!rc && o->given) (*o->given)++;
    return rc;
}

/* The option at argv[*i] with its value (the next argument unless given
 * with '='); advances *i past the value.  act: 1 = apply it, 0 = only skip. */
static int take(const cli_command *c, const cli_opt *o, const char *eqv, int argc, char **argv, int *i, int act) {
    const char *a = argv[*i], *v = eqv;
    if (o->kind == CLI_FLAG) {
        if (eqv) return act ? cli_usage_error(c->cmd, "%.*s takes no value", (int)strcspn(a, "="), a) : 0;
    } else if (!v) {
        if (*i + 1 >= argc) return act ? cli_usage_error(c->cmd, "%s needs a value", a) : 0;
        v = argv[++*i];
    }
    return act ? apply(c->cmd, o, v) : 0;
}

/* First pass: --help, and the early options in their order. */
static int parse_early(const cli_command *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eqv;
        if (!is_option(a)) {
            if (c->positional) continue;
            break;
        }
        if (is_help(a)) {
            cli_help(c, stdout);
            return CLI_HELP_SHOWN;
        }
        const cli_opt *o = find(c, a, &eqv);
        if (!o) continue;
        int rc = take(c, o, eqv, argc, argv, &i, o->early);
        if (rc) return rc;
    }
    return 0;
}

int cli_parse(const cli_command *c, int argc, char **argv, int *stop) {
    if (stop) *stop = argc;
    int rc = parse_early(c, argc, argv);
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *eqv;
        if (!is_option(a)) {
            if (stop) {
                *stop = i;
                return 0;
            }
            if (c->positional) rc = c->positional(a, c->ud);
            else rc = cli_usage_error(c->cmd, "unknown option '%s'", a);
            continue;
        }
        const cli_opt *o = find(c, a, &eqv);
        if (!o) rc = cli_usage_error(c->cmd, "unknown option '%s'", a);
        else rc = take(c, o, eqv, argc, argv, &i, !o->early);
    }
    return rc;
}

/* "  --name METAVAR   help" with the help's continuation lines (after '\n')
 * indented to its column; a name wider than the column puts the help on
 * the next line. */
static void help_line(const cli_opt *o, int width, FILE *f) {
    char left[128];
    snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    int indent = 2 + width + 1;
    if ((int)strlen(left) <= width) fprintf(f, "  %-*s ", width, left);
    else fprintf(f, "  %s\n%*s", left, indent, "");
    for (const char *p = o->help;;) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            fputs(p, f);
            break;
        }
        fprintf(f, "%.*s\n%*s", (int)(nl - p), p, indent, "");
        p = nl + 1;
    }
    if (o->deflt) fprintf(f, " [%s]", o->deflt);
    fputc('\n', f);
}

void cli_help(const cli_command *c, FILE *f) {
    if (c->usage) fputs(c->usage, f);
    for (int k = 0; k < c->n_opts; k++)
        if (c->opts[k].help) help_line(&c->opts[k], c->width, f);
    if (c->epilog) fputs(c->epilog, f);
}
