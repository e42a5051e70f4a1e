/*
 * memory.c — the memory estimate of a training run (see memory.h): the
 * training workspace, parameters, gradients and Adam moments, the loader's
 * batches; and the guard that compares it with what the machine has.
 */
#include <stdio.h>
#include <unistd.h>

#include "train/memory.h"
#include "clipc.h"
#include "clipc_util.h"
#include "nn/clip.h"
#include "train/dist.h"

size_t train_memory_bytes(const clipc_config *cfg, int B, int prefetch) {
    size_t P = clipc_config_param_count(cfg);
    size_t R = (size_t)cfg->image_resolution;
    /* Under mpirun a rank holds activations and batches for its slice of
     * the global batch B, plus the global loss (step.c's global_alloc). */
    int N = dist_size();
    int b = (B + N - 1) / N;
    size_t batch = (size_t)b * (3 * R * R * sizeof(float) + (size_t)cfg->context_length * 4);
    size_t global = N > 1 ? (4 * (size_t)B * cfg->embed_dim + clip_loss_cache_floats(B, cfg->embed_dim)) * sizeof(float)
                          : 0;
    /* params + grads + Adam m, v; the loader holds the current batch plus
     * `prefetch` more; evaluation encodes in chunks of 32 (small). */
    return clip_workspace_bytes(cfg, b) + global + 4 * P * sizeof(float) + (size_t)(prefetch + 2) * batch +
           ((size_t)64 << 20);
}

size_t clipc_train_memory_bytes(const clipc_config *cfg, int batch_size) {
    return train_memory_bytes(cfg, batch_size, 2);
}

/* Bytes available now: MemAvailable, or the free pages where /proc has no
 * such line; 0 when unknown. */
static double mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            unsigned long long kb;
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (double)kb * 1024.0;
            }
        }
        fclose(f);
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), ps = sysconf(_SC_PAGESIZE);
    return pages > 0 && ps > 0 ? (double)pages * (double)ps : 0;
}

clipc_status train_memory_guard(const clipc_config *cfg, const clipc_train_opts *o) {
    double avail = o->max_memory_gb > 0 ? o->max_memory_gb * 1073741824.0 : mem_available();
    if (avail <= 0) return CLIPC_OK;
    /* The ranks on this machine share what it has. */
    avail /= dist_local_size();
    double need = (double)train_memory_bytes(cfg, o->batch_size, o->prefetch);
    if (need <= avail) return CLIPC_OK;
    int fit = 0;
    for (int b = o->batch_size - 1; b >= 2; b--)
        if ((double)train_memory_bytes(cfg, b, o->prefetch) <= avail) {
            fit = b;
            break;
        }
    if (fit)
        return clipc_error(CLIPC_ERR_NOMEM,
                           "train: batch %d needs about %.1f GiB, %.1f GiB available: use --batch %d or less "
                           "(with --accum %d to keep %d pairs per step)",
                           o->batch_size, need / 1073741824.0, avail / 1073741824.0, fit,
                           (o->batch_size * o->accum + fit - 1) / fit, o->batch_size * o->accum);
    return clipc_error(CLIPC_ERR_NOMEM,
                       "train: batch %d needs about %.1f GiB, %.1f GiB available, and even batch 2 does not fit: "
                       "use a smaller config",
                       o->batch_size, need / 1073741824.0, avail / 1073741824.0);
}
