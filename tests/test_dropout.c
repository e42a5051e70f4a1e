/*
 * test_dropout.c — training dropout (src/dropout.c, block.c, attention.c):
 * the keep rate and scaling, p = 0 is exactly no dropout, masks depend only
 * on the seed (same seed same step, new seed new mask), and a whole
 * training step — forward, backward, dropout on — gives the same bits on 1
 * and 2 threads.  Finite differences with dropout on are in
 * test_gradcheck.c (gradcheck_whole_model_dropout, gradcheck_attention).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipc.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/dropout.h"
#include "nn/params.h"
#include "harness.h"

TEST(dropout_keep_rate_and_scale) {
    size_t n = 1 << 20;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    const float ps[] = {0.1f, 0.5f};
    for (int k = 0; k < 2; k++) {
        float p = ps[k];
        dropout_mul(y, x, n, 0, p, dropout_site_seed(42, 0, 3, 2));
        size_t kept = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            kept += y[i] != 0.f;
            sum += y[i];
            if (y[i] != 0.f && y[i] != 1.0f / (1.0f - p)) {
                CHECKF(0, "kept value %g is not 1/(1-p)", y[i]);
                break;
            }
        }
        /* binomial sd at n = 2^20 is < 0.0005 */
        CHECK_NEAR((double)kept / n, 1.0 - p, 0.003);
        CHECK_NEAR(sum / n, 1.0, 0.006);
        /* the mask of element i depends on the index, not the call split */
        float *z = malloc(n * sizeof(float));
        dropout_mul(z, x, n / 2, 0, p, dropout_site_seed(42, 0, 3, 2));
        dropout_mul(z + n / 2, x + n / 2, n - n / 2, n / 2, p, dropout_site_seed(42, 0, 3, 2));
        CHECK(memcmp(y, z, n * sizeof(float)) == 0);
        free(z);
    }
    /* sites, layers and towers get unrelated masks */
    CHECK(dropout_site_seed(1, 0, 0, 0) != dropout_site_seed(1, 0, 0, 1));
    CHECK(dropout_site_seed(1, 0, 1, 0) != dropout_site_seed(1, 1, 0, 0));
    CHECK(dropout_threshold(0.f) == 0 && dropout_threshold(-1.f) == 0);
    CHECK(dropout_threshold(5.f) == dropout_threshold(0.999f));
    free(x);
    free(y);
}

/* One training step's loss and gradients for a small random CLIP. */
typedef struct {
    clipc_model *m;
    float *px;
    int32_t *ids;
    int B;
} step_ctx;

static float run_step(step_ctx *c, float p, uint64_t seed, float *grad) {
    clip_workspace ws;
    if (clip_workspace_alloc(&ws, &c->m->cfg, c->B)) return NAN;
    clip_weights gw;
    memset(grad, 0, c->m->tab.total * sizeof(float));
    if (clip_weights_bind(&gw, &c->m->cfg, &c->m->tab, grad)) {
        clip_workspace_free(&ws);
        return NAN;
    }
    ws.dropout = p;
    ws.dropout_seed = seed;
    float loss = clip_forward(&ws, &c->m->w, c->px, c->ids, c->B, 0);
    clip_backward(&ws, &gw, &c->m->w, c->ids, c->B);
    clip_weights_free(&gw);
    clip_workspace_free(&ws);
    return loss;
}

static void make_step(step_ctx *c, clipc_model **m) {
    /* Wide enough that every elementwise pass crosses PAR_MIN and
     * really runs on several threads; causal T = 40 > one row block. */
    clipc_config cfg = {32, 32, 1, 128, 8, 4, 48, 300, 128, 4, 2, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    int B = 8;
    if (clipc_model_create(&cfg, 5, m)) return;
    c->m = *m;
    c->B = B;
    c->px = malloc((size_t)B * 3 * 32 * 32 * sizeof(float));
    c->ids = calloc((size_t)B * 48, sizeof(int32_t));
    uint64_t s = 99;
    for (int i = 0; i < B * 3 * 32 * 32; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        c->px[i] = (float)((s >> 40) / (double)(1 << 24)) * 2.f - 1.f;
    }
    for (int b = 0; b < B; b++) {
        int len = 3 + (b * 13) % 38;
        c->ids[b * 48] = 298;
        for (int t = 1; t < len - 1; t++) c->ids[b * 48 + t] = 1 + (b * 31 + t * 17) % 290;
        c->ids[b * 48 + len - 1] = 299;
    }
}

TEST(dropout_p0_identical_and_seeded) {
    clipc_model *m = NULL;
    step_ctx c = {0};
    make_step(&c, &m);
    REQUIRE(m != NULL);
    size_t n = m->tab.total;
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    float l0 = run_step(&c, 0.f, 0, g0);
    float l1 = run_step(&c, 0.f, 123456, g1); /* p = 0: the seed must not matter */
    CHECK(l0 == l1 && memcmp(g0, g1, n * sizeof(float)) == 0);
    float a = run_step(&c, 0.1f, 7, g0), b = run_step(&c, 0.1f, 7, g1);
    CHECK(a == b && memcmp(g0, g1, n * sizeof(float)) == 0);
    CHECKF(a != l0, "dropout 0.1 left the loss unchanged (%g)", a);
    float d = run_step(&c, 0.1f, 8, g1);
    CHECKF(d != a, "seeds 7 and 8 gave the same loss %g", d);
    free(g0); free(g1); free(c.px); free(c.ids);
    clipc_model_free(m);
}

TEST(training_step_same_bits_1_and_2_threads) {
    clipc_model *m = NULL;
    step_ctx c = {0};
    make_step(&c, &m);
    REQUIRE(m != NULL);
    size_t n = m->tab.total;
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    int keep = omp_get_max_threads();
    for (int pi = 0; pi < 2; pi++) {
        float p = pi ? 0.1f : 0.f;
        omp_set_num_threads(1);
        float l1 = run_step(&c, p, 31, g1);
        omp_set_num_threads(2);
        float l2 = run_step(&c, p, 31, g2);
        CHECKF(l1 == l2, "p %.1f: loss %.9g on 1 thread, %.9g on 2", p, l1, l2);
        size_t diff = 0;
        for (size_t i = 0; i < n; i++) diff += memcmp(&g1[i], &g2[i], sizeof(float)) != 0;
        CHECKF(diff == 0, "p %.1f: %zu of %zu gradients differ between 1 and 2 threads", p, diff, n);
        if (diff && getenv("CLIPC_TEST_VERBOSE"))
            for (int t = 0; t < m->tab.n; t++) {
                const param_info *q = &m->tab.p[t];
                size_t dd = 0;
                for (size_t i = 0; i < q->numel; i++) dd += memcmp(&g1[q->offset + i], &g2[q->offset + i], 4) != 0;
                if (dd) printf("    %s: %zu differ\n", q->name, dd);
            }
    }
    omp_set_num_threads(keep);
    free(g1); free(g2); free(c.px); free(c.ids);
    clipc_model_free(m);
}

/* The thread-count promise on every CPU kind this project runs on: the two
 * determinism tests again under each of OpenBLAS's x86 kernel families
 * (AVX2-only EPYC machines run Haswell or Zen, AVX-512 ones SkylakeX or
 * newer), each in a child process of this binary since OpenBLAS reads
 * OPENBLAS_CORETYPE once at start-up.  A kernel family needs its
 * instructions: on a CPU without AVX-512, SkylakeX's kernels would die of
 * SIGILL, so they run only where the CPU has them (an AVX-512 machine
 * runs all four; an AVX2 one the other three, and says so). */
TEST(same_bits_1_and_2_threads_on_every_openblas_kernel) {
    static const char *const cores[] = {"Haswell", "Zen", "SkylakeX", "Sandybridge"};
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    int ran = 0;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
        if (!strcmp(cores[i], "SkylakeX") && !avx512) {
            printf("    OPENBLAS_CORETYPE=SkylakeX not run: this CPU has no AVX-512\n");
            continue;
        }
        ran++;
        char cmd[256], *out = NULL;
        snprintf(cmd, sizeof cmd,
                 "OPENBLAS_CORETYPE=%s /proc/%d/exe training_step_same_bits_1_and_2_threads "
                 "packed_text_same_bits_1_and_2_threads_with_dropout 2>&1",
                 cores[i], (int)getpid());
        int rc = run_capture(cmd, &out);
        CHECKF(rc == 0 && out && strstr(out, "2 passed, 0 failed"), "OPENBLAS_CORETYPE=%s: rc %d\n%s", cores[i],
               rc, out ? out : "");
        free(out);
    }
    CHECK(ran >= 3);
}
