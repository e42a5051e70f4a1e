/*
 * cmd_info.c — `clipc info FILE [--json]`: what clipc makes of a model
 * file: its layout, the architecture, the parameter count, the tensors per
 * dtype, the activation and head counts with where each came from
 * (metadata, config.json, open_clip_config.json, option, shapes), and the
 * file's metadata.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "clipc.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc info FILE [--json] [--act A] [--vision-heads N] [--text-heads N]\n\n"
    "Describes a model file as clipc loads it.  Values the file does not record are taken\n"
    "as for every command (the options below), and the output says where each came from.\n\n"
    "options:\n";

static int file_arg(const char *arg, void *ud) {
    const char **f = ud;
    if (*f) return cli_usage_error("info", "one file at a time ('%s' and '%s')", *f, arg);
    *f = arg;
    return 0;
}

/* Where the image transform comes from: the file's metadata or the
 * architecture (clipc_model_transform). */
static const char *transform_from(const clipc_model_info *in) {
    for (int i = 0; i < in->n_meta; i++)
        if (!strncmp(in->meta_keys[i], "image_", 6) && strcmp(in->meta_keys[i], "image_resolution"))
            return "metadata";
    return in->cfg.vision_arch == CLIPC_VISION_TV_RESNET ? "the architecture's: timm's resnet50"
                                                          : "the architecture's: OpenAI's";
}

static void print_text(const char *file, const clipc_model_info *in) {
    const clipc_config *c = &in->cfg;
    static const char *const layouts[] = {"OpenAI state dict", "clipc", "open_clip", "Hugging Face CLIPModel"};
    printf("file: ");
    text_write_escaped(stdout, file);
    printf("\nlayout: %s (%s)\n", clipc_layout_name(in->origin.layout), layouts[in->origin.layout]);
    if (clipc_config_is_tutorial(c)) /* the tutorial's model (seed 002) */
        printf("model: the tutorial's CLIP (seed 002): torchvision ResNet + DistilBERT + %s projection heads\n",
               c->head == CLIPC_HEAD_MLP ? "MLP" : "linear");
    if (c->vision_arch == CLIPC_VISION_TV_RESNET)
        printf("vision: torchvision ResNet, blocks [%d, %d, %d, %d], width %d (features %d), resolution %d\n",
               c->vision_blocks[0], c->vision_blocks[1], c->vision_blocks[2], c->vision_blocks[3], c->vision_width,
               32 * c->vision_width, c->image_resolution);
    else if (c->vision_arch == CLIPC_VISION_RESNET)
        printf("vision: ModifiedResNet, blocks [%d, %d, %d, %d], width %d, resolution %d, attention-pool heads %d "
               "(%s)\n", c->vision_blocks[0], c->vision_blocks[1], c->vision_blocks[2], c->vision_blocks[3],
               c->vision_width, c->image_resolution, c->vision_heads, clipc_origin_name(in->origin.vision_heads));
    else
        printf("vision: ViT, %d layers, width %d, patch %d, resolution %d, heads %d (%s)\n", c->vision_layers,
               c->vision_width, c->vision_patch_size, c->image_resolution, c->vision_heads,
               clipc_origin_name(in->origin.vision_heads));
    printf("text: %s%d layers, width %d, heads %d (%s), context %d, vocab %d\n",
           c->text_arch == CLIPC_TEXT_DISTILBERT ? "DistilBERT, " : "", c->transformer_layers,
           c->transformer_width, c->transformer_heads, clipc_origin_name(in->origin.text_heads), c->context_length,
           c->vocab_size);
    /* The image transform, when it is not OpenAI's (whose models print as they always did). */
    const clipc_transform *t = &in->transform;
    clipc_config openai = {.image_resolution = c->image_resolution};
    clipc_transform ot;
    clipc_config_transform(&openai, &ot);
    if (memcmp(t, &ot, sizeof ot))
        printf("images: %sresize the short side to %d (bicubic), centre crop %d, mean [%g, %g, %g], "
               "std [%g, %g, %g] (%s)\n", t->rgb_first ? "RGB first, " : "", t->resize, t->size,
               (double)t->mean[0], (double)t->mean[1], (double)t->mean[2], (double)t->std[0], (double)t->std[1],
               (double)t->std[2], transform_from(in));
    printf("embed_dim: %d\n", c->embed_dim);
    printf("activation: %s (%s)\n", c->act == CLIPC_ACT_GELU ? "gelu" : "quickgelu", clipc_origin_name(in->origin.act));
    printf("parameters: %zu\n", in->n_params);
    printf("tensors: %d (", in->n_tensors);
    for (int i = 0; i < in->n_dtypes; i++) printf("%s%s: %d", i ? ", " : "", in->dtype_names[i], in->dtype_counts[i]);
    printf(")\nmetadata:%s\n", in->n_meta ? "" : " none");
    for (int i = 0; i < in->n_meta; i++) {
        printf("  ");
        text_write_escaped(stdout, in->meta_keys[i]);
        printf(": ");
        if (!strcmp(in->meta_keys[i], "wordpiece_vocab")) /* the tutorial model's vocab.txt: its size only */
            printf("(a WordPiece vocab.txt of %zu bytes)", strlen(in->meta_vals[i]));
        else
            text_write_escaped(stdout, in->meta_vals[i]);
        printf("\n");
    }
}

static void print_json(const char *file, const clipc_model_info *in) {
    char *cfg = clipc_config_json(&in->cfg);
    printf("{\"file\": ");
    json_write_string(stdout, file);
    printf(", \"layout\": \"%s\", \"config\": %s, \"act_from\": \"%s\", \"vision_heads_from\": \"%s\", "
           "\"text_heads_from\": \"%s\", \"parameters\": %zu, \"tensors\": %d, \"dtypes\": {",
           clipc_layout_name(in->origin.layout), cfg ? cfg : "null", clipc_origin_name(in->origin.act),
           clipc_origin_name(in->origin.vision_heads), clipc_origin_name(in->origin.text_heads), in->n_params,
           in->n_tensors);
    for (int i = 0; i < in->n_dtypes; i++) printf("%s\"%s\": %d", i ? ", " : "", in->dtype_names[i], in->dtype_counts[i]);
    const clipc_transform *t = &in->transform;
    printf("}, \"transform\": {\"size\": %d, \"resize\": %d, \"rgb_first\": %s, \"mean\": [%.9g, %.9g, %.9g], "
           "\"std\": [%.9g, %.9g, %.9g], \"from\": \"%s\"}", t->size, t->resize, t->rgb_first ? "true" : "false",
           (double)t->mean[0],
           (double)t->mean[1], (double)t->mean[2], (double)t->std[0], (double)t->std[1], (double)t->std[2],
           strncmp(transform_from(in), "metadata", 8) ? "architecture" : "metadata");
    printf(", \"metadata\": {");
    for (int i = 0; i < in->n_meta; i++) {
        printf("%s", i ? ", " : "");
        json_write_string(stdout, in->meta_keys[i]);
        printf(": ");
        json_write_string(stdout, in->meta_vals[i]);
    }
    printf("}}\n");
    free(cfg);
}

int cmd_info(int argc, char **argv) {
    const char *file = NULL;
    int json = 0;
    clipc_load_opts lo = {0};
    const cli_opt opts[] = {
        {.name = "--json", .kind = CLI_FLAG, .dest = &json, .help = "one JSON object instead of text"},
        CLI_OPT_ACT(&lo),
        {.name = "--vision-heads", .kind = CLI_INT, .dest = &lo.vision_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the image tower if the file does not record them"},
        {.name = "--text-heads", .kind = CLI_INT, .dest = &lo.text_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the text tower if the file does not record them"},
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &lo.allow_nonfinite,
         .help = "describe a model whose weights hold nan/inf"},
    };
    const cli_command cmd = {.cmd = "info", .usage = usage, .width = 18, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = file_arg, .ud = &file};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!file) return cli_usage_error("info", "give a model FILE");
    lo.warn = cli_warn;
    clipc_model_info in;
    clipc_status s = clipc_model_inspect(file, &lo, &in);
    if (s) return cli_report(s);
    if (json) print_json(file, &in);
    else print_text(file, &in);
    clipc_model_info_free(&in);
    return 0;
}
