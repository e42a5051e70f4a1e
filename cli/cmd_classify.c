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

static void usage(FILE *f) {
    fprintf(f, "usage: clipc classify --model FILE --labels \"cat,dog,car\" [options] IMAGE...\n\n"
               "Zero-shot classification: prints the top labels with probabilities for each image.\n"
               "  --labels L,L,...     labels, comma-separated\n"
               "  --labels-file F      labels, one per line (added to --labels)\n"
               "  --template T         prompt template, \"{}\" = the label; repeatable (ensembled).\n"
               "                       Default: \"a photo of a {}.\"\n"
               "  --top K              labels shown per image (default 5)\n"
               "  --scale S            logit scale: a number (default 100, as OpenAI) or 'model'\n"
               "  --json               JSON Lines: {\"image\", \"top\": [{\"label\", \"prob\"}]}\n"
               "  --threads N          threads (default: all cores)\n"
               "  --precision P        f32 (default) or bf16 (faster on AVX512_BF16 CPUs)\n");
}

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

int cmd_classify(int argc, char **argv) {
    const char *model_path = NULL;
    const char **tmpl = calloc((size_t)argc, sizeof *tmpl), **images = calloc((size_t)argc, sizeof *images);
    char **labels = NULL;
    int n_tmpl = 0, n_img = 0, n_lab = 0, top = 5, json = 0, threads = 0, rc = 0, use_model_scale = 0;
    clipc_precision prec = CLIPC_PRECISION_F32;
    float scale = 100.0f;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            goto out;
        }
        int takes = !strcmp(a, "--model") || !strcmp(a, "--labels") || !strcmp(a, "--labels-file") ||
                    !strcmp(a, "--template") || !strcmp(a, "--top") || !strcmp(a, "--scale") || !strcmp(a, "--threads") ||
                        !strcmp(a, "--precision");
        if (takes && !v) {
            rc = cli_usage_error("classify", "%s needs a value", a);
            break;
        }
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--labels")) {
            if (add_labels(&labels, &n_lab, v, ',')) rc = cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
        } else if (!strcmp(a, "--labels-file")) {
            char *data;
            size_t len;
            clipc_status s = clipc_read_file(v, &data, &len);
            if (s) rc = cli_report(s);
            else {
                if (add_labels(&labels, &n_lab, data, '\n')) rc = cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
                free(data);
            }
        } else if (!strcmp(a, "--template")) tmpl[n_tmpl++] = v;
        else if (!strcmp(a, "--top")) rc = cli_parse_int("classify", a, v, 1, 1000000, &top);
        else if (!strcmp(a, "--threads")) rc = cli_parse_int("classify", a, v, 0, 1024, &threads);
        else if (!strcmp(a, "--precision")) rc = cli_parse_precision("classify", v, &prec);
        else if (!strcmp(a, "--scale")) {
            char *end;
            if (!strcmp(v, "model")) use_model_scale = 1;
            else if ((scale = strtof(v, &end)) <= 0 || *end)
                rc = cli_usage_error("classify", "--scale: '%s' is not a positive number or 'model'", v);
        } else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-' && a[1]) rc = cli_usage_error("classify", "unknown option '%s'", a);
        else images[n_img++] = a;
        if (takes) i++;
    }
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
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (!s) s = clipc_tokenizer_load(NULL, &tok);
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
    s = clipc_zeroshot_weights(m, tok, (const char *const *)labels, n_lab, tmpl, n_tmpl, w);
    if (s) goto fail;
    for (int i = 0; i < n_img; i++) {
        clipc_status is = clipc_embed_image_file(m, images[i], emb);
        if (!is) is = clipc_classify(emb, 1, w, n_lab, E, scale, prob, NULL);
        if (is) {
            cli_report(is); /* names the file; the other images go on */
            rc = 1;
            continue;
        }
        int k = clipc_topk(prob, n_lab, top, idx);
        if (json) {
            fputs("{\"image\": ", stdout);
            json_write_string(stdout, images[i]);
            fputs(", \"top\": [", stdout);
            for (int j = 0; j < k; j++) {
                fputs(j ? ", {\"label\": " : "{\"label\": ", stdout);
                json_write_string(stdout, labels[idx[j]]);
                printf(", \"prob\": %.6f}", (double)prob[idx[j]]);
            }
            fputs("]}\n", stdout);
        } else {
            fwrite(images[i], 1, strlen(images[i]), stdout);
            fputs("\n", stdout);
            for (int j = 0; j < k; j++) printf("  %6.2f%%  %s\n", 100.0 * prob[idx[j]], labels[idx[j]]);
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
    for (int i = 0; i < n_lab; i++) free(labels[i]);
    free(labels);
    free(tmpl);
    free(images);
    return rc;
}
