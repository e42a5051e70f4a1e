/*
 * blas_core.c — whether OpenBLAS picked kernels far below what this CPU
 * can run, and the OPENBLAS_CORETYPE that would fix it.
 *
 * Why this exists: Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) chooses its
 * kernels by CPU family and model number, and falls back to its SSE3
 * "Prescott" kernels for a model it does not know, whatever the CPU's
 * features.  Xeons newer than the library (e.g. family 6 model 207) get
 * Prescott: a 1024^3 SGEMM on one core measured 6.1 GFLOP/s there against
 * 27.6 with OPENBLAS_CORETYPE=SkylakeX on the same core, so every training
 * product ran at a quarter of the machine.  OpenBLAS reads the variable
 * once, in its load-time constructor, before any code of ours runs; a
 * process can only be started again with it set (cli/main.c does that, the
 * test runner too).  We never override a choice the user made, nor one
 * OpenBLAS made at least as well as the features allow (an AMD Zen, a
 * Haswell): only a core of a lower class than the features.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "kernels/blas_core.h"

/* OpenBLAS entry point (not in every cblas.h). */
extern char *openblas_get_corename(void);

/* The class of an OpenBLAS core name: 3 AVX-512, 2 AVX2 + FMA, 1 AVX,
 * 0 older or unknown. */
static int core_class(const char *name) {
    static const char *const c3[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const c2[] = {"Haswell", "Zen", "Excavator", "Steamroller", "Piledriver"};
    static const char *const c1[] = {"Sandybridge", "Bulldozer"};
    for (size_t i = 0; i < sizeof c3 / sizeof c3[0]; i++)
        if (!strcmp(name, c3[i])) return 3;
    for (size_t i = 0; i < sizeof c2 / sizeof c2[0]; i++)
        if (!strcmp(name, c2[i])) return 2;
    for (size_t i = 0; i < sizeof c1 / sizeof c1[0]; i++)
        if (!strcmp(name, c1[i])) return 1;
    return 0;
}

const char *blas_core_better(const char *detected, int avx512, int avx2_fma, int avx) {
    int have = core_class(detected ? detected : "");
    const char *want = avx512 ? "SkylakeX" : avx2_fma ? "Haswell" : avx ? "Sandybridge" : NULL;
    return want && core_class(want) > have ? want : NULL;
}

const char *clipc_blas_core_override(void) {
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set) return NULL;
    __builtin_cpu_init();
    /* SkylakeX's kernels use AVX512F, BW, VL and DQ. */
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    int avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return blas_core_better(openblas_get_corename(), avx512, avx2_fma, __builtin_cpu_supports("avx"));
}

const char *clipc_blas_core_name(void) { return openblas_get_corename(); }
