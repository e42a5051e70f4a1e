/*
 * bench.c — see bench.h.  Timings are wall-clock medians over the timed
 * steps; nothing here is a pass/fail criterion.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "base/rng.h"
#include "kernels/onednn.h"
#include "kernels/int8.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/params.h"
#include "train/optim.h"

double bench_peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

double bench_sgemm_probe(int n) {
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a); free(b); free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = clipc_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
        double dt = clipc_now() - t0;
        if (r > 0 && dt < best) best = dt; /* first call warms up */
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

void bench_random_batch(const clipc_config *c, int B, uint64_t seed, float *pixels, int32_t *ids) {
    rng_state r;
    rng_seed(&r, seed);
    size_t np = (size_t)B * 3 * c->image_resolution * c->image_resolution;
    for (size_t i = 0; i < np; i++) pixels[i] = (float)rng_normal(&r);
    int V = c->vocab_size, ctx = c->context_length;
    for (int b = 0; b < B; b++) {
        int32_t *row = ids + (size_t)b * ctx;
        int n = 3 + (int)rng_below(&r, (uint64_t)(ctx - 2 > 1 ? ctx - 2 : 1));
        if (n > ctx) n = ctx;
        for (int t = 0; t < ctx; t++) row[t] = 1 + (int32_t)rng_below(&r, (uint64_t)(V - 3));
        row[0] = V - 2;
        row[n - 1] = V - 1;
        for (int t = n; t < ctx; t++) row[t] = 0;
    }
}

/* The peer's forward_flops(): matmul FLOPs per pair, attention counted dense. */
static void flops(const clipc_config *c, int batch, double *vision, double *text, double *total) {
    /* A ResNet (no patch size) gets no vision estimate: FLOPs are counted for ViTs only. */
    double g = c->vision_patch_size ? c->image_resolution / c->vision_patch_size : 0, n = g * g + 1,
           w = c->vision_patch_size ? c->vision_width : 0;
    double v = 2 * g * g * (3.0 * c->vision_patch_size * c->vision_patch_size) * w;
    v += c->vision_layers * (24 * n * w * w + 4 * n * n * w) + 2 * w * c->embed_dim;
    double L = c->context_length, t = c->transformer_width;
    double tx = c->transformer_layers * (24 * L * t * t + 4 * L * L * t) + 2 * t * c->embed_dim;
    *vision = v;
    *text = tx;
    *total = v + tx + 2.0 * batch * c->embed_dim;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Mean seconds per call after one warm-up call, for f32 (t[0], when
 * want_f32) and bf16 (t[1], when g) or int8 (t[1], when q): the two
 * alternate call by call, each going first every other time, so machine
 * load drifts hit both alike. */
static void time_encode(clipc_model *m, onednn_ctx *g, int8_ctx *q, int want_f32, const float *px,
                        const int32_t *ids, int B, int reps, int text, float *out, double t[2]) {
    t[0] = t[1] = 0;
    for (int i = 0; i < reps + 1; i++) {
        for (int k = 0; k < 2; k++) {
            int bf = (i + k) % 2;
            if (bf ? !g && !q : !want_f32) continue;
            m->bf16 = bf ? g : NULL;
            m->int8 = bf ? q : NULL;
            double t0 = clipc_now();
            if (text) clipc_encode_text(m, ids, B, out);
            else clipc_encode_image(m, px, B, out);
            double dt = clipc_now() - t0;
            if (i > 0) t[bf] += dt / reps;
        }
    }
    m->bf16 = NULL;
    m->int8 = NULL;
}

/* s28-int8: the int8 figures, and which kernels ran them. */
static void bench_int8_report(const clipc_bench_opts *o, clipc_bench_result *r, const int8_ctx *q, int B,
                              const double ti[2], const double tt[2], const double li[2], const double lt[2]) {
    r->int8_used = 1;
    r->int8_encode_img_per_s = B / ti[1];
    r->int8_encode_txt_per_s = B / tt[1];
    r->int8_img_latency_b1_s = li[1];
    r->int8_txt_latency_b1_s = lt[1];
    int8_kernel_name(q, r->int8_kernel, sizeof r->int8_kernel);
    int8_counts(q, &r->int8_gemms, &r->int8_f32_gemms);
    warnf(o->log, o->log_ud, "  int8 kernels: GEMMs on oneDNN u8s8->s32 matmul \"%s\" (%ld calls; %ld on the f32 "
          "fallback), attention on %s, layer norms and epilogues f32", r->int8_kernel, r->int8_gemms,
          r->int8_f32_gemms, onednn_f32_context() ? "onednn-f32" : "OpenBLAS");
    r->int8_probe_gops = int8_probe_gops(2048);
    warnf(o->log, o->log_ud, "  int8 probe: %.1f GOP/s (oneDNN u8s8 GEMM 2048^3, \"%s\"), x%.2f the SGEMM probe's %.1f "
          "GFLOP/s", r->int8_probe_gops, r->int8_kernel,
          r->sgemm_gflops_start > 0 ? r->int8_probe_gops / r->sgemm_gflops_start : 0, r->sgemm_gflops_start);
    warnf(o->log, o->log_ud, "  encode int8: %.1f img/s, %.1f txt/s at batch %d; batch-1 latency %.1f ms img, %.1f ms txt "
          "(x%.2f, x%.2f, x%.2f, x%.2f vs f32)", r->int8_encode_img_per_s, r->int8_encode_txt_per_s, B,
          li[1] * 1e3, lt[1] * 1e3, ti[0] / ti[1], tt[0] / tt[1], li[0] / li[1], lt[0] / lt[1]);
}

clipc_status clipc_bench_run(const clipc_bench_opts *o, clipc_bench_result *r) {
    memset(r, 0, sizeof *r);
    const clipc_config *c = &o->cfg;
    clipc_status s = o->model_path ? CLIPC_OK : clipc_config_validate(c);
    if (s) return s;
    int B = o->batch;
    clipc_kernels_describe(r->kernels, sizeof r->kernels);
    r->sgemm_gflops_start = bench_sgemm_probe(2048);
    clipc_model *m;
    /* A model file: the same weights a peer runs (bench/compare --peer ort) */
    s = o->model_path ? clipc_model_load(o->model_path, NULL, &m) : clipc_model_create(c, o->seed, &m);
    if (s) return s;
    c = &m->cfg;
    r->params = m->tab.total;
    double fv, ft, tot;
    flops(c, B, &fv, &ft, &tot);
    r->fwd_flops_vision = fv;
    r->fwd_flops_text = ft;
    r->fwd_flops_per_pair = tot;
    size_t np = (size_t)B * 3 * c->image_resolution * c->image_resolution;
    float *px = mem_alloc(np * sizeof(float), "bench pixels");
    int32_t *ids = mem_alloc((size_t)B * c->context_length * sizeof(int32_t), "bench ids");
    float *feat = mem_alloc((size_t)B * c->embed_dim * sizeof(float), "bench features");
    if (!px || !ids || !feat) {
        s = CLIPC_ERR_NOMEM;
        goto done;
    }
    bench_random_batch(c, B, o->seed, px, ids);
    warnf(o->log, o->log_ud, "config: %zu params (%.2fM), fwd %.3f GFLOP/pair, batch %d, threads %d", r->params,
          r->params / 1e6, tot / 1e9, B, clipc_get_threads());
    warnf(o->log, o->log_ud, "kernels: %s", r->kernels);
    if (o->train) {
        clip_workspace ws;
        optimizer opt;
        s = clip_workspace_alloc(&ws, c, B);
        if (s) goto done;
        s = optim_init(&opt, OPT_ADAMW, m->tab.total);
        float *grad = s ? NULL : mem_calloc(m->tab.total, sizeof(float), "gradients");
        clip_weights gw;
        if (!s && !grad) s = CLIPC_ERR_NOMEM;
        if (!s) s = clip_weights_bind(&gw, c, &m->tab, grad);
        if (s) {
            clip_workspace_free(&ws);
            optim_free(&opt);
            free(grad);
            goto done;
        }
        opt.weight_decay = 1e-4f;
        int total = o->warmup + o->steps;
        double *times = calloc((size_t)o->steps + 1, sizeof(double)), sum = 0;
        for (int i = 0; i < total; i++) {
            double t0 = clipc_now();
            memset(grad, 0, m->tab.total * sizeof(float));
            float loss = clip_forward(&ws, &m->w, px, ids, B, 0);
            clip_backward(&ws, &gw, &m->w, ids, B);
            optim_step(&opt, &m->tab, m->params, grad, 1e-4f);
            double dt = clipc_now() - t0;
            if (i == 0) r->first_loss = loss;
            r->last_loss = loss;
            warnf(o->log, o->log_ud, "  train step %d/%d (%s): %.3f s loss %.4f", i + 1, total, i < o->warmup ? "warm-up" : "timed",
                  dt, loss);
            if (i >= o->warmup) {
                times[i - o->warmup] = dt;
                sum += dt;
            }
        }
        qsort(times, (size_t)o->steps, sizeof(double), cmp_double);
        r->train_step_s_median = times[o->steps / 2];
        r->train_pairs_per_s = (double)B * o->steps / sum;
        r->train_gflops = 3 * tot * r->train_pairs_per_s / 1e9;
        free(times);
        clip_weights_free(&gw);
        free(grad);
        optim_free(&opt);
        clip_workspace_free(&ws);
    }
    if (o->infer) {
        bench_random_batch(c, B, o->seed + 1, px, ids);
        /* The weights change no more: f32 may pack them (model_backend), as
         * for a loaded model. */
        m->weights_fixed = 1;
        /* The bf16 weights are converted after training (which changed them). */
        onednn_ctx *g = NULL;
        int8_ctx *q = NULL;
        if (o->int8) { /* s28-int8: quantised as clipc_model_set_precision does, then held here */
            if ((s = clipc_model_set_precision(m, CLIPC_PRECISION_INT8, o->log, o->log_ud))) goto done;
            q = m->int8;
            m->int8 = NULL;
        } else if (o->bf16 && !onednn_bf16_available())
            warnf(o->log, o->log_ud, "bf16: this CPU has no AVX512_BF16; encoding in f32 only");
        else if (o->bf16 && (s = onednn_bf16_create(&g, m->params, m->tab.total)))
            goto done;
        int f32 = o->bf16 != 1 || !g || q;
        double ti[2], tt[2], li[2], lt[2];
        time_encode(m, g, q, f32, px, ids, B, o->infer_reps, 0, feat, ti);
        time_encode(m, g, q, f32, px, ids, B, o->infer_reps, 1, feat, tt);
        time_encode(m, g, q, f32, px, ids, 1, o->infer_reps, 0, feat, li);
        time_encode(m, g, q, f32, px, ids, 1, o->infer_reps, 1, feat, lt);
        onednn_free(g);
        if (q) bench_int8_report(o, r, q, B, ti, tt, li, lt);
        int8_free(q);
        int k = f32 ? 0 : 1; /* the main figures: f32 when measured */
        r->encode_img_per_s = B / ti[k];
        r->encode_txt_per_s = B / tt[k];
        r->encode_img_gflops = fv * r->encode_img_per_s / 1e9;
        r->encode_txt_gflops = ft * r->encode_txt_per_s / 1e9;
        r->img_latency_b1_s = li[k];
        r->txt_latency_b1_s = lt[k];
        /* the batch-1 caption runs up to its EOT (packed): say how long it is */
        for (int t = 0; t < c->context_length; t++)
            if (ids[t] == c->vocab_size - 1) {
                r->txt_b1_tokens = t + 1;
                break;
            }
        warnf(o->log, o->log_ud, "  encode %s: %.1f img/s, %.1f txt/s at batch %d; batch-1 latency %.1f ms img, %.1f ms txt "
              "(%d tokens)", k ? "bf16" : "f32", r->encode_img_per_s, r->encode_txt_per_s, B, r->img_latency_b1_s * 1e3,
              r->txt_latency_b1_s * 1e3, r->txt_b1_tokens);
        if (g) {
            r->bf16_used = 1;
            r->bf16_encode_img_per_s = B / ti[1];
            r->bf16_encode_txt_per_s = B / tt[1];
            r->bf16_img_latency_b1_s = li[1];
            r->bf16_txt_latency_b1_s = lt[1];
            if (f32)
                warnf(o->log, o->log_ud, "  encode bf16: %.1f img/s, %.1f txt/s at batch %d; batch-1 latency %.1f ms img, %.1f ms txt "
                      "(x%.2f, x%.2f, x%.2f, x%.2f vs f32)", r->bf16_encode_img_per_s, r->bf16_encode_txt_per_s, B,
                      li[1] * 1e3, lt[1] * 1e3, ti[0] / ti[1], tt[0] / tt[1], li[0] / li[1], lt[0] / lt[1]);
        }
    }
    r->peak_rss_mib = bench_peak_rss_mib();
    r->sgemm_gflops_end = bench_sgemm_probe(2048);
done:
    free(px);
    free(ids);
    free(feat);
    clipc_model_free(m);
    return s;
}
