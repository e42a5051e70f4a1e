/*
 * main.c — the clipc program: dispatches to one function per subcommand.
 * The CLI is a thin user of the library: it includes only the public
 * headers (include/clipc*.h), parses options with one parser (options.h),
 * calls the API and formats results; all the work is in src/.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "cli.h"

/* Two settings that their libraries read only when the program starts, so
 * the program sets them and starts over once (both then being set, there is
 * no loop; if exec fails we simply go on):
 * - libgomp spins ~300,000 iterations at every barrier before sleeping.  On
 *   a shared machine (more runnable threads than cores) a descheduled worker
 *   makes the others spin through whole time slices: measured on 2 cores at
 *   load 8, tiny training ran at 26 pairs/s spinning and 118 passive, and
 *   tiny encoding at 51 vs 950 images/s.  So unless the user chose a policy,
 *   OMP_WAIT_POLICY=PASSIVE.
 * - OpenBLAS 0.3.21 runs SSE3 kernels on CPUs newer than itself (see
 *   clipc_blas_coretype_hint); unless the user chose OPENBLAS_CORETYPE, the
 *   core type the CPU's features call for. */
static void prefer_startup_env(char **argv) {
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && !setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) again = 1;
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : clipc_blas_coretype_hint();
    if (core && !setenv("OPENBLAS_CORETYPE", core, 1)) again = 1;
    if (again) execv("/proc/self/exe", argv);
}

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"encode", cmd_encode, "embed images and texts with a model (JSON Lines or safetensors)"},
    {"tokenize", cmd_tokenize, "CLIP BPE tokenizer: JSON Lines text <-> ids"},
    {"bench", cmd_bench, "time training and encoding for a named config"},
    {"classify", cmd_classify, "zero-shot classification of images with label prompts"},
    {"eval", cmd_eval, "retrieval Recall@K / zero-shot accuracy on a dataset"},
    {"index", cmd_index, "index a folder of images (SQLite + an mmap'd matrix)"},
    {"search", cmd_search, "search an index by text or by image"},
    {"train", cmd_train, "train a CLIP model on image-caption data (checkpoints, resume, evaluation)"},
    {"convert", cmd_convert, "rewrite a model file: OpenAI or Hugging Face layout, f32/f16/bf16"},
    {"info", cmd_info, "describe a model file: layout, architecture, parameters, dtypes, metadata"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: clipc COMMAND [OPTIONS]   (clipc COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int cli_report(clipc_status s) {
    const char *msg = clipc_last_error();
    fprintf(stderr, "clipc: error: %s\n", msg && *msg ? msg : clipc_status_name(s));
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clipc%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see clipc%s%s --help)\n", cmd ? " " : "", cmd ? cmd : "");
    va_end(ap);
    return 2;
}

void cli_warn(const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "clipc: warning: %s\n", msg);
}

/* What a command printed must have reached standard output: a full disk or
 * a closed pipe (ENOSPC, EPIPE, EFBIG) found when the buffer is flushed is an
 * error (exit 1), not a silent exit 0 with a cut output. */
static int stdout_checked(int rc) {
    if (rc) return rc; /* the command failed and said why (tokenize reports its own write errors) */
    errno = 0;
    int bad = fflush(stdout) != 0, e = errno;
    if (!bad && !ferror(stdout)) return rc;
    /* a failure the command's own fflush already met left no errno to tell */
    fprintf(stderr, "clipc: error: writing standard output: %s\n",
            bad && e ? strerror(e) : "a write failed (disk full or a closed pipe?)");
    return 1;
}

static int run(int argc, char **argv);

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) makes write() fail with EFBIG, which the
     * library reports naming the file, instead of killing the process with
     * SIGXFSZ half way through a write. */
    signal(SIGXFSZ, SIG_IGN);
    return stdout_checked(run(argc, argv));
}

static int run(int argc, char **argv) {
    prefer_startup_env(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    /* Global options stand before the command name. */
    int version = 0, at;
    char usage_text[2048];
    FILE *uf = fmemopen(usage_text, sizeof usage_text, "w");
    if (uf) {
        usage(uf);
        fputs("\noptions:\n", uf);
        fclose(uf);
    }
    const cli_opt opts[] = {
        {.name = "--version", .kind = CLI_FLAG, .dest = &version, .help = "print the version and exit"},
    };
    const cli_command global = {.cmd = NULL, .usage = uf ? usage_text : NULL, .width = 10, .opts = opts, .n_opts = 1};
    int rc = cli_parse(&global, argc, argv, &at);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (version) {
        printf("clipc 0.1\n");
        return 0;
    }
    if (at >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[at], commands[i].name)) return commands[i].fn(argc - at, argv + at);
    fprintf(stderr, "clipc: unknown command '%s'\n", argv[at]);
    usage(stderr);
    return 2;
}
