/*
 * cpu.c — which kernels run on this CPU: oneDNN's instruction set, whether
 * small f32 products run sgemm_panel.c's kernel, and the core type OpenBLAS
 * chose (blas_core.c says when that choice is to be overridden, and why).
 */
#include <dnnl.h>
#include <stdio.h>
#include <string.h>

#include "clipc.h"
#include "kernels/sgemm_panel.h"


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
    const char *core = clipc_blas_core_name();
    snprintf(buf, n, "oneDNN %d.%d.%d isa %s%s; OpenBLAS core %s", dnnl_version()->major, dnnl_version()->minor,
             dnnl_version()->patch, onednn_isa_name(),
             sgemm_panel_preferred() ? " (f32 batch 1-8: clipc's AVX2 panel kernel)" : "", core ? core : "?");
}
