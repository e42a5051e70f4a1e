/*
 * cmd_export.c — `clipc export --onnx DIR --model M [--force] [--immich-io]`:
 * writes the model's image and text encoders as ONNX models in the folder
 * layout of Immich's CLIP models (clipc_model_export_onnx; docs/models.md).
 */
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc export --onnx DIR --model M [--force] [--immich-io]\n\n"
    "Writes the encoders of the model M as ONNX models (opset 17, float32), in the folder\n"
    "layout of Immich's CLIP models:\n"
    "  DIR/visual/model.onnx     pixel_values float32 [N,3,R,R] -> image_embeds [N,E]\n"
    "  DIR/textual/model.onnx    input_ids int64 [N,context] -> text_embeds [N,E]\n"
    "  DIR/config.json, DIR/visual/preprocess_cfg.json, DIR/textual/tokenizer.json,\n"
    "  DIR/textual/tokenizer_config.json, DIR/textual/special_tokens_map.json\n"
    "The embeddings are NOT normalised: they are `clipc encode`'s (without --normalize).\n"
    "Input images are preprocessed as OpenAI's (bicubic resize of the short side, centre\n"
    "crop, mean/std); texts are context_length-token contexts (77 for OpenAI's models) as\n"
    "`clipc tokenize` gives.  OpenAI's towers (ViT or ModifiedResNet, the text transformer)\n"
    "are exported; each file must stay under 2 GB.\n"
    "DIR is created if missing and must be empty unless --force.\n\n"
    "options:\n";

int cmd_export(int argc, char **argv) {
    const char *dir = NULL, *model = NULL;
    int force = 0, immich_io = 0;
    clipc_load_opts lo = {0};
    const cli_opt opts[] = {
        {.name = "--onnx", .kind = CLI_STRING, .dest = &dir, .metavar = "DIR", .help = "the folder to write"},
        {.name = "--model", .kind = CLI_STRING, .dest = &model, .metavar = "M", .help = "the model file"},
        {.name = "--force", .kind = CLI_FLAG, .dest = &force, .help = "write into a folder that is not empty"},
        {.name = "--immich-io", .kind = CLI_FLAG, .dest = &immich_io,
         .help = "name the inputs as Immich feeds them: image, and text (int32 ids)"},
        CLI_OPT_ACT(&lo),
        {.name = "--vision-heads", .kind = CLI_INT, .dest = &lo.vision_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the image tower if M does not record them"},
        {.name = "--text-heads", .kind = CLI_INT, .dest = &lo.text_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the text tower if M does not record them"},
    };
    const cli_command cmd = {.cmd = "export", .usage = usage, .width = 18, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!dir) return cli_usage_error("export", "give --onnx DIR (the only export format)");
    if (!model) return cli_usage_error("export", "give --model M");
    lo.warn = cli_warn;
    clipc_model *m;
    clipc_status s = clipc_model_load(model, &lo, &m);
    if (s) return cli_report(s);
    s = clipc_model_export_onnx(m, dir, (force ? CLIPC_ONNX_FORCE : 0) | (immich_io ? CLIPC_ONNX_IMMICH_IO : 0));
    clipc_model_free(m);
    if (s) return cli_report(s);
    printf("wrote %s/visual/model.onnx and %s/textual/model.onnx\n", dir, dir);
    return 0;
}
