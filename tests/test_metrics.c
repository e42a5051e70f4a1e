/*
 * test_metrics.c — retrieval Recall@K / ranks on hand-worked cases, the
 * pessimistic tie rule, a cross-check against a sort-based reference, and
 * zero-shot top-K accuracy.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/rng.h"
#include "harness.h"

TEST(metrics_4x4_hand_computed) {
    /* Text t belongs to image t.
     *            t0    t1    t2    t3
     *   img0  [ 0.9,  0.1,  0.3,  0.2 ]  own 0.9: nobody >= -> rank 1
     *   img1  [ 0.8,  0.5,  0.7,  0.1 ]  own 0.5: 0.8, 0.7 >= -> rank 3
     *   img2  [ 0.2,  0.6,  0.4,  0.9 ]  own 0.4: 0.6, 0.9 >= -> rank 3
     *   img3  [ 0.3,  0.2,  0.1, 0.95 ]  own 0.95            -> rank 1
     * i2t ranks 1,3,3,1: R@1 2/4, R@2 2/4, R@3 4/4; median floor(2) = 2, mean 2.
     * t2i (columns): t0 0.9 best -> 1; t1 own 0.5 < 0.6 (img2) -> 2;
     *   t2 own 0.4 < 0.7 (img1) -> 2; t3 own 0.95 -> 1.
     * t2i ranks 1,2,2,1: R@1 2/4, R@2 4/4; median floor(1.5) = 1, mean 1.5. */
    const float sim[16] = {0.9f, 0.1f, 0.3f, 0.2f, 0.8f, 0.5f, 0.7f, 0.1f,
                           0.2f, 0.6f, 0.4f, 0.9f, 0.3f, 0.2f, 0.1f, 0.95f};
    const int ti[4] = {0, 1, 2, 3};
    const int ks[3] = {1, 2, 3};
    clipc_retrieval_metrics m;
    int ri[4], rt[4];
    REQUIRE_OK(clipc_retrieval_eval(sim, 4, 4, ti, ks, 3, &m, ri, rt));
    CHECK(ri[0] == 1 && ri[1] == 3 && ri[2] == 3 && ri[3] == 1);
    CHECK(rt[0] == 1 && rt[1] == 2 && rt[2] == 2 && rt[3] == 1);
    CHECK(m.n_k == 3 && m.k[2] == 3);
    CHECK_NEAR(m.i2t_recall[0], 0.5, 0);
    CHECK_NEAR(m.i2t_recall[1], 0.5, 0);
    CHECK_NEAR(m.i2t_recall[2], 1.0, 0);
    CHECK_NEAR(m.t2i_recall[0], 0.5, 0);
    CHECK_NEAR(m.t2i_recall[1], 1.0, 0);
    CHECK_NEAR(m.i2t_median_rank, 2, 0);
    CHECK_NEAR(m.i2t_mean_rank, 2, 0);
    CHECK_NEAR(m.t2i_median_rank, 1, 0);
    CHECK_NEAR(m.t2i_mean_rank, 1.5, 0);
    CHECK(m.n_i2t == 4 && m.n_t2i == 4);
    /* default K list */
    REQUIRE_OK(clipc_retrieval_eval(sim, 4, 4, ti, NULL, 0, &m, NULL, NULL));
    CHECK(m.n_k == 3 && m.k[0] == 1 && m.k[1] == 5 && m.k[2] == 10);
    CHECK_NEAR(m.i2t_recall[1], 1.0, 0);
}

TEST(metrics_3_images_6_captions) {
    /* Texts 0,1 -> img0; 2,3 -> img1; 4,5 -> img2.
     *            t0   t1   t2   t3   t4   t5
     *   img0  [ 0.2, 0.7, 0.9, 0.1, 0.3, 0.0 ]  best own 0.7 (t1); t2 0.9 >= -> rank 2
     *   img1  [ 0.5, 0.4, 0.3, 0.6, 0.8, 0.1 ]  best own 0.6 (t3); t4 0.8 >= -> rank 2
     *   img2  [ 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 ]  best own 0.6 (t5)            -> rank 1
     * i2t ranks 2,2,1: R@1 1/3, R@5 1; median 2; mean 5/3.
     * t2i: t0 own 0.2 < img1 0.5 -> 2;  t1 own 0.7 -> 1;
     *      t2 own 0.3: img0 0.9 beats, img2 0.3 TIES -> pessimistic rank 3;
     *      t3 own 0.6 -> 1;  t4 own 0.5 < img1 0.8 -> 2;  t5 own 0.6 -> 1.
     * t2i ranks 2,1,3,1,2,1: R@1 3/6, R@2 5/6, R@5 1; median floor(1.5) = 1; mean 10/6. */
    const float sim[18] = {0.2f, 0.7f, 0.9f, 0.1f, 0.3f, 0.0f, 0.5f, 0.4f, 0.3f,
                           0.6f, 0.8f, 0.1f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    const int ti[6] = {0, 0, 1, 1, 2, 2};
    const int ks[3] = {1, 2, 5};
    clipc_retrieval_metrics m;
    int ri[3], rt[6];
    REQUIRE_OK(clipc_retrieval_eval(sim, 3, 6, ti, ks, 3, &m, ri, rt));
    const int eri[3] = {2, 2, 1}, ert[6] = {2, 1, 3, 1, 2, 1};
    for (int i = 0; i < 3; i++) CHECKF(ri[i] == eri[i], "i2t rank %d = %d", i, ri[i]);
    for (int t = 0; t < 6; t++) CHECKF(rt[t] == ert[t], "t2i rank %d = %d", t, rt[t]);
    CHECK_NEAR(m.i2t_recall[0], 1.0 / 3, 1e-12);
    CHECK_NEAR(m.i2t_recall[1], 1.0, 0);
    CHECK_NEAR(m.t2i_recall[0], 0.5, 0);
    CHECK_NEAR(m.t2i_recall[1], 5.0 / 6, 1e-12);
    CHECK_NEAR(m.t2i_recall[2], 1.0, 0);
    CHECK_NEAR(m.i2t_median_rank, 2, 0);
    CHECK_NEAR(m.i2t_mean_rank, 5.0 / 3, 1e-12);
    CHECK_NEAR(m.t2i_median_rank, 1, 0);
    CHECK_NEAR(m.t2i_mean_rank, 10.0 / 6, 1e-12);
}

TEST(metrics_ties_and_edge_cases) {
    /* All scores equal: every correct item ties with every wrong one and
     * loses them all (pessimistic), whatever order a sort would give. */
    float sim[9];
    for (int i = 0; i < 9; i++) sim[i] = 0.25f;
    const int ti[3] = {0, 1, 2};
    clipc_retrieval_metrics m;
    int ri[3], rt[3];
    REQUIRE_OK(clipc_retrieval_eval(sim, 3, 3, ti, NULL, 0, &m, ri, rt));
    for (int i = 0; i < 3; i++) CHECK(ri[i] == 3 && rt[i] == 3);
    CHECK_NEAR(m.i2t_recall[0], 0, 0);
    CHECK_NEAR(m.t2i_recall[1], 1, 0); /* K=5 > 3 candidates */

    /* An image's own captions tying with each other do not count against it:
     * img0's texts t0,t1 both 0.5, t2 (img1) 0.5 ties -> rank 2, not 3. */
    const float s2[6] = {0.5f, 0.5f, 0.5f, 0.1f, 0.2f, 0.9f};
    const int t2[3] = {0, 0, 1};
    REQUIRE_OK(clipc_retrieval_eval(s2, 2, 3, t2, NULL, 0, &m, ri, rt));
    CHECK(ri[0] == 2 && ri[1] == 1);

    /* An image with no text is left out of i2t. */
    const float s3[6] = {0.9f, 0.1f, 0.5f, 0.5f, 0.2f, 0.8f};
    const int t3[2] = {0, 2};
    REQUIRE_OK(clipc_retrieval_eval(s3, 3, 2, t3, NULL, 0, &m, ri, rt));
    CHECK(m.n_i2t == 2);
    CHECK(ri[1] == 0);
    CHECK(ri[0] == 1 && ri[2] == 1);
    CHECK_NEAR(m.i2t_recall[0], 1.0, 0);
    CHECK_NEAR(m.i2t_mean_rank, 1.0, 0);
    /* t0: col (0.9, 0.5, 0.2) own 0.9 -> 1; t1: col (0.1, 0.5, 0.8) own 0.8 -> 1 */
    CHECK(rt[0] == 1 && rt[1] == 1);

    /* Errors: NaN, a text pointing outside, bad K. */
    float s4[4] = {1, 0, 0, 1};
    s4[2] = NAN;
    const int t4[2] = {0, 1};
    CHECK(clipc_retrieval_eval(s4, 2, 2, t4, NULL, 0, &m, NULL, NULL) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_last_error(), "metrics: the similarity matrix has NaN at [1, 0]") == 0);
    s4[2] = 0;
    const int t5[2] = {0, 2};
    CHECK(clipc_retrieval_eval(s4, 2, 2, t5, NULL, 0, &m, NULL, NULL) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_last_error(), "metrics: text 1 belongs to image 2 of 2") == 0);
    const int k0[1] = {0};
    CHECK(clipc_retrieval_eval(s4, 2, 2, t4, k0, 1, &m, NULL, NULL) == CLIPC_ERR_INVALID);
    CHECK(clipc_retrieval_eval(s4, 2, 2, t4, k0, CLIPC_METRICS_MAX_K + 1, &m, NULL, NULL) ==
          CLIPC_ERR_INVALID);
}

/* Reference by sorting (distinct scores, so ties cannot matter): rank of
 * the first correct item in the descending order. */
static int ref_rank(const float *scores, int n, const int *correct) {
    int *idx = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && scores[idx[j]] > scores[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    int r = 0;
    for (int i = 0; i < n && !r; i++)
        if (correct[idx[i]]) r = i + 1;
    free(idx);
    return r;
}

TEST(metrics_match_sort_reference) {
    enum { NI = 40, NT = 200 };
    static float sim[NI * NT];
    int ti[NT], ri[NI], rt[NT];
    rng_state r;
    rng_seed(&r, 11);
    for (int i = 0; i < NI * NT; i++) sim[i] = (float)rng_double(&r);
    for (int t = 0; t < NT; t++) ti[t] = t / 5;
    clipc_retrieval_metrics m;
    REQUIRE_OK(clipc_retrieval_eval(sim, NI, NT, ti, NULL, 0, &m, ri, rt));
    int correct[NT > NI ? NT : NI];
    float col[NI];
    int hits1 = 0;
    for (int i = 0; i < NI; i++) {
        for (int t = 0; t < NT; t++) correct[t] = ti[t] == i;
        int want = ref_rank(sim + i * NT, NT, correct);
        CHECKF(ri[i] == want, "i2t rank of image %d: %d, reference %d", i, ri[i], want);
        hits1 += want == 1;
    }
    CHECK_NEAR(m.i2t_recall[0], (double)hits1 / NI, 1e-12);
    for (int t = 0; t < NT; t++) {
        for (int i = 0; i < NI; i++) {
            col[i] = sim[i * NT + t];
            correct[i] = i == ti[t];
        }
        int want = ref_rank(col, NI, correct);
        CHECKF(rt[t] == want, "t2i rank of text %d: %d, reference %d", t, rt[t], want);
    }
}

TEST(metrics_speed_1k_x_5k) {
    const int NI = 1000, NT = 5000;
    float *sim = malloc(sizeof(float) * (size_t)NI * NT);
    int *ti = malloc(sizeof(int) * NT);
    REQUIRE(sim && ti);
    rng_state r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < (size_t)NI * NT; i++) sim[i] = rng_float(&r);
    for (int t = 0; t < NT; t++) {
        ti[t] = t / 5;
        sim[(size_t)ti[t] * NT + t] += 0.5f; /* make retrieval mostly right */
    }
    clipc_retrieval_metrics m;
    double t0 = clipc_now();
    REQUIRE_OK(clipc_retrieval_eval(sim, NI, NT, ti, NULL, 0, &m, NULL, NULL));
    double dt = clipc_now() - t0;
    printf("    1000 x 5000 retrieval metrics: %.1f ms (i2t R@1 %.3f, t2i R@1 %.3f)\n", dt * 1e3,
           m.i2t_recall[0], m.t2i_recall[0]);
    CHECK(dt < 2.0);
    CHECK(m.i2t_recall[2] > 0.5);
    free(sim);
    free(ti);
}

TEST(metrics_zeroshot_topk) {
    /* 4 rows x 3 classes.
     *   row0 label 0: [3, 1, 2] -> label best              top1 yes
     *   row1 label 2: [3, 1, 2] -> 2nd                      top1 no, top2 yes
     *   row2 label 1: [1, 1, 0] -> ties class 0: pessimistic rank 2
     *   row3 label 1: [0, 0, 5] -> ties class 0, below 2:   rank 3 */
    const float lg[12] = {3, 1, 2, 3, 1, 2, 1, 1, 0, 0, 0, 5};
    const int lab[4] = {0, 2, 1, 1};
    double top1, top5, acc[3];
    REQUIRE_OK(clipc_zeroshot_accuracy(lg, 4, 3, lab, &top1, &top5));
    CHECK_NEAR(top1, 0.25, 0);
    CHECK_NEAR(top5, 1.0, 0); /* only 3 classes */
    const int ks[3] = {1, 2, 3};
    REQUIRE_OK(clipc_topk_accuracy(lg, 4, 3, lab, ks, 3, acc));
    CHECK_NEAR(acc[0], 0.25, 0);
    CHECK_NEAR(acc[1], 0.75, 0);
    CHECK_NEAR(acc[2], 1.0, 0);
    const int bad[4] = {0, 3, 1, 1};
    CHECK(clipc_zeroshot_accuracy(lg, 4, 3, bad, &top1, &top5) == CLIPC_ERR_INVALID);
    CHECK(strcmp(clipc_last_error(), "zero-shot accuracy: label 3 of row 1 not in 0..2") == 0);
}
