/* test_blas_core.c — OpenBLAS's kernel choice against the CPU's features
 * (src/kernels/blas_core.c) and the CLI starting over with the better one. */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "harness.h"
#include "kernels/blas_core.h"

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

TEST(blas_core_override_only_below_the_features) {
    /* Debian 12's OpenBLAS on a Xeon it does not know: SSE3 kernels. */
    CHECK(same(blas_core_better("Prescott", 1, 1, 1), "SkylakeX"));
    CHECK(same(blas_core_better("Prescott", 0, 1, 1), "Haswell"));
    CHECK(same(blas_core_better("Core2", 0, 0, 1), "Sandybridge"));
    CHECK(same(blas_core_better("Sandybridge", 0, 1, 1), "Haswell"));
    /* A choice as good as the features allow stays: AMD's Zen, Intel's
     * own AVX-512 targets, an AVX2-only CPU given Haswell. */
    CHECK(same(blas_core_better("Zen", 0, 1, 1), NULL));
    CHECK(same(blas_core_better("Cooperlake", 1, 1, 1), NULL));
    CHECK(same(blas_core_better("SapphireRapids", 1, 1, 1), NULL));
    CHECK(same(blas_core_better("SkylakeX", 1, 1, 1), NULL));
    CHECK(same(blas_core_better("Haswell", 0, 1, 1), NULL));
    /* Nothing better to offer an SSE-only CPU. */
    CHECK(same(blas_core_better("Prescott", 0, 0, 0), NULL));
    CHECK(same(blas_core_better(NULL, 0, 1, 1), "Haswell"));
}

TEST(blas_core_runner_and_cli_run_the_better_kernels) {
    /* The runner started over if it had to (harness.c), so in this process
     * there is nothing left to fix, and the CLI reports the same core. */
    CHECK(clipc_blas_core_override() == NULL);
    char *out = NULL;
    CHECK(run_capture("clipc --version", &out) == 0);
    char want[96];
    snprintf(want, sizeof want, "OpenBLAS kernels: %s\n", clipc_blas_core_name());
    CHECK(out && strstr(out, want));
    free(out);
    /* A core the user chose is kept, even a slow one. */
    CHECK(run_capture("OPENBLAS_CORETYPE=Prescott clipc --version", &out) == 0);
    CHECK(out && strstr(out, "OpenBLAS kernels: Prescott\n"));
    free(out);
}
