/*
 * cmd_encode.c — `clipc encode`: embeddings of images and texts.
 *
 *   clipc encode --model FILE.safetensors [--image PATH]... [--text STRING]...
 *                [--normalize] [--out FILE] [--format jsonl|safetensors]
 *
 * JSON Lines, one object per input in the order given on the command line:
 * {"input": "<path or text>", "embedding": [floats]} with %.9g floats (enough
 * to give back the float32 bit for bit).  The raw encode_image/encode_text
 * output unless --normalize.  JSON has no nan: a model loaded with
 * --allow-nonfinite may give non-finite values, written as null (the line
 * stays valid JSON).  --format safetensors writes image_embeds and
 * text_embeds tensors (for large batches) with the inputs in the metadata.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "clipc_safetensors.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc encode --model FILE [--image PATH]... [--text STRING]... [options]\n\n"
    "Embeds images and texts with a CLIP model (safetensors or PyTorch .pt, OpenAI key names).\n"
    "Prints JSON Lines {\"input\": ..., \"embedding\": [...]} in the order of the inputs.\n\n"
    "options:\n";

typedef struct {
    const char *value;
    int is_image;
    int row; /* row in the image or text batch */
} input;

static int write_jsonl(FILE *f, const input *in, int n, const float *img, const float *txt, int E) {
    for (int i = 0; i < n; i++) {
        fputs("{\"input\": ", f);
        json_write_string(f, in[i].value);
        fputs(", \"embedding\": ", f);
        json_write_floats(f, (in[i].is_image ? img : txt) + (size_t)in[i].row * E, E);
        fputs("}\n", f);
    }
    return ferror(f) ? -1 : 0;
}

static char *inputs_json(const input *in, int n, int images) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        if (in[i].is_image == images) cJSON_AddItemToArray(a, cJSON_CreateString(in[i].value));
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

typedef struct {
    const char *model_path, *out_path, *format, *vocab, *dir, *list;
    int normalize, threads;
    clipc_load_opts lo;
    input *in; /* argc entries: the --image and --text values in command-line order */
    int n_in, n_img, n_txt;
} encode_args;

static int opt_image(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    encode_args *a = o->dest;
    a->in[a->n_in++] = (input){val, 1, a->n_img++};
    return 0;
}

static int opt_text(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    encode_args *a = o->dest;
    a->in[a->n_in++] = (input){val, 0, a->n_txt++};
    return 0;
}

static int parse_args(encode_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "--model", .kind = CLI_STRING, .dest = &a->model_path, .metavar = "FILE",
         .help = "model weights (safetensors or PyTorch .pt/TorchScript; by content)"},
        {.name = "--image", .kind = CLI_CUSTOM, .dest = a, .fn = opt_image, .metavar = "PATH",
         .help = "an image (JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF); repeatable"},
        {.name = "--text", .kind = CLI_CUSTOM, .dest = a, .fn = opt_text, .metavar = "STRING",
         .help = "a text; repeatable. Longer than the context: truncated with a warning"},
        {.name = "--normalize", .kind = CLI_FLAG, .dest = &a->normalize, .help = "L2-normalise the embeddings"},
        {.name = "--out", .kind = CLI_STRING, .dest = &a->out_path, .metavar = "FILE",
         .help = "write to FILE (atomically) instead of standard output"},
        {.name = "--format", .kind = CLI_STRING, .dest = &a->format, .metavar = "FMT",
         .help = "jsonl (default) or safetensors (tensors image_embeds, text_embeds)"},
        {.name = "--vocab", .kind = CLI_STRING, .dest = &a->vocab, .metavar = "FILE",
         .help = "BPE merges (bpe_simple_vocab_16e6.txt.gz); default: built in"},
        {.name = "--vision-heads", .kind = CLI_INT, .dest = &a->lo.vision_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the image tower if the file does not record them"},
        {.name = "--text-heads", .kind = CLI_INT, .dest = &a->lo.text_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the text tower if the file does not record them"},
        CLI_OPT_ACT(&a->lo),
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &a->lo.allow_nonfinite,
         .help = "load a model whose weights hold nan/inf (forensics)"},
        {.name = "--threads", .kind = CLI_INT, .dest = &a->threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default: all cores)"},
        {.name = "--precision", .kind = CLI_CUSTOM, .dest = &a->lo.precision, .fn = cli_opt_precision, .metavar = "P",
         .help = "f32 (default) or bf16: about 2x faster on AVX512_BF16 CPUs,\n"
                 "cosine >= 0.999 to f32 (elsewhere f32, with a warning); or int8\n"
                 "(s8 weights and inputs, oneDNN integer GEMMs; cosine >= 0.99)"},
        {.name = "--dir", .kind = CLI_STRING, .dest = &a->dir, .metavar = "DIR",
         .help = "bulk: every image under DIR (recursive) -> --out X.npy\n(float32 [n, dim]) + X.npy.paths"},
        {.name = "--list", .kind = CLI_STRING, .dest = &a->list, .metavar = "FILE",
         .help = "bulk: the images listed one per line in FILE -> --out X.npy"},
        CLI_OPT_EXIF,
    };
    const cli_command cmd = {.cmd = "encode", .usage = usage, .width = 20, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc;
    if (!a->model_path) return cli_usage_error("encode", "--model FILE is required");
    return 0;
}

/* The images' embeddings into img (n_img x E), in chunks of 64 so memory
 * stays bounded for long lists. */
static clipc_status encode_images(const clipc_model *m, const encode_args *a, float *img) {
    const clipc_config *c = clipc_model_config(m);
    int R = c->image_resolution, E = c->embed_dim;
    size_t img_floats = (size_t)3 * R * R;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    float *px = malloc(sizeof(float) * img_floats * 64);
    if (!px) return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    clipc_status s = CLIPC_OK;
    for (int start = 0; start < a->n_img && !s; start += 64) {
        int cnt = 0;
        for (int i = 0; i < a->n_in && !s; i++) {
            const input *in = &a->in[i];
            if (!in->is_image || in->row < start || in->row >= start + 64) continue;
            clipc_image im;
            s = clipc_image_load(in->value, &im);
            if (!s) s = clipc_preprocess_transform(&im, &tf, px + (size_t)(in->row - start) * img_floats, NULL);
            clipc_image_free(&im);
            cnt++;
        }
        if (!s) s = clipc_encode_image(m, px, cnt, img + (size_t)start * E);
    }
    free(px);
    return s;
}

/* The texts' embeddings into txt (n_txt x E); a text longer than the
 * context is truncated with a warning. */
static clipc_status encode_texts(const clipc_model *m, const encode_args *a, float *txt) {
    int ctx = clipc_model_config(m)->context_length;
    clipc_tokenizer *tok = NULL;
    /* --vocab: another BPE file; the tutorial's DistilBERT carries its WordPiece */
    clipc_status s = clipc_config_is_tutorial(clipc_model_config(m)) ? clipc_model_tokenizer(m, &tok)
                                                                      : clipc_tokenizer_load(a->vocab, &tok);
    if (s) return s;
    int32_t *ids = calloc((size_t)a->n_txt * ctx, sizeof(int32_t));
    if (!ids) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < a->n_in && !s; i++) {
        const input *in = &a->in[i];
        if (in->is_image) continue;
        const char *t = in->value;
        int32_t *row = ids + (size_t)in->row * ctx;
        s = clipc_tokenize_context(tok, t, strlen(t), ctx, 0, row);
        if (s == CLIPC_ERR_RANGE) {
            fprintf(stderr, "clipc: warning: text %d is longer than the model's %d-token context; truncated\n",
                    in->row + 1, ctx);
            s = clipc_tokenize_context(tok, t, strlen(t), ctx, 1, row);
        }
    }
    if (!s) s = clipc_encode_text(m, ids, a->n_txt, txt);
    free(ids);
    clipc_tokenizer_free(tok);
    return s;
}

static clipc_status write_output(const encode_args *a, const float *img, const float *txt, int E) {
    clipc_status s = CLIPC_OK;
    if (!strcmp(a->format, "safetensors")) {
        char *ji = inputs_json(a->in, a->n_in, 1), *jt = inputs_json(a->in, a->n_in, 0);
        const char *meta[] = {"image_inputs", ji ? ji : "[]", "text_inputs", jt ? jt : "[]",
                              "normalized", a->normalize ? "true" : "false", NULL};
        s = clipc_write_embeddings_safetensors(a->out_path, img, a->n_img, txt, a->n_txt, E, meta);
        free(ji);
        free(jt);
        return s;
    }
    char *buf = NULL;
    size_t buflen = 0;
    FILE *f = a->out_path ? open_memstream(&buf, &buflen) : stdout;
    if (!f || write_jsonl(f, a->in, a->n_in, img, txt, E)) {
        s = clipc_error(CLIPC_ERR_IO, "writing the output failed");
        if (f && f != stdout) fclose(f);
    } else if (a->out_path) {
        fclose(f);
        s = clipc_write_file_atomic(a->out_path, buf, buflen);
    }
    free(buf);
    return s;
}

static int encode_inputs(const encode_args *a) {
    clipc_model *m = NULL;
    float *img = NULL, *txt = NULL;
    clipc_status s = clipc_model_load(a->model_path, &a->lo, &m);
    if (s) return cli_report(s);
    int E = clipc_model_config(m)->embed_dim;
    img = calloc((size_t)a->n_img * E + 1, sizeof(float));
    txt = calloc((size_t)a->n_txt * E + 1, sizeof(float));
    if (!img || !txt) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
    if (!s) s = encode_images(m, a, img);
    if (!s && a->n_txt) s = encode_texts(m, a, txt);
    if (!s && a->normalize) {
        clipc_l2_normalize(img, a->n_img, E);
        clipc_l2_normalize(txt, a->n_txt, E);
    }
    if (!s) s = write_output(a, img, txt, E);
    free(img);
    free(txt);
    clipc_model_free(m);
    return s ? cli_report(s) : 0;
}

int cmd_encode(int argc, char **argv) {
    encode_args a = {.format = "jsonl"};
    a.lo.warn = cli_warn;
    a.in = calloc((size_t)argc, sizeof *a.in);
    if (!a.in) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    int rc = parse_args(&a, argc, argv);
    if (!rc && (a.dir || a.list)) {
        free(a.in);
        if ((a.dir && a.list) || a.n_in || !a.out_path)
            return cli_usage_error("encode", "bulk mode: one of --dir/--list with --out X.npy, and no --image/--text");
        clipc_set_threads(a.threads);
        return encode_bulk(a.model_path, &a.lo, a.dir, a.list, a.out_path, a.normalize);
    }
    if (!rc && a.n_in == 0) rc = cli_usage_error("encode", "nothing to encode: give --image PATH or --text STRING");
    if (!rc && strcmp(a.format, "jsonl") && strcmp(a.format, "safetensors"))
        rc = cli_usage_error("encode", "--format must be jsonl or safetensors");
    if (!rc && !strcmp(a.format, "safetensors") && !a.out_path)
        rc = cli_usage_error("encode", "--format safetensors needs --out FILE");
    if (!rc) {
        clipc_set_threads(a.threads);
        rc = encode_inputs(&a);
    }
    free(a.in);
    return rc == CLI_HELP_SHOWN ? 0 : rc;
}
