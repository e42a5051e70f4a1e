/*
 * cmd_convert.c — `clipc convert IN OUT [--to openai|hf] [--dtype
 * f32|f16|bf16]`: loads any model file clipc reads and writes it again
 * (atomically) in OpenAI's layout with clipc's metadata, or in Hugging
 * Face's CLIPModel layout with a config.json beside OUT.
 */
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc convert IN OUT [--to openai|hf] [--dtype f32|f16|bf16] [--act A]\n\n"
    "Reads the model IN (OpenAI / open_clip / Hugging Face / clipc safetensors) and writes OUT:\n"
    "  --to openai  OpenAI's state-dict names with clipc's metadata (config, heads, act);\n"
    "               clipc and OpenAI's code read it\n"
    "  --to hf      Hugging Face CLIPModel names (q/k/v split, projections transposed) and\n"
    "               a config.json in OUT's folder: transformers' CLIPModel.from_pretrained\n"
    "               reads the folder\n"
    "f16 and bf16 round to nearest even.  What IN does not record (heads, activation) is\n"
    "taken as for every command (--act, --vision-heads, --text-heads) and written into OUT.\n\n"
    "options:\n";

typedef struct {
    const char *in, *out;
} paths;

static int path_arg(const char *arg, void *ud) {
    paths *p = ud;
    if (!p->in) p->in = arg;
    else if (!p->out) p->out = arg;
    else return cli_usage_error("convert", "too many arguments ('%s'): give IN and OUT", arg);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    paths p = {0};
    const char *to = "openai", *dtype = "f32";
    clipc_load_opts lo = {0};
    const cli_opt opts[] = {
        {.name = "--to", .kind = CLI_STRING, .dest = &to, .metavar = "L", .help = "openai or hf", .deflt = "openai"},
        {.name = "--dtype", .kind = CLI_STRING, .dest = &dtype, .metavar = "T", .help = "f32, f16 or bf16",
         .deflt = "f32"},
        CLI_OPT_ACT(&lo),
        {.name = "--vision-heads", .kind = CLI_INT, .dest = &lo.vision_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the image tower if IN does not record them"},
        {.name = "--text-heads", .kind = CLI_INT, .dest = &lo.text_heads, .min = 1, .max = 1024, .metavar = "N",
         .help = "heads of the text tower if IN does not record them"},
        {.name = "--allow-nonfinite", .kind = CLI_FLAG, .dest = &lo.allow_nonfinite,
         .help = "convert a model whose weights hold nan/inf"},
    };
    const cli_command cmd = {.cmd = "convert", .usage = usage, .width = 18, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0]), .positional = path_arg, .ud = &p};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!p.out) return cli_usage_error("convert", "give IN and OUT");
    clipc_layout layout;
    if (!strcmp(to, "openai")) layout = CLIPC_LAYOUT_CLIPC;
    else if (!strcmp(to, "hf")) layout = CLIPC_LAYOUT_HF;
    else return cli_usage_error("convert", "--to must be openai or hf, not '%s'", to);
    clipc_dtype dt;
    if (clipc_dtype_parse(dtype, &dt)) return cli_usage_error("convert", "--dtype must be f32, f16 or bf16, not '%s'", dtype);
    lo.warn = cli_warn;
    clipc_model *m;
    clipc_status s = clipc_model_load(p.in, &lo, &m);
    if (s) return cli_report(s);
    s = clipc_model_export(m, p.out, layout, dt);
    clipc_model_free(m);
    if (s) return cli_report(s);
    return 0;
}
