/*
 * cmd_classify.c — `clipc classify`: zero-shot classification of images.
 * Labels become prompts through templates ("a photo of a {}."); with several
 * templates the normalised text embeddings are averaged per label (OpenAI's
 * prompt ensembling).  Logits are 100 x cosine, as OpenAI's notebook and
 * open_clip (100 = the clamp of exp(logit_scale)); --scale model uses the
 * model's own exp(logit_scale).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc classify --model FILE --labels \"cat,dog,car\" [options] IMAGE...\n\n"
    "Zero-shot classification: prints the top labels with probabilities for each image.\n"
    "Plain-text output escapes control characters in image paths and labels (newline as \\n,\n"
    "tab as \\t, CR as \\r, others as \\xHH) and doubles a backslash; --json is exact JSON.\n";

/* Appends the non-empty, trimmed pieces of s split at `sep` to labels. */
static int add_labels(char ***labels, int *n, const char *s, char sep) {
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, sep);
        if (!e) e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (b > a) {
            char **nl = realloc(*labels, sizeof **labels * (size_t)(*n + 1));
            if (!nl) return -1;
            *labels = nl;
            if (!((*labels)[*n] = strndup(a, (size_t)(b - a)))) return -1;
            (*n)++;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

typedef struct {
    char **v;
    int n;
} label_list;

static int opt_labels(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    label_list *l = o->dest;
    if (add_labels(&l->v, &l->n, val, ',')) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    return 0;
}

static int opt_labels_file(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    label_list *l = o->dest;
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(val, &data, &len);
    if (s) return cli_report(s);
    const char *nul = memchr(data, 0, len);
    if (nul) { /* add_labels reads a C string: a NUL would drop every later label */
        int line = 1;
        for (const char *q = data; q < nul; q++) line += *q == '\n';
        free(data);
        return cli_report(clipc_error(CLIPC_ERR_FORMAT, "%s:%d: a NUL byte in the text; remove it", val, line));
    }
    int rc = add_labels(&l->v, &l->n, data, '\n') ? cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory")) : 0;
    free(data);
    return rc;
}

typedef struct {
    float scale;
    int use_model;
} scale_opt;

static int opt_scale(const char *cmd, const cli_opt *o, const char *val) {
    scale_opt *sc = o->dest;
    char *end;
    if (!strcmp(val, "model")) sc->use_model = 1;
    else if ((sc->scale = strtof(val, &end)) <= 0 || *end)
        return cli_usage_error(cmd, "--scale: '%s' is not a positive number or 'model'", val);
    return 0;
}

static int add_image(const char *arg, void *ud) { return cli_list_add(ud, arg); }

int cmd_classify(int argc, char **argv) {
    const char *model_path = NULL;
    cli_list images = {0};
    cli_strings tmpl = {0};
    label_list lab = {0};
    int top = 5, json = 0, threads = 0, allow_nonfinite = 0;
    clipc_precision prec = CLIPC_PRECISION_F32;
    scale_opt sc = {100.0f, 0};
    clipc_load_opts act_lo = {0};
    const cli_opt opts[] = {
        CLI_OPT_ACT(&act_lo),
        {.name = "--model", .kind = CLI_STRING, .dest = &model_path, .metavar = "FILE",
         .help = "model weights (safetensors or PyTorch .pt/TorchScript; by content)"},
        {.name = "--labels", .kind = CLI_CUSTOM, .dest = &lab, .fn = opt_labels, .metavar = "L,L,...",
         .help = "labels, comma-separated"},
        {.name = "--labels-file", .kind = CLI_CUSTOM, .dest = &lab, .fn = opt_labels_file, .metavar = "F",
         .help = "labels, one per line (added to --labels)"},
        {.name = "--classes-file", .kind = CLI_CUSTOM, .dest = &lab, .fn = opt_labels_file, .metavar = "F",
         .help = "the same as --labels-file"},
        CLI_OPTS_TEMPLATES(&tmpl),
        {.name = "--top", .kind = CLI_INT, .dest = &top, .min = 1, .max = 1000000, .metavar = "K",
         .help = "labels shown per image (default 5)"},
        {.name = "--scale", .kind = CLI_CUSTOM, .dest = &sc, .fn = opt_scale, .metavar = "S",
         .help = "logit scale: a number (default 100, as OpenAI) or 'model'"},
        {.name = "--json", .kind = CLI_FLAG, .dest = &json,
         .help = "JSON Lines: {\"image\", \"top\": [{\"label\", \"prob\"}]}"},
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &allow_nonfinite,
         .help = "load a model whose weights hold nan/inf (forensics)"},
        {.name = "--threads", .kind = CLI_INT, .dest = &threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default: all cores)"},
        {.name = "--precision", .kind = CLI_CUSTOM, .dest = &prec, .fn = cli_opt_precision, .metavar = "P",
         .help = "f32 (default), bf16 (faster on AVX512_BF16 CPUs) or int8"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "classify", .usage = usage, .width = 20, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = add_image, .ud = &images};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc == CLI_HELP_SHOWN) {
        rc = 0;
        goto out;
    }
    char **labels = lab.v;
    int n_lab = lab.n, n_img = images.n, n_tmpl = tmpl.n, use_model_scale = sc.use_model;
    float scale = sc.scale;
    const char **image_paths = images.v;
    if (!rc && !model_path) rc = cli_usage_error("classify", "--model FILE is required");
    if (!rc && n_lab < 1) rc = cli_usage_error("classify", "give labels with --labels a,b,c or --labels-file F");
    if (!rc && !n_img) rc = cli_usage_error("classify", "no images given");
    if (rc) goto out;
    clipc_set_threads(threads);

    clipc_model *m = NULL;
    clipc_tokenizer *tok = NULL;
    float *w = NULL, *emb = NULL, *prob = NULL;
    int *idx = NULL;
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = prec;
    lo.allow_nonfinite = allow_nonfinite;
    lo.act_given = act_lo.act_given;
    lo.act = act_lo.act;
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (!s) s = clipc_model_tokenizer(m, &tok); /* BPE, or the tutorial model's WordPiece */
    if (s) goto fail;
    int E = clipc_model_config(m)->embed_dim;
    if (use_model_scale) scale = clipc_model_logit_scale(m);
    w = malloc(sizeof(float) * (size_t)n_lab * E);
    emb = malloc(sizeof(float) * (size_t)E);
    prob = malloc(sizeof(float) * (size_t)n_lab);
    idx = malloc(sizeof(int) * (size_t)n_lab);
    if (!w || !emb || !prob || !idx) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s = clipc_zeroshot_weights(m, tok, (const char *const *)labels, n_lab, tmpl.v, n_tmpl, w);
    if (s) goto fail;
    for (int i = 0; i < n_img; i++) {
        clipc_status is = clipc_embed_image_file(m, image_paths[i], emb);
        if (!is && (is = clipc_classify(emb, 1, w, n_lab, E, scale, prob, NULL)))
            clipc_error_prefix("%s", image_paths[i]);
        if (is) {
            cli_report(is); /* names the file; the other images go on */
            rc = 1;
            continue;
        }
        int k = clipc_topk(prob, n_lab, top, idx);
        if (json) {
            fputs("{\"image\": ", stdout);
            json_write_string(stdout, image_paths[i]);
            fputs(", \"top\": [", stdout);
            for (int j = 0; j < k; j++) {
                fputs(j ? ", {\"label\": " : "{\"label\": ", stdout);
                json_write_string(stdout, labels[idx[j]]);
                printf(", \"prob\": %.6f}", (double)prob[idx[j]]);
            }
            fputs("]}\n", stdout);
        } else {
            text_write_escaped(stdout, image_paths[i]);
            fputs("\n", stdout);
            for (int j = 0; j < k; j++) {
                printf("  %6.2f%%  ", 100.0 * prob[idx[j]]);
                text_write_escaped(stdout, labels[idx[j]]);
                fputc('\n', stdout);
            }
        }
    }
    goto clean;
fail:
    rc = cli_report(s);
clean:
    free(w);
    free(emb);
    free(prob);
    free(idx);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
out:
    for (int i = 0; i < lab.n; i++) free(lab.v[i]);
    free(lab.v);
    cli_strings_free(&tmpl);
    cli_list_free(&images);
    return rc;
}
