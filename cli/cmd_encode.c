/*
 * cmd_encode.c — `clipc encode`: embeddings of images and texts.
 *
 *   clipc encode --model FILE.safetensors [--image PATH]... [--text STRING]...
 *                [--normalize] [--out FILE] [--format jsonl|safetensors]
 *
 * JSON Lines, one object per input in the order given on the command line:
 * {"input": "<path or text>", "embedding": [floats]} with %.9g floats (enough
 * to give back the float32 bit for bit).  The raw encode_image/encode_text
 * output unless --normalize.  --format safetensors writes image_embeds and
 * text_embeds tensors (for large batches) with the inputs in the metadata.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "formats/safetensors.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: clipc encode --model FILE [--image PATH]... [--text STRING]... [options]\n\n"
            "Embeds images and texts with a CLIP model (safetensors, OpenAI key names).\n"
            "Prints JSON Lines {\"input\": ..., \"embedding\": [...]} in the order of the inputs.\n\n"
            "options:\n"
            "  --model FILE         model weights (.safetensors; recognised by content)\n"
            "  --image PATH         an image (PNG or JPEG); repeatable\n"
            "  --text STRING        a text; repeatable. Longer than the context: truncated with a warning\n"
            "  --normalize          L2-normalise the embeddings\n"
            "  --out FILE           write to FILE (atomically) instead of standard output\n"
            "  --format FMT         jsonl (default) or safetensors (tensors image_embeds, text_embeds)\n"
            "  --vocab FILE         BPE merges (bpe_simple_vocab_16e6.txt.gz); default: built in\n"
            "  --vision-heads N     heads of the image tower if the file does not record them\n"
            "  --text-heads N       heads of the text tower if the file does not record them\n"
            "  --threads N          threads (default: all cores)\n"
            "  --precision P        f32 (default) or bf16: about 2x faster on AVX512_BF16 CPUs,\n"
            "                       cosine >= 0.999 to f32 (elsewhere f32, with a warning)\n"
            "  --dir DIR | --list FILE   bulk: every image under DIR (recursive) or listed one per\n"
            "                       line in FILE -> --out X.npy (float32 [n, dim]) + X.npy.paths\n");
}

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

int cmd_encode(int argc, char **argv) {
    const char *model_path = NULL, *out_path = NULL, *format = "jsonl", *vocab = NULL, *dir = NULL, *list = NULL;
    int normalize = 0, threads = 0, n_in = 0, n_img = 0, n_txt = 0;
    clipc_load_opts lo = {0};
    lo.warn = cli_warn;
    input *in = calloc((size_t)argc, sizeof *in);
    if (!in) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--model") || !strcmp(a, "--image") || !strcmp(a, "--text") || !strcmp(a, "--out") ||
                    !strcmp(a, "--format") || !strcmp(a, "--vocab") || !strcmp(a, "--vision-heads") ||
                    !strcmp(a, "--text-heads") || !strcmp(a, "--threads") || !strcmp(a, "--precision") ||
                    !strcmp(a, "--dir") || !strcmp(a, "--list");
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(in);
            return 0;
        }
        if (takes && !v) {
            rc = cli_usage_error("encode", "%s needs a value", a);
            break;
        }
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--image")) in[n_in++] = (input){v, 1, n_img++};
        else if (!strcmp(a, "--text")) in[n_in++] = (input){v, 0, n_txt++};
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--list")) list = v;
        else if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--vision-heads")) rc = cli_parse_int("encode", a, v, 1, 1024, &lo.vision_heads);
        else if (!strcmp(a, "--text-heads")) rc = cli_parse_int("encode", a, v, 1, 1024, &lo.text_heads);
        else if (!strcmp(a, "--threads")) rc = cli_parse_int("encode", a, v, 0, 1024, &threads);
        else if (!strcmp(a, "--precision")) rc = cli_parse_precision("encode", v, &lo.precision);
        else if (!strcmp(a, "--normalize")) normalize = 1;
        else rc = cli_usage_error("encode", "unknown option '%s'", a);
        if (takes) i++;
    }
    if (!rc && !model_path) rc = cli_usage_error("encode", "--model FILE is required");
    if (!rc && (dir || list)) {
        free(in);
        if ((dir && list) || n_in || !out_path)
            return cli_usage_error("encode", "bulk mode: one of --dir/--list with --out X.npy, and no --image/--text");
        clipc_set_threads(threads);
        return encode_bulk(model_path, &lo, dir, list, out_path, normalize);
    }
    if (!rc && n_in == 0) rc = cli_usage_error("encode", "nothing to encode: give --image PATH or --text STRING");
    if (!rc && strcmp(format, "jsonl") && strcmp(format, "safetensors"))
        rc = cli_usage_error("encode", "--format must be jsonl or safetensors");
    if (!rc && !strcmp(format, "safetensors") && !out_path)
        rc = cli_usage_error("encode", "--format safetensors needs --out FILE");
    if (rc) {
        free(in);
        return rc;
    }
    clipc_set_threads(threads);

    clipc_model *m = NULL;
    clipc_tokenizer *tok = NULL;
    float *px = NULL, *img = NULL, *txt = NULL;
    int32_t *ids = NULL;
    char *buf = NULL;
    size_t buflen = 0;
    clipc_status s = clipc_model_load(model_path, &lo, &m);
    if (s) goto done;
    const clipc_config *c = clipc_model_config(m);
    int R = c->image_resolution, E = c->embed_dim, ctx = c->context_length;
    size_t img_floats = (size_t)3 * R * R;
    img = calloc((size_t)n_img * E + 1, sizeof(float));
    txt = calloc((size_t)n_txt * E + 1, sizeof(float));
    if (!img || !txt) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Images in chunks of 64 so memory stays bounded for long lists. */
    px = malloc(sizeof(float) * img_floats * 64);
    if (!px) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int start = 0; start < n_img; start += 64) {
        int cnt = 0;
        for (int i = 0; i < n_in; i++) {
            if (!in[i].is_image || in[i].row < start || in[i].row >= start + 64) continue;
            clipc_image im;
            s = clipc_image_load(in[i].value, &im);
            if (!s) s = clipc_preprocess(&im, R, px + (size_t)(in[i].row - start) * img_floats, NULL);
            clipc_image_free(&im);
            if (s) goto done;
            cnt++;
        }
        s = clipc_encode_image(m, px, cnt, img + (size_t)start * E);
        if (s) goto done;
    }
    if (n_txt) {
        s = clipc_tokenizer_load(vocab, &tok);
        if (s) goto done;
        ids = calloc((size_t)n_txt * ctx, sizeof(int32_t));
        if (!ids) {
            s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < n_in; i++) {
            if (in[i].is_image) continue;
            const char *t = in[i].value;
            int32_t *row = ids + (size_t)in[i].row * ctx;
            s = clipc_tokenize_context(tok, t, strlen(t), ctx, 0, row);
            if (s == CLIPC_ERR_RANGE) {
                fprintf(stderr, "clipc: warning: text %d is longer than the model's %d-token context; truncated\n",
                        in[i].row + 1, ctx);
                s = clipc_tokenize_context(tok, t, strlen(t), ctx, 1, row);
            }
            if (s) goto done;
        }
        s = clipc_encode_text(m, ids, n_txt, txt);
        if (s) goto done;
    }
    if (normalize) {
        clipc_l2_normalize(img, n_img, E);
        clipc_l2_normalize(txt, n_txt, E);
    }
    if (!strcmp(format, "safetensors")) {
        char *ji = inputs_json(in, n_in, 1), *jt = inputs_json(in, n_in, 0);
        st_out_tensor t[2];
        int nt = 0;
        if (n_img) t[nt++] = (st_out_tensor){"image_embeds", ST_F32, 2, {n_img, E}, img};
        if (n_txt) t[nt++] = (st_out_tensor){"text_embeds", ST_F32, 2, {n_txt, E}, txt};
        const char *meta[] = {"image_inputs", ji ? ji : "[]", "text_inputs", jt ? jt : "[]",
                              "normalized", normalize ? "true" : "false", NULL};
        s = st_write(out_path, t, nt, meta);
        free(ji);
        free(jt);
        if (s) goto done;
    } else {
        FILE *f = out_path ? open_memstream(&buf, &buflen) : stdout;
        if (!f || write_jsonl(f, in, n_in, img, txt, E)) {
            s = clipc_error(CLIPC_ERR_IO, "writing the output failed");
            if (f && f != stdout) fclose(f);
            goto done;
        }
        if (out_path) {
            fclose(f);
            s = clipc_write_file_atomic(out_path, buf, buflen);
            if (s) goto done;
        }
    }
done:
    free(buf);
    free(ids);
    free(px);
    free(img);
    free(txt);
    free(in);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
    return s ? cli_report(s) : 0;
}
