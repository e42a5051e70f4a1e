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
#include <sys/stat.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_labels.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc eval --model FILE --data FILE [--split test] [--image-root DIR] [--format F] [--json]\n"
    "       clipc eval --model FILE (--labels-dir DIR [--classes-file F] | --labels-csv FILE)\n"
    "                  [--template T]... [--templates imagenet] [--templates-file F] [--json]\n\n"
    "Retrieval: Recall@1/5/10, median and mean rank in both directions (an image is a hit at K\n"
    "if any of its captions ranks in the top K).  Labelled images: zero-shot top-1/top-5\n"
    "accuracy (labels = class folder names with '_' as spaces, or the CSV's image,label rows,\n"
    "quoted as in RFC 4180 when a field holds a comma, or --classes-file's names; prompts\n"
    "from --template, --templates, --templates-file, default \"a photo of a {}.\").  --batch N images per encode call (default 32).\n"
    "--precision f32|bf16|int8: bf16 encodes about 2x faster on AVX512_BF16 CPUs; int8\n"
    "quantises the GEMMs (docs/performance.md gives both their speed and accuracy).\n\n"
    "options:\n";

static int push_str(char ***a, int *n, const char *s) {
    char **na = realloc(*a, sizeof **a * (size_t)(*n + 1));
    if (!na) return -1;
    *a = na;
    if (!(na[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static clipc_status load_dir(const char *dir, clipc_labels *L) {
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
            if (!clipc_image_path_supported(de->d_name)) continue;
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

/* Embeds image files in batches (progress on stderr); out [n x E] normalised. */
static clipc_status embed_images(const clipc_model *m, char *const *paths, int n, int batch, float *out) {
    const clipc_config *c = clipc_model_config(m);
    int R = c->image_resolution, E = c->embed_dim;
    size_t px_n = (size_t)3 * R * R;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
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
                s = clipc_preprocess_transform(&im, &tf, px + (size_t)j * px_n, NULL);
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

typedef struct {
    const char *model_path, *data, *split, *root, *format, *ldir, *lcsv, *classes_file;
    cli_strings tmpl;
    int json, batch, threads, allow_nonfinite;
    clipc_load_opts act_lo; /* --act */
    clipc_precision prec;
} eval_args;

static int parse_args(eval_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "--model", .kind = CLI_STRING, .dest = &a->model_path, .metavar = "FILE",
         .help = "model weights (.safetensors)"},
        {.name = "--data", .kind = CLI_STRING, .dest = &a->data, .metavar = "FILE",
         .help = "caption dataset (retrieval): any format clipc train reads"},
        {.name = "--split", .kind = CLI_STRING, .dest = &a->split, .metavar = "NAME",
         .help = "the split to evaluate (default: every image)"},
        {.name = "--image-root", .kind = CLI_STRING, .dest = &a->root, .metavar = "DIR",
         .help = "folder the image paths are relative to"},
        {.name = "--format", .kind = CLI_STRING, .dest = &a->format, .metavar = "F",
         .help = "dataset format: karpathy, flickr8k, flickr30k, csv, tsv, folder\n(default: auto, from the file)"},
        {.name = "--labels-dir", .kind = CLI_STRING, .dest = &a->ldir, .metavar = "DIR",
         .help = "zero-shot: a folder of images per class"},
        {.name = "--labels-csv", .kind = CLI_STRING, .dest = &a->lcsv, .metavar = "FILE",
         .help = "zero-shot: image,label rows"},
        CLI_OPTS_TEMPLATES(&a->tmpl),
        {.name = "--classes-file", .kind = CLI_STRING, .dest = &a->classes_file, .metavar = "F",
         .help = "--labels-dir: the class names, one per line, for the class\nfolders in sorted order "
                 "(e.g. ImageNet's wnid folders)"},
        {.name = "--batch", .kind = CLI_INT, .dest = &a->batch, .min = 1, .max = 4096, .metavar = "N",
         .help = "images per encode call (default 32)"},
        CLI_OPT_ACT(&a->act_lo),
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &a->allow_nonfinite,
         .help = "load a model whose weights hold nan/inf (forensics)"},
        {.name = "--threads", .kind = CLI_INT, .dest = &a->threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default: all cores)"},
        {.name = "--precision", .kind = CLI_CUSTOM, .dest = &a->prec, .fn = cli_opt_precision, .metavar = "P",
         .help = "f32 (default), bf16 (faster on AVX512_BF16 CPUs) or int8"},
        {.name = "--json", .kind = CLI_FLAG, .dest = &a->json, .help = "one JSON object instead of a table"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "eval", .usage = usage, .width = 20, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc;
    if (!a->model_path) return cli_usage_error("eval", "--model FILE is required");
    if ((!!a->data + !!a->ldir + !!a->lcsv) != 1)
        return cli_usage_error("eval", "give one of --data, --labels-dir, --labels-csv");
    return 0;
}

static void print_retrieval(const eval_args *a, const clipc_retrieval_metrics *r, int ni, int nt) {
    const char *split = a->split;
    if (a->json) {
        printf("{\"data\": ");
        json_write_string(stdout, a->data);
        printf(", \"split\": \"%s\", \"images\": %d, \"captions\": %d, ", split ? split : "all", ni, nt);
        const char *nm[2] = {"i2t", "t2i"};
        for (int d = 0; d < 2; d++) {
            const double *rr = d ? r->t2i_recall : r->i2t_recall;
            printf("\"%s\": {\"R@1\": %.6f, \"R@5\": %.6f, \"R@10\": %.6f, \"median_rank\": %g, \"mean_rank\": %.4f, "
                   "\"queries\": %d}%s",
                   nm[d], rr[0], rr[1], rr[2], d ? r->t2i_median_rank : r->i2t_median_rank,
                   d ? r->t2i_mean_rank : r->i2t_mean_rank, d ? r->n_t2i : r->n_i2t, d ? "}\n" : ", ");
        }
    } else {
        printf("retrieval: %d images, %d captions (split %s)\n", ni, nt, split ? split : "all");
        printf("%-12s %7s %7s %7s %7s %8s %7s\n", "direction", "R@1", "R@5", "R@10", "medR", "meanR", "queries");
        print_dir("image->text", r->i2t_recall, r->i2t_median_rank, r->i2t_mean_rank, r->n_i2t);
        print_dir("text->image", r->t2i_recall, r->t2i_median_rank, r->t2i_mean_rank, r->n_t2i);
    }
}

/* Retrieval over a caption dataset's split. */
static clipc_status eval_retrieval(const clipc_model *m, clipc_tokenizer *tok, const eval_args *a) {
    int E = clipc_model_config(m)->embed_dim;
    clipc_dataset *ds = NULL;
    float *img = NULL, *txt = NULL;
    int *text_image = NULL;
    char **paths = NULL, **caps = NULL;
    clipc_dataset_opts o = {0};
    o.image_root = a->root;
    o.split = a->split;
    o.check_images = 1;
    o.warn = cli_warn;
    clipc_status s = CLIPC_OK;
    if (a->format && (s = clipc_dataset_format_parse(a->format, &o.format))) return s;
    if ((s = clipc_dataset_load(a->data, &o, &ds))) return s;
    int ni = clipc_dataset_n_images(ds), nt = clipc_dataset_n_captions(ds);
    paths = calloc((size_t)ni, sizeof *paths);
    caps = calloc((size_t)nt + 1, sizeof *caps);
    text_image = malloc(sizeof(int) * ((size_t)nt + 1));
    img = malloc(sizeof(float) * (size_t)ni * E);
    txt = malloc(sizeof(float) * ((size_t)nt + 1) * E);
    if (!paths || !caps || !text_image || !img || !txt) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ni && !s; i++) {
        int need = clipc_dataset_image_fullpath(ds, i, NULL, 0) + 1;
        if (!(paths[i] = malloc((size_t)need))) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        else clipc_dataset_image_fullpath(ds, i, paths[i], (size_t)need);
    }
    for (int t = 0; t < nt && !s; t++) {
        caps[t] = (char *)clipc_dataset_caption(ds, t);
        text_image[t] = clipc_dataset_caption_image(ds, t);
    }
    if (!s) s = embed_images(m, paths, ni, a->batch, img);
    int trunc = 0;
    for (int t = 0; t < nt && !s; t += 256) {
        int tr;
        s = clipc_embed_texts(m, tok, (const char *const *)caps + t, nt - t < 256 ? nt - t : 256, txt + (size_t)t * E, &tr);
        trunc += tr;
    }
    if (!s && trunc) fprintf(stderr, "clipc: warning: %d captions longer than the context were truncated\n", trunc);
    clipc_retrieval_metrics r;
    if (!s) s = clipc_eval_embeddings(img, ni, txt, nt, E, text_image, &r);
    if (!s) print_retrieval(a, &r, ni, nt);
    for (int i = 0; paths && i < ni; i++) free(paths[i]);
    free(paths);
    free(caps);
    free(text_image);
    free(img);
    free(txt);
    clipc_dataset_free(ds);
    return s;
}

/* --classes-file: line c names class folder c (sorted order). */
static clipc_status rename_classes(const char *path, clipc_labels *L) {
    cli_strings names = {0};
    clipc_status s = cli_read_lines(path, &names);
    if (!s && names.n != L->n_classes)
        s = clipc_error(CLIPC_ERR_FORMAT, "%s: %d class names for %d class folders (one name per line, in the "
                        "folders' sorted order)", path, names.n, L->n_classes);
    for (int c = 0; !s && c < L->n_classes; c++) {
        char *d = strdup(names.v[c]);
        if (!d) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        else free(L->classes[c]), L->classes[c] = d;
    }
    cli_strings_free(&names);
    return s;
}

/* Zero-shot accuracy over labelled images (a folder per class or a CSV). */
static clipc_status eval_zeroshot(const clipc_model *m, clipc_tokenizer *tok, const eval_args *a) {
    int E = clipc_model_config(m)->embed_dim;
    clipc_labels L = {0};
    float *img = NULL, *w = NULL, *logits = NULL, *prob = NULL;
    clipc_status s = a->ldir ? load_dir(a->ldir, &L) : clipc_labels_read_csv(a->lcsv, a->root, &L);
    if (!s && a->classes_file) s = rename_classes(a->classes_file, &L);
    if (!s) {
        img = malloc(sizeof(float) * (size_t)L.n * E);
        w = malloc(sizeof(float) * (size_t)L.n_classes * E);
        logits = malloc(sizeof(float) * (size_t)L.n * L.n_classes);
        prob = malloc(sizeof(float) * (size_t)L.n * L.n_classes);
        if (!img || !w || !logits || !prob) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    }
    if (!s) s = clipc_zeroshot_weights(m, tok, (const char *const *)L.classes, L.n_classes, a->tmpl.v, a->tmpl.n, w);
    if (!s) s = embed_images(m, L.paths, L.n, a->batch, img);
    if (!s) s = clipc_classify(img, L.n, w, L.n_classes, E, 100.0f, prob, logits);
    double top1, top5;
    if (!s) s = clipc_zeroshot_accuracy(logits, L.n, L.n_classes, L.labels, &top1, &top5);
    if (!s) {
        if (a->json)
            printf("{\"images\": %d, \"classes\": %d, \"top1\": %.6f, \"top5\": %.6f}\n", L.n, L.n_classes, top1, top5);
        else
            printf("zero-shot: %d images, %d classes\n  top-1 %6.2f%%\n  top-5 %6.2f%%\n", L.n, L.n_classes, 100 * top1,
                   100 * top5);
    }
    free(img);
    free(w);
    free(logits);
    free(prob);
    clipc_labels_free(&L);
    return s;
}

int cmd_eval(int argc, char **argv) {
    eval_args a = {.batch = 32, .prec = CLIPC_PRECISION_F32};
    int rc = parse_args(&a, argc, argv);
    if (rc) {
        cli_strings_free(&a.tmpl);
        return rc == CLI_HELP_SHOWN ? 0 : rc;
    }
    clipc_set_threads(a.threads);
    clipc_model *m = NULL;
    clipc_tokenizer *tok = NULL;
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    lo.precision = a.prec;
    lo.allow_nonfinite = a.allow_nonfinite;
    lo.act_given = a.act_lo.act_given;
    lo.act = a.act_lo.act;
    clipc_status s = clipc_model_load(a.model_path, &lo, &m);
    if (!s) s = clipc_model_tokenizer(m, &tok); /* BPE, or the tutorial model's WordPiece */
    if (!s) s = a.data ? eval_retrieval(m, tok, &a) : eval_zeroshot(m, tok, &a);
    cli_strings_free(&a.tmpl);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
    return s ? cli_report(s) : 0;
}
