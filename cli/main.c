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
#include "clipc_util.h"
#include "cli.h"

/* libgomp spins ~300,000 iterations at every barrier before sleeping, and
 * reads OMP_WAIT_POLICY only when the program starts.  On a shared machine
 * (more runnable threads than cores) a descheduled worker makes the others
 * spin through whole time slices: measured on 2 cores at load 8, tiny
 * training ran at 26 pairs/s spinning and 118 passive, and tiny encoding at
 * 51 vs 950 images/s.  So unless the user chose a policy, set PASSIVE and
 * start over once (the variable then being set, there is no loop; if exec
 * fails we simply go on). */
static int prefer_passive_wait(void) {
    return !getenv("OMP_WAIT_POLICY") && !setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
}

/* OpenBLAS chose its kernels when it was loaded; on a CPU newer than the
 * library it falls back to SSE3 ones, 3-4x slower (clipc_blas_core_override).
 * The variable that fixes it is read only at load time: set it and start
 * over, once, with the OpenMP policy above. */
static int prefer_native_blas(void) {
    const char *core = clipc_blas_core_override();
    return core && !setenv("OPENBLAS_CORETYPE", core, 1);
}

static void restart_with_env(char **argv) {
    int passive = prefer_passive_wait();
    int blas = prefer_native_blas();
    if (passive || blas) execv("/proc/self/exe", argv);
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
    {"serve", cmd_serve, "a local search page for an index in the browser (libmicrohttpd)"},
    {"train", cmd_train, "train a CLIP model on image-caption data (checkpoints, resume, evaluation)"},
    {"convert", cmd_convert, "rewrite a model file: OpenAI or Hugging Face layout, f32/f16/bf16"},
    {"info", cmd_info, "describe a model file: layout, architecture, parameters, dtypes, metadata"},
    {"export", cmd_export, "write the encoders as ONNX models (Immich's CLIP folder layout)"},
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

#ifdef CLIPC_TEST_HOOKS
/* Only in clipc-testhooks (the Makefile compiles this file a second time
 * with -DCLIPC_TEST_HOOKS); the shipped clipc never installs the hook.
 * CLIPC_IO_FAULT picks what happens at the I/O points of durable writes
 * (clipc_set_io_hook, counted from 1 in the order they come):
 *   count      count them; "clipc-testhooks: N I/O points" on stderr at exit
 *   kill:N     SIGKILL before point N (as kill -9 at that moment)
 *   enospc:N   point N fails with ENOSPC (a full disk), eio:N with EIO
 * CLIPC_IO_TRACE=1 prints each point ("io N OP PATH") on stderr. */
static long long io_points, io_at;
static int io_errno, io_kill, io_trace;

static int io_hook(const char *op, const char *path, void *ud) {
    (void)ud;
    long long n = __atomic_add_fetch(&io_points, 1, __ATOMIC_SEQ_CST);
    if (io_trace) fprintf(stderr, "io %lld %s %s\n", n, op, path);
    if (n != io_at) return 0;
    if (io_kill) raise(SIGKILL);
    return io_errno;
}

static void io_report(void) { fprintf(stderr, "clipc-testhooks: %lld I/O points\n", io_points); }

static void install_io_hook(void) {
    const char *f = getenv("CLIPC_IO_FAULT"), *t = getenv("CLIPC_IO_TRACE");
    io_trace = t && !strcmp(t, "1");
    if (!f && !io_trace) return;
    if (f && !strcmp(f, "count")) atexit(io_report);
    else if (f && !strncmp(f, "kill:", 5)) io_kill = 1, io_at = atoll(f + 5);
    else if (f && !strncmp(f, "enospc:", 7)) io_errno = ENOSPC, io_at = atoll(f + 7);
    else if (f && !strncmp(f, "eio:", 4)) io_errno = EIO, io_at = atoll(f + 4);
    else if (f) fprintf(stderr, "clipc-testhooks: CLIPC_IO_FAULT=%s not understood (ignored)\n", f);
    clipc_set_io_hook(io_hook, NULL);
}
#endif

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) makes write() fail with EFBIG, which the
     * library reports naming the file, instead of killing the process with
     * SIGXFSZ half way through a write. */
    signal(SIGXFSZ, SIG_IGN);
    return stdout_checked(run(argc, argv));
}

static int run(int argc, char **argv) {
    restart_with_env(argv);
#ifdef CLIPC_TEST_HOOKS
    install_io_hook();
#endif
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
        printf("clipc 0.1\nOpenBLAS kernels: %s\n", clipc_blas_core_name());
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
