/*
 * cmd_eval.c — `clipc eval`: the figures papers report.
 *   caption dataset (--data, any format the dataset reader knows, a split):
 *     image->text and text->image Recall@1/5/10, median and mean rank, via
 *     clipc_eval_embeddings -> clipc_retrieval_eval (src/metrics.c, the one
 *     implementation training uses too);
 *   labelled images (--labels-dir DIR with a folder per class, or
 *     --labels-csv FILE of image,label rows): zero-shot top-1 / top-5 via
 *     clipc_zeroshot_accuracy, logits = 100 x cosine.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/csv.h"
#include "base/utf8.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: clipc eval --model FILE --data FILE [--split test] [--image-root DIR] [--format F] [--json]\n"
               "       clipc eval --model FILE (--labels-dir DIR | --labels-csv FILE) [--template T]... [--json]\n\n"
               "Retrieval: Recall@1/5/10, median and mean rank in both directions (an image is a hit at K\n"
               "if any of its captions ranks in the top K).  Labelled images: zero-shot top-1/top-5\n"
               "accuracy (labels = class folder names with '_' as spaces, or the CSV's image,label rows,\n"
               "quoted as in RFC 4180 when a field holds a comma; prompts from --template,\n"
               "default \"a photo of a {}.\").  --batch N images per encode call (default 32).\n"
               "--precision f32|bf16: bf16 encodes about 2x faster on AVX512_BF16 CPUs.\n");
}

typedef struct {
    char **paths;
    int *labels;
    int n;
    char **classes;
    int n_classes;
} labelled;

static int push_str(char ***a, int *n, const char *s) {
    char **na = realloc(*a, sizeof **a * (size_t)(*n + 1));
    if (!na) return -1;
    *a = na;
    if (!(na[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

static int is_image(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static clipc_status load_dir(const char *dir, labelled *L) {
    DIR *d = opendir(dir);
    if (!d) return clipc_error(CLIPC_ERR_IO, "%s: cannot open the folder", dir);
    char p[4096];
    for (struct dirent *de; (de = readdir(d));) {
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && !stat(p, &st) && S_ISDIR(st.st_mode) && push_str(&L->classes, &L->n_classes, de->d_name)) {
            closedir(d);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        }
    }
    closedir(d);
    if (L->n_classes) qsort(L->classes, (size_t)L->n_classes, sizeof *L->classes, cmp_str);
    for (int c = 0; c < L->n_classes; c++) {
        snprintf(p, sizeof p, "%s/%s", dir, L->classes[c]);
        int first = L->n;
        if (!(d = opendir(p))) return clipc_error(CLIPC_ERR_IO, "%s: cannot open the folder", p);
        for (struct dirent *de; (de = readdir(d));) {
            if (!is_image(de->d_name)) continue;
            char f[8192];
            snprintf(f, sizeof f, "%s/%s", p, de->d_name);
            int *nl = realloc(L->labels, sizeof(int) * (size_t)(L->n + 1));
            if (!nl || (L->labels = nl, push_str(&L->paths, &L->n, f))) {
                closedir(d);
                return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            }
            L->labels[L->n - 1] = c;
        }
        closedir(d);
        if (L->n > first) qsort(L->paths + first, (size_t)(L->n - first), sizeof *L->paths, cmp_str);
        for (char *q = L->classes[c]; *q; q++)
            if (*q == '_') *q = ' ';
    }
    if (!L->n) return clipc_error(CLIPC_ERR_FORMAT, "%s: no images in class folders", dir);
    return CLIPC_OK;
}

/* image,label rows, RFC 4180 (quote a field holding a comma or a quote;
 * header "image,label" optional); paths relative to root.  The label is the
 * last field, so an unquoted image path with commas still reads. */
static clipc_status load_csv(const char *path, const char *root, labelled *L) {
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(path, &data, &len);
    if (s) return s;
    char rootbuf[4096];
    if (!root) {
        snprintf(rootbuf, sizeof rootbuf, "%s", path);
        char *sl = strrchr(rootbuf, '/');
        if (sl) *sl = 0;
        else strcpy(rootbuf, ".");
        root = rootbuf;
    }
    const char *p = data + utf8_bom_len(data, len), *end = data + len, *bad;
    csv_record r = {0};
    int line = 1, got;
    while (!s && (got = csv_next(&p, end, ',', &r, &line, &bad)) != 0) {
        int at = p > data && p[-1] == '\n' ? line - 1 : line; /* the line the record ends on */
        if (got < 0) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            break;
        }
        if (bad) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s:%d: %s", path, at, bad);
            break;
        }
        const char *img = r.buf + r.off[0], *label = r.buf + r.off[r.n - 1];
        if (r.n == 1 && !*img) continue; /* blank line */
        if (L->n == 0 && r.n == 2 && !strcasecmp(img, "image") && !strcasecmp(label, "label")) continue;
        if (r.n < 2 || !*img || !*label) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s:%d: want image,label", path, at);
            break;
        }
        for (int f = 1; f < r.n - 1; f++) r.buf[r.off[f] - 1] = ','; /* unquoted commas in the path */
        int c = 0;
        while (c < L->n_classes && strcmp(L->classes[c], label)) c++;
        if (c == L->n_classes && push_str(&L->classes, &L->n_classes, label)) s = CLIPC_ERR_NOMEM;
        char f[8192];
        snprintf(f, sizeof f, "%s/%s", root, img);
        int *nl = s ? NULL : realloc(L->labels, sizeof(int) * (size_t)(L->n + 1));
        if (!nl || (L->labels = nl, push_str(&L->paths, &L->n, f))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        else L->labels[L->n - 1] = c;
    }
    csv_record_free(&r);
    free(data);
    if (!s && !L->n) s = clipc_error(CLIPC_ERR_FORMAT, "%s: no rows", path);
    return s;
}

/* Embeds image files in batches (progress on stderr); out [n x E] normalised. */
static clipc_status embed_images(const clipc_model *m, char *const *paths, int n, int batch, float *out) {
    const clipc_config *c = clipc_model_config(m);
    int R = c->image_resolution, E = c->embed_dim;
    size_t px_n = (size_t)3 * R * R;
    float *px = malloc(sizeof(float) * px_n * (size_t)batch);
    if (!px) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    progress pr;
    progress_init(&pr, "eval: images");
    clipc_status s = CLIPC_OK;
    for (int i = 0; i < n && !s; i += batch) {
        int b = n - i < batch ? n - i : batch;
        for (int j = 0; j < b && !s; j++) {
            clipc_image im;
            s = clipc_image_load(paths[i + j], &im);
            if (!s) {
                s = clipc_preprocess(&im, R, px + (size_t)j * px_n, NULL);
                if (s) clipc_error_prefix("%s", paths[i + j]);
                clipc_image_free(&im);
            }
        }
        if (!s) s = clipc_encode_image(m, px, b, out + (size_t)i * E);
        progress_update(&pr, i + b, n);
    }
    free(px);
    if (!s) clipc_l2_normalize(out, n, E);
    return s;
}

static void print_dir(const char *name, const double *r, double med, double mean, int n) {
    printf("%-12s %7.2f %7.2f %7.2f %7.0f %8.2f %7d\n", name, 100 * r[0], 100 * r[1], 100 * r[2], med, mean, n);
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *split = NULL, *root = NULL, *format = NULL, *ldir = NULL, *lcsv = NULL;
    const char **tmpl = calloc((size_t)argc, sizeof *tmpl);
    int n_tmpl = 0, json = 0, batch = 32, threads = 0, rc = 0;
    clipc_precision prec = CLIPC_PRECISION_F32;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(tmpl);
            return 0;
        }
        int takes = strcmp(a, "--json") != 0;
        if (takes && !v) {
            rc = cli_usage_error("eval", "%s needs a value", a);
            break;
        }
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--split")) split = v;
        else if (!strcmp(a, "--image-root")) root = v;
        else if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "--labels-dir")) ldir = v;
        else if (!strcmp(a, "--labels-csv")) lcsv = v;
        else if (!strcmp(a, "--template")) tmpl[n_tmpl++] = v;
        else if (!strcmp(a, "--batch")) rc = cli_parse_int("eval", a, v, 1, 4096, &batch);
        else if (!strcmp(a, "--threads")) rc = cli_parse_int("eval", a, v, 0, 1024, &threads);
        else if (!strcmp(a, "--precision")) rc = cli_parse_precision("eval", v, &prec);
        else if (!strcmp(a, "--json")) json = 1;
        else rc = cli_usage_error("eval", "unknown option '%s'", a);
        if (takes) i++;
    }
    if (!rc && !model_path) rc = cli_usage_error("eval", "--model FILE is required");
    if (!rc && (!!data + !!ldir + !!lcsv) != 1) rc = cli_usage_error("eval", "give one of --data, --labels-dir, --labels-csv");
    if (rc) {
        free(tmpl);
        return rc;
    }
    clipc_set_threads(threads);
    clipc_model *m = NULL;
    clipc_dataset *ds = NULL;
    clipc_tokenizer *tok = NULL;
    float *img = NULL, *txt = NULL, *w = NULL, *logits = NULL, *prob = NULL;
    int *text_image = NULL;
    char **paths = NULL, **caps = NULL;
    labelled L = {0};
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = prec;
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (!s) s = clipc_tokenizer_load(NULL, &tok);
    if (s) goto done;
    int E = clipc_model_config(m)->embed_dim;
    if (data) {
        clipc_dataset_opts o = {0};
        o.image_root = root;
        o.split = split;
        o.check_images = 1;
        o.warn = cli_warn;
        if (format && (s = clipc_dataset_format_parse(format, &o.format))) goto done;
        if ((s = clipc_dataset_load(data, &o, &ds))) goto done;
        int ni = clipc_dataset_n_images(ds), nt = clipc_dataset_n_captions(ds);
        paths = calloc((size_t)ni, sizeof *paths);
        caps = calloc((size_t)nt + 1, sizeof *caps);
        text_image = malloc(sizeof(int) * ((size_t)nt + 1));
        img = malloc(sizeof(float) * (size_t)ni * E);
        txt = malloc(sizeof(float) * ((size_t)nt + 1) * E);
        if (!paths || !caps || !text_image || !img || !txt) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < ni && !s; i++) {
            int need = clipc_dataset_image_fullpath(ds, i, NULL, 0) + 1;
            if (!(paths[i] = malloc((size_t)need))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            else clipc_dataset_image_fullpath(ds, i, paths[i], (size_t)need);
        }
        for (int t = 0; t < nt; t++) {
            caps[t] = (char *)clipc_dataset_caption(ds, t);
            text_image[t] = clipc_dataset_caption_image(ds, t);
        }
        if (!s) s = embed_images(m, paths, ni, batch, img);
        int trunc = 0;
        for (int t = 0; t < nt && !s; t += 256) {
            int tr;
            s = clipc_embed_texts(m, tok, (const char *const *)caps + t, nt - t < 256 ? nt - t : 256, txt + (size_t)t * E, &tr);
            trunc += tr;
        }
        if (!s && trunc) fprintf(stderr, "clipc: warning: %d captions longer than the context were truncated\n", trunc);
        clipc_retrieval_metrics r;
        if (!s) s = clipc_eval_embeddings(img, ni, txt, nt, E, text_image, &r);
        if (s) goto done;
        if (json) {
            printf("{\"data\": ");
            json_write_string(stdout, data);
            printf(", \"split\": \"%s\", \"images\": %d, \"captions\": %d, ", split ? split : "all", ni, nt);
            const char *nm[2] = {"i2t", "t2i"};
            for (int d = 0; d < 2; d++) {
                const double *rr = d ? r.t2i_recall : r.i2t_recall;
                printf("\"%s\": {\"R@1\": %.6f, \"R@5\": %.6f, \"R@10\": %.6f, \"median_rank\": %g, \"mean_rank\": %.4f, "
                       "\"queries\": %d}%s",
                       nm[d], rr[0], rr[1], rr[2], d ? r.t2i_median_rank : r.i2t_median_rank,
                       d ? r.t2i_mean_rank : r.i2t_mean_rank, d ? r.n_t2i : r.n_i2t, d ? "}\n" : ", ");
            }
        } else {
            printf("retrieval: %d images, %d captions (split %s)\n", ni, nt, split ? split : "all");
            printf("%-12s %7s %7s %7s %7s %8s %7s\n", "direction", "R@1", "R@5", "R@10", "medR", "meanR", "queries");
            print_dir("image->text", r.i2t_recall, r.i2t_median_rank, r.i2t_mean_rank, r.n_i2t);
            print_dir("text->image", r.t2i_recall, r.t2i_median_rank, r.t2i_mean_rank, r.n_t2i);
        }
    } else {
        s = ldir ? load_dir(ldir, &L) : load_csv(lcsv, root, &L);
        if (s) goto done;
        img = malloc(sizeof(float) * (size_t)L.n * E);
        w = malloc(sizeof(float) * (size_t)L.n_classes * E);
        logits = malloc(sizeof(float) * (size_t)L.n * L.n_classes);
        prob = malloc(sizeof(float) * (size_t)L.n * L.n_classes);
        if (!img || !w || !logits || !prob) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            goto done;
        }
        s = clipc_zeroshot_weights(m, tok, (const char *const *)L.classes, L.n_classes, tmpl, n_tmpl, w);
        if (!s) s = embed_images(m, L.paths, L.n, batch, img);
        if (!s) s = clipc_classify(img, L.n, w, L.n_classes, E, 100.0f, prob, logits);
        double top1, top5;
        if (!s) s = clipc_zeroshot_accuracy(logits, L.n, L.n_classes, L.labels, &top1, &top5);
        if (s) goto done;
        if (json)
            printf("{\"images\": %d, \"classes\": %d, \"top1\": %.6f, \"top5\": %.6f}\n", L.n, L.n_classes, top1, top5);
        else
            printf("zero-shot: %d images, %d classes\n  top-1 %6.2f%%\n  top-5 %6.2f%%\n", L.n, L.n_classes, 100 * top1,
                   100 * top5);
    }
done:
    if (paths)
        for (int i = 0; ds && i < clipc_dataset_n_images(ds); i++) free(paths[i]);
    free(paths);
    free(caps);
    free(text_image);
    free(img);
    free(txt);
    free(w);
    free(logits);
    free(prob);
    for (int i = 0; i < L.n; i++) free(L.paths[i]);
    for (int i = 0; i < L.n_classes; i++) free(L.classes[i]);
    free(L.paths);
    free(L.classes);
    free(L.labels);
    free(tmpl);
    clipc_dataset_free(ds);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
    return s ? cli_report(s) : 0;
}
