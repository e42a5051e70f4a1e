/*
 * cli.h — what the subcommands of the clipc program share.  Each subcommand
 * lives in its own cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand name), describes its options in a table for
 * cli_parse (options.h) and is listed in cli/main.c.
 */
#ifndef CLIPC_CLI_H
#define CLIPC_CLI_H

#include <stdint.h>

#include "clipc.h"
#include "options.h"

/* Prints "clipc: <clipc_last_error()>" to stderr and returns exit status 1. */
int cli_report(clipc_status s);
/* Prints "clipc <cmd>: <message>" to stderr and returns exit status 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* precision.c: the --precision f32|bf16 option (CLI_CUSTOM, dest a
 * clipc_precision *); returns 0, or 2 after a usage error. */
int cli_opt_precision(const char *cmd, const cli_opt *o, const char *val);
/* act.c: the --act quickgelu|gelu option (CLI_CUSTOM, dest a
 * clipc_load_opts *: sets act and act_given); CLI_OPT_ACT(lo) is its entry. */
int cli_opt_act(const char *cmd, const cli_opt *o, const char *val);
#define CLI_OPT_ACT(lo)                                                                                   \
    {.name = "--act", .kind = CLI_CUSTOM, .dest = (lo), .fn = cli_opt_act, .metavar = "A",                \
     .help = "quickgelu or gelu: the activation, if the file does not record it\n"                          \
             "(OpenAI's models: quickgelu; LAION's open_clip models: gelu)"}
/* exif.c: --exif apply|ignore (CLI_CUSTOM) sets the process-wide choice
 * (clipc_image_set_exif) as it is parsed; returns 0, or 2 after a usage error.
 * CLI_OPT_EXIF is its table entry, the same in every command that loads
 * images. */
int cli_opt_exif(const char *cmd, const cli_opt *o, const char *val);
#define CLI_OPT_EXIF                                                                              \
    {.name = "--exif", .kind = CLI_CUSTOM, .fn = cli_opt_exif, .metavar = "MODE",               \
     .help = "apply: turn JPEGs upright by their EXIF orientation (default); ignore: as\n"       \
             "OpenAI's pipeline (PIL Image.open + convert), which gives OpenAI-exact results"}
/* prompts.c: strings gathered from several options (templates, class
 * names); v[i] point into argv, the library's sets or owned copies. */
typedef struct {
    const char **v;
    int n;
    char **owned;
    int n_owned;
} cli_strings;
void cli_strings_free(cli_strings *l);
/* CLI_CUSTOM handlers, dest a cli_strings *: --template T adds T,
 * --templates NAME a library set (clipc_prompt_templates), and a lines file
 * (--templates-file, --classes-file) its non-blank lines, trailing blanks
 * and CR removed (an empty file is an error naming it). */
int cli_opt_template(const char *cmd, const cli_opt *o, const char *val);
int cli_opt_templates(const char *cmd, const cli_opt *o, const char *val);
int cli_opt_lines_file(const char *cmd, const cli_opt *o, const char *val);
clipc_status cli_read_lines(const char *path, cli_strings *l);
#define CLI_OPTS_TEMPLATES(where)                                                                          \
    {.name = "--template", .kind = CLI_CUSTOM, .dest = (where), .fn = cli_opt_template, .metavar = "T",    \
     .help = "prompt template, \"{}\" = the label; repeatable (ensembled).\nDefault: \"a photo of a {}.\""}, \
    {.name = "--templates", .kind = CLI_CUSTOM, .dest = (where), .fn = cli_opt_templates, .metavar = "SET",  \
     .help = "a built-in template set: imagenet (OpenAI's 80 ImageNet prompts)"},                          \
    {.name = "--templates-file", .kind = CLI_CUSTOM, .dest = (where), .fn = cli_opt_lines_file,             \
     .metavar = "F", .help = "templates, one per line (all template options add up)"}
/* Warning callback for the library: prints "clipc: warning: ..." to stderr. */
void cli_warn(const char *msg, void *ud);
#include <stdio.h>
/* json_out.c: a JSON string (invalid UTF-8 bytes as \udcXX) and a float array (%.9g). */
void json_write_string(FILE *f, const char *s);
void json_write_floats(FILE *f, const float *x, int n);
/* text_out.c: s for plain-text output: control characters escaped (\n, \t, \r, \xHH), \ doubled. */
void text_write_escaped(FILE *f, const char *s);

/* progress.c: "what: done/total (pct) elapsed, ETA" on stderr. */
typedef struct {
    const char *what;
    double start, last;
    int tty, drawn;
} progress;
void progress_init(progress *p, const char *what);
void progress_update(progress *p, long done, long total);

/* gallery.c: search results as a self-contained HTML page (thumbnails as
 * data: URIs) and a 3x3 PNG grid of center crops (cell x cell each). */
int gallery_write_html(const char *out, const char *title, char *const *paths, const float *scores, int n);
int gallery_write_grid(const char *out, char *const *paths, int n, int cell);

/* encode_bulk.c: `clipc encode --dir|--list --out X.npy` (+ X.npy.paths). */
int encode_bulk(const char *model_path, const clipc_load_opts *lo, const char *dir, const char *list, const char *out,
                int normalize);

/* search_bench.c: `clipc search --bench N` (clustered synthetic vectors; see the file). */
typedef struct {
    long n;
    int dim, clusters, queries;
    int f32_queries; /* of the queries, how many the f32 scan times (0: all) */
    double sigma;
    const char *ann_kinds; /* ivf,pq, hnsw, both or none */
    int effort, rerank;    /* clipc_search_opts' */
    int hnsw_m, hnsw_efc;  /* 0: the defaults (32, 40) */
    uint64_t seed;
} search_bench_opts;
int search_bench(const char *db, const search_bench_opts *o);

int cmd_encode(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
