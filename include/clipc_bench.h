/*
 * clipc_bench.h — throughput measurements for a named config on random
 * inputs drawn like the PyTorch peer's random_batch (shared/bench/torch_clip.py):
 * training steps (forward + backward + AdamW), encoding at a batch and at
 * batch 1, peak RSS, achieved GFLOP/s by the peer's FLOP formula, and an
 * SGEMM probe taken in the same run.  `clipc bench` prints the result.
 */
#ifndef CLIPC_BENCH_PUBLIC_H
#define CLIPC_BENCH_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#include "clipc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    clipc_config cfg;
    int batch, steps, warmup, infer_reps, train, infer;
    uint64_t seed;
    int bf16;         /* 0: encode in f32 only; 1: bf16 only; 2: both, interleaved rep by rep */
    const char *model_path; /* weights from this file (its config replaces cfg), or NULL: random */
    int int8;         /* 1: f32 and int8, interleaved rep by rep (bf16 then ignored) (s28-int8) */
    void (*log)(const char *msg, void *ud);
    void *log_ud;
} clipc_bench_opts;

typedef struct {
    size_t params;
    double fwd_flops_per_pair, fwd_flops_vision, fwd_flops_text;
    double train_pairs_per_s, train_step_s_median, train_gflops;
    double encode_img_per_s, encode_txt_per_s, img_latency_b1_s, txt_latency_b1_s;
    int txt_b1_tokens; /* length of the batch-1 caption (packed up to its EOT) */
    double encode_img_gflops, encode_txt_gflops;
    /* bf16 encoding (0 when not measured; bf16_used = 0 when the CPU lacks
     * AVX512_BF16 and bf16 was asked for: the figures above are then f32). */
    int bf16_used;
    double bf16_encode_img_per_s, bf16_encode_txt_per_s, bf16_img_latency_b1_s, bf16_txt_latency_b1_s;
    /* int8 encoding (int8_used = 0 when not measured); which oneDNN kernel
     * its GEMMs ran on, and how many GEMMs ran in int8 / on the f32
     * fallback during the timing (s28-int8). */
    int int8_used;
    double int8_encode_img_per_s, int8_encode_txt_per_s, int8_img_latency_b1_s, int8_txt_latency_b1_s;
    char int8_kernel[64];
    long int8_gemms, int8_f32_gemms;
    double int8_probe_gops; /* int8 runs: oneDNN's s8 GEMM at 2048^3 (int8_probe_gops) */
    double sgemm_gflops_start, sgemm_gflops_end;
    double peak_rss_mib;
    float first_loss, last_loss;
    char kernels[160]; /* clipc_kernels_describe: oneDNN's ISA, OpenBLAS's core type */
} clipc_bench_result;

clipc_status clipc_bench_run(const clipc_bench_opts *o, clipc_bench_result *r);

#ifdef __cplusplus
}
#endif
#endif
