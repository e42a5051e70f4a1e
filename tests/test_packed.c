/*
 * test_packed.c — the packed (ragged) text tower (src/text.c): captions run
 * only up to their own EOT, packed back to back, must give what the padded
 * tower gives (every caption run over the same T positions): the text
 * features, the loss and every gradient, for a batch whose lengths range
 * from 1 to nearly the whole context.  Also: the packed layout's row count, the
 * same bits on 1 and 2 threads with dropout on ragged rows, and encoding a
 * batch equals encoding each caption alone.
 *
 * Not bit-identical: OpenBLAS's SGEMM picks kernels and blockings by the
 * matrix shape, so the same row can round differently in an M = 131 and an
 * M = 336 product (measured: features within ~1e-6 relative); and weight
 * gradients are sums over rows whose grouping changes when the padding's
 * zero rows go.  So everything is checked within float tolerance; what is
 * exact is the same bits for any thread count (the second test).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/params.h"
#include "harness.h"

#define CTX 48
static const int lens[] = {45, 1, 2, 33, 7, 40, 12};
#define NB ((int)(sizeof lens / sizeof lens[0]))

typedef struct {
    clipc_model *m;
    float *px;
    int32_t ids[NB * CTX];
} ragged;

static int make_ragged(ragged *r) {
    memset(r, 0, sizeof *r);
    /* Text width 128 with 4 heads; captions of 33-48 tokens cross the
     * attention's 32-row causal blocks. */
    clipc_config cfg = {32, 32, 1, 128, 8, 4, CTX, 300, 128, 4, 2, CLIPC_ACT_QUICKGELU, CLIPC_VISION_VIT, {0}, CLIPC_TEXT_CLIP, CLIPC_HEAD_OPENAI, 0};
    if (clipc_model_create(&cfg, 11, &r->m)) return 0;
    r->px = malloc((size_t)NB * 3 * 32 * 32 * sizeof(float));
    uint64_t s = 7;
    for (int i = 0; i < NB * 3 * 32 * 32; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        r->px[i] = (float)((s >> 40) / (double)(1 << 24)) * 2.f - 1.f;
    }
    for (int b = 0; b < NB; b++) {
        int32_t *row = r->ids + b * CTX;
        if (lens[b] > 1) row[0] = 298;
        for (int t = 1; t < lens[b] - 1; t++) row[t] = 1 + (b * 31 + t * 17) % 290;
        row[lens[b] - 1] = 299; /* EOT: the largest id */
    }
    return 1;
}

static void free_ragged(ragged *r) {
    free(r->px);
    clipc_model_free(r->m);
}

/* One step: loss, text features (NB, E) and gradients; T as clip_forward. */
static float step(ragged *r, int T, float p, float *txt, float *grad, int *rows, int *tmax) {
    clip_workspace ws;
    clip_weights gw;
    memset(grad, 0, r->m->tab.total * sizeof(float));
    if (clip_workspace_alloc(&ws, &r->m->cfg, NB)) return NAN;
    if (clip_weights_bind(&gw, &r->m->cfg, &r->m->tab, grad)) {
        clip_workspace_free(&ws);
        return NAN;
    }
    ws.dropout = p;
    ws.dropout_seed = 77;
    float loss = clip_forward(&ws, &r->m->w, r->px, r->ids, NB, T);
    if (txt) memcpy(txt, ws.txt_feat, (size_t)NB * r->m->cfg.embed_dim * sizeof(float));
    if (rows) *rows = ws.text_rows;
    if (tmax) *tmax = ws.T;
    clip_backward(&ws, &gw, &r->m->w, r->ids, NB);
    clip_weights_free(&gw);
    clip_workspace_free(&ws);
    return loss;
}

TEST(packed_text_equals_padded_forward_and_gradients) {
    ragged r;
    REQUIRE(make_ragged(&r));
    size_t n = r.m->tab.total, ne = (size_t)NB * r.m->cfg.embed_dim;
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    float *t0 = malloc(ne * sizeof(float)), *t1 = malloc(ne * sizeof(float));
    int rows = 0, tmax = 0, want = 0;
    for (int b = 0; b < NB; b++) want += lens[b];
    float lp = step(&r, 0, 0.f, t0, g0, &rows, &tmax);
    CHECKF(rows == want, "packed rows %d, expected the sum of lengths %d", rows, want);
    CHECK(tmax == 45);
    /* Padded to every position (the goldens' layout), then to the old
     * default, the longest caption (here also the whole context). */
    for (int pass = 0; pass < 2; pass++) {
        int T = pass ? tmax : CTX, prow = 0;
        float lq = step(&r, T, 0.f, t1, g1, &prow, NULL);
        CHECK(prow == NB * T);
        CHECKF(fabs(lp - lq) <= 1e-6 * fabs(lq), "loss packed %.9g, padded %.9g", lp, lq);
        double fmx = 0, fd = 0;
        for (size_t i = 0; i < ne; i++) {
            fmx = fmax(fmx, fabs(t1[i]));
            fd = fmax(fd, fabs((double)t0[i] - t1[i]));
        }
        CHECKF(fd <= 1e-5 * fmx, "text features differ by %g (largest %g, T %d)", fd, fmx, T);
        size_t same = 0, bad = 0;
        for (int k = 0; k < r.m->tab.n; k++) {
            const param_info *q = &r.m->tab.p[k];
            double mx = 0;
            for (size_t i = 0; i < q->numel; i++) mx = fmax(mx, fabs(g1[q->offset + i]));
            for (size_t i = 0; i < q->numel; i++) {
                float a = g0[q->offset + i], b = g1[q->offset + i];
                same += memcmp(&a, &b, sizeof a) == 0;
                if (fabs((double)a - b) > 1e-5 * mx + 1e-9) {
                    if (!bad) CHECKF(0, "%s[%zu]: packed %.9g, padded %.9g", q->name, i, a, b);
                    bad++;
                }
            }
        }
        CHECKF(bad == 0, "%zu gradients differ beyond tolerance", bad);
        if (getenv("CLIPC_TEST_VERBOSE"))
            printf("    T %d: loss %.9g vs %.9g, features max diff %g (of %g), %zu of %zu gradients "
                   "bit-identical\n", T, lp, lq, fd, fmx, same, n);
    }
    free(g0); free(g1); free(t0); free(t1);
    free_ragged(&r);
}

TEST(packed_text_same_bits_1_and_2_threads_with_dropout) {
    ragged r;
    REQUIRE(make_ragged(&r));
    size_t n = r.m->tab.total;
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    float l1 = step(&r, 0, 0.1f, NULL, g1, NULL, NULL);
    omp_set_num_threads(2);
    float l2 = step(&r, 0, 0.1f, NULL, g2, NULL, NULL);
    omp_set_num_threads(keep);
    CHECKF(l1 == l2, "loss %.9g on 1 thread, %.9g on 2", l1, l2);
    CHECK(memcmp(g1, g2, n * sizeof(float)) == 0);
    /* dropout is on: the loss moved away from the dropout-free one */
    float l0 = step(&r, 0, 0.f, NULL, g1, NULL, NULL);
    CHECK(l0 != l1);
    free(g1); free(g2);
    free_ragged(&r);
}

TEST(packed_encode_text_equals_one_caption_at_a_time) {
    ragged r;
    REQUIRE(make_ragged(&r));
    int E = r.m->cfg.embed_dim;
    float *all = malloc((size_t)NB * E * sizeof(float)), *one = malloc((size_t)E * sizeof(float));
    REQUIRE_OK(clipc_encode_text(r.m, r.ids, NB, all));
    double worst = 0;
    for (int b = 0; b < NB; b++) {
        REQUIRE_OK(clipc_encode_text(r.m, r.ids + b * CTX, 1, one));
        for (int i = 0; i < E; i++) worst = fmax(worst, fabs((double)one[i] - all[(size_t)b * E + i]));
    }
    CHECKF(worst <= 1e-5, "batch vs one at a time: max difference %g", worst);
    free(all); free(one);
    free_ragged(&r);
}
