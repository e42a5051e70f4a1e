/*
 * cmd_bench.c — `clipc bench`: training and encoding throughput of a named
 * config on random inputs, as JSON with the PyTorch peer's keys.
 */
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "clipc_bench.h"
#include "cli.h"

static const char usage_fmt[] =
    "usage: clipc bench (--config NAME | --model FILE) [--batch N] [--steps N] [--warmup N]\n"
    "                   [--reps N] [--threads N] [--mode train|infer|all] [--seed N]\n"
    "                   [--precision f32|bf16|both|int8] [--json]\n\n"
    "Times training steps (forward + backward + AdamW) and encoding for a named config\n"
    "on random inputs shaped like the PyTorch peer's (shared/bench/torch_clip.py).\n"
    "Configs: %s.  Defaults: batch 64, 3 timed steps after 1 warm-up for seed-b16/b32/\n"
    "ViT-*, 20 after 3 otherwise; 2 threads (--threads 0 = all cores).\n"
    "--json prints one line: RESULT {json} with train_pairs_per_s, encode_img_per_s,\n"
    "encode_txt_per_s, peak_rss_mib, GFLOP/s and an SGEMM probe taken in the same run.\n"
    "--precision (default both): encoding in f32, bf16 (AVX512_BF16 CPUs; f32 elsewhere),\n"
    "or both alternating call by call; the encode keys are f32's unless only bf16 ran,\n"
    "the bf16_* keys bf16's (null when not measured).  --precision int8: f32 and int8\n"
    "alternating call by call; the int8_* keys are int8's, and the log names the oneDNN\n"
    "kernel its GEMMs ran on.  Training is always f32.\n"
    "--model FILE times a model file's weights instead of random ones (its config is the\n"
    "file's; bench/compare --peer ort uses it to run the peer's exact weights).  The\n"
    "kernels line (and \"kernels\" key) names oneDNN's instruction set and OpenBLAS's core.\n\n"
    "options:\n";

static void log_line(const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "%s\n", msg);
}

int cmd_bench(int argc, char **argv) {
    clipc_bench_opts o = {0};
    const char *name = NULL, *model = NULL, *mode = "all", *prec = "both";
    int json = 0, threads = 2, steps = -1, warmup = -1, reps = -1, seed = 0;
    o.batch = 64;
    const cli_opt opts[] = {
        {.name = "--config", .kind = CLI_STRING, .dest = &name, .metavar = "NAME", .help = "the model config (see above)"},
        {.name = "--model", .kind = CLI_STRING, .dest = &model, .metavar = "FILE",
         .help = "weights from this model file instead of random ones"},
        {.name = "--batch", .kind = CLI_INT, .dest = &o.batch, .min = 1, .max = 4096, .metavar = "N",
         .help = "pairs per training step and images/texts per encode call"},
        {.name = "--steps", .kind = CLI_INT, .dest = &steps, .min = 1, .max = 100000, .metavar = "N",
         .help = "timed training steps"},
        {.name = "--warmup", .kind = CLI_INT, .dest = &warmup, .min = 0, .max = 100000, .metavar = "N",
         .help = "untimed training steps first"},
        {.name = "--reps", .kind = CLI_INT, .dest = &reps, .min = 1, .max = 100000, .metavar = "N",
         .help = "timed encode calls (3 for the big configs, 10 otherwise)"},
        {.name = "--threads", .kind = CLI_INT, .dest = &threads, .min = 0, .max = 1024, .metavar = "N",
         .help = "threads (default 2; 0 = all cores)"},
        {.name = "--mode", .kind = CLI_STRING, .dest = &mode, .metavar = "M", .help = "train, infer or all (default)"},
        {.name = "--seed", .kind = CLI_INT, .dest = &seed, .min = 0, .max = 1 << 30, .metavar = "N",
         .help = "seed of the random weights and inputs"},
        {.name = "--precision", .kind = CLI_STRING, .dest = &prec, .metavar = "P", .help = "f32, bf16, both (default) or int8"},
        {.name = "--json", .kind = CLI_FLAG, .dest = &json, .help = "print RESULT {json}"},
    };
    char usage[2048];
    snprintf(usage, sizeof usage, usage_fmt, clipc_config_names());
    const cli_command cmd = {.cmd = "bench", .usage = usage, .width = 16, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (!name && !model)
        return cli_usage_error("bench", "--config NAME or --model FILE is required (configs: %s)", clipc_config_names());
    if (name && model) return cli_usage_error("bench", "--config and --model exclude each other");
    clipc_status s = CLIPC_OK;
    o.model_path = model;
    if (model) {
        /* the defaults below go by the image size: read it from the file */
        clipc_model *m;
        if ((s = clipc_model_load(model, NULL, &m))) return cli_report(s);
        o.cfg = *clipc_model_config(m);
        clipc_model_free(m);
        name = model;
    } else if ((s = clipc_config_named(name, &o.cfg))) {
        return cli_report(s);
    }
    if (strcmp(mode, "train") && strcmp(mode, "infer") && strcmp(mode, "all"))
        return cli_usage_error("bench", "--mode must be train, infer or all");
    if (!strcmp(prec, "both")) o.bf16 = 2;
    else if (!strcmp(prec, "bf16")) o.bf16 = 1;
    else if (!strcmp(prec, "int8")) o.int8 = 1;
    else if (strcmp(prec, "f32")) return cli_usage_error("bench", "--precision must be f32, bf16, both or int8");
    o.train = strcmp(mode, "infer") != 0;
    o.infer = strcmp(mode, "train") != 0;
    int big = o.cfg.image_resolution >= 224;
    o.steps = steps > 0 ? steps : (big ? 3 : 20);
    o.warmup = warmup >= 0 ? warmup : (big ? 1 : 3);
    o.infer_reps = reps > 0 ? reps : (big ? 3 : 10);
    o.seed = (uint64_t)seed;
    o.log = log_line;
    clipc_set_threads(threads);
    clipc_bench_result r;
    s = clipc_bench_run(&o, &r);
    if (s) return cli_report(s);
    char bf16_keys[320] = "\"bf16_encode_img_per_s\": null, \"bf16_encode_txt_per_s\": null, "
                          "\"bf16_img_latency_b1_s\": null, \"bf16_txt_latency_b1_s\": null";
    if (r.bf16_used)
        snprintf(bf16_keys, sizeof bf16_keys,
                 "\"bf16_encode_img_per_s\": %.6g, \"bf16_encode_txt_per_s\": %.6g, "
                 "\"bf16_img_latency_b1_s\": %.6g, \"bf16_txt_latency_b1_s\": %.6g",
                 r.bf16_encode_img_per_s, r.bf16_encode_txt_per_s, r.bf16_img_latency_b1_s, r.bf16_txt_latency_b1_s);
    char int8_keys[400] = ""; /* s28-int8 */
    if (r.int8_used)
        snprintf(int8_keys, sizeof int8_keys,
                 ", \"int8_encode_img_per_s\": %.6g, \"int8_encode_txt_per_s\": %.6g, "
                 "\"int8_img_latency_b1_s\": %.6g, \"int8_txt_latency_b1_s\": %.6g, \"int8_kernel\": \"%s\", "
                 "\"probe_int8_gops\": %.6g",
                 r.int8_encode_img_per_s, r.int8_encode_txt_per_s, r.int8_img_latency_b1_s, r.int8_txt_latency_b1_s,
                 r.int8_kernel, r.int8_probe_gops);
    printf("%s{\"impl\": \"clipc\", \"config\": \"%s\", \"threads\": %d, \"params\": %zu, "
           "\"fwd_flops_per_pair\": %.6g, \"train_batch\": %d, \"train_steps\": %d, "
           "\"train_pairs_per_s\": %.6g, \"train_step_s_median\": %.6g, \"train_gflops_per_s\": %.6g, "
           "\"encode_img_per_s\": %.6g, \"encode_txt_per_s\": %.6g, \"encode_img_gflops_per_s\": %.6g, "
           "\"encode_txt_gflops_per_s\": %.6g, \"img_latency_b1_s\": %.6g, \"txt_latency_b1_s\": %.6g, \"txt_b1_tokens\": %d, "
           "\"probe_mm2048_gflops_start\": %.6g, \"probe_mm2048_gflops_end\": %.6g, "
           "\"train_share_of_sgemm\": %.4g, \"peak_rss_mib\": %.6g, \"first_loss\": %.6g, \"last_loss\": %.6g, "
           "\"encode_precision\": \"%s\", \"kernels\": \"%s\", %s%s}\n",
           json ? "RESULT " : "", name, clipc_get_threads(), r.params, r.fwd_flops_per_pair, o.batch, o.steps,
           r.train_pairs_per_s, r.train_step_s_median, r.train_gflops, r.encode_img_per_s, r.encode_txt_per_s,
           r.encode_img_gflops, r.encode_txt_gflops, r.img_latency_b1_s, r.txt_latency_b1_s, r.txt_b1_tokens, r.sgemm_gflops_start,
           r.sgemm_gflops_end,
           r.sgemm_gflops_start > 0 ? r.train_gflops / (r.sgemm_gflops_start > r.sgemm_gflops_end ? r.sgemm_gflops_start : r.sgemm_gflops_end) : 0,
           r.peak_rss_mib, r.first_loss, r.last_loss, o.bf16 == 1 && r.bf16_used ? "bf16" : "f32", r.kernels, bf16_keys,
           int8_keys);
    return 0;
}
