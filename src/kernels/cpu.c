/*
 * cpu.c — which kernels run on this CPU: oneDNN's instruction set, the core
 * type OpenBLAS chose, and the core type OpenBLAS should have chosen when it
 * does not know the CPU.
 *
 * Why the hint: OpenBLAS 0.3.21 (Debian 12) picks its kernels by CPU family
 * and model, and a CPU newer than it (an Emerald Rapids Xeon, model 207,
 * seen on this project's machines) falls back to "Prescott", SSE3 kernels
 * on an AVX-512 machine: the 2048^3 SGEMM probe ran at 45 vs 128 GFLOP/s
 * with OPENBLAS_CORETYPE=SkylakeX, and every OpenBLAS product (training,
 * the text tower's attention) ran that much slower.  OpenBLAS reads
 * OPENBLAS_CORETYPE only when it is loaded, so the library can only say
 * which core to ask for; the clipc program sets it and restarts itself
 * (cli/main.c), as it does for OMP_WAIT_POLICY.  The choice is from the
 * CPU's features (what the OS enables, as __builtin_cpu_supports reads
 * them), never from the model number.
 */
#include <dnnl.h>
#include <stdio.h>
#include <string.h>

#include "clipc.h"

/* OpenBLAS entry point; not in every cblas.h. */
extern char *openblas_get_corename(void);

/* Core types of OpenBLAS's DYNAMIC_ARCH build without AVX2 kernels: what it
 * falls back to on CPUs it does not recognise. */
static const char *const pre_avx2[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                       "Sandybridge", "Barcelona", "Bobcat", "Opteron", "Opteron(SSE3)",
                                       "Katmai", "Coppermine", "Northwood", "Banias", NULL};

const char *clipc_blas_coretype_hint(void) {
    const char *cur = openblas_get_corename();
    int generic = 0;
    for (int i = 0; cur && pre_avx2[i]; i++)
        if (!strcmp(cur, pre_avx2[i])) generic = 1;
    if (!generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* oneDNN's effective ISA (DNNL_MAX_CPU_ISA caps it) as its documentation
 * names it. */
static const char *onednn_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

void clipc_kernels_describe(char *buf, size_t n) {
    const char *core = openblas_get_corename();
    snprintf(buf, n, "oneDNN %d.%d.%d isa %s; OpenBLAS core %s", dnnl_version()->major, dnnl_version()->minor,
             dnnl_version()->patch, onednn_isa_name(), core ? core : "?");
}
