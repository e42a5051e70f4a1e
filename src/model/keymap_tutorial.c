/*
 * keymap_tutorial.c — torchvision/timm ResNet state dicts onto the
 * tutorial model's image tower (keymap_tutorial.h).
 *
 * torchvision's and timm's resnet50 use the same tensor names (timm keeps
 * torchvision's module names: conv1, bn1, layer1..4, downsample as a
 * Sequential of conv and BatchNorm, fc), so one mapping serves both; only
 * the prefix differs with how the model was wrapped when it was saved.
 */
#include <stdio.h>
#include <string.h>

#include "model/keymap_tutorial.h"
#include "clipc.h"
#include "base/error.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "nn/params.h"

#define TABLE_PREFIX "image_encoder.model."
#define LAYOUT "torchvision/timm ResNet layout"

static const char *const prefixes[] = {"", TABLE_PREFIX, "model.", "module."};

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int ends(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int keymap_tv_resnet_name(const char *key, char *out, size_t n) {
    if (starts(key, "fc.") || ends(key, ".num_batches_tracked")) return 0;
    if (!starts(key, "conv1.") && !starts(key, "bn1.") && !starts(key, "layer")) return -1;
    snprintf(out, n, TABLE_PREFIX "%s", key);
    return 1;
}

const char *keymap_tv_resnet_prefix(const st_file *f) {
    char n[128];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(n, sizeof n, "%sconv1.weight", prefixes[i]);
        if (st_get(f, n)) return prefixes[i];
    }
    return NULL;
}

static clipc_status no_resnet(const char *path) {
    return clipc_error(CLIPC_ERR_FORMAT,
                       "%s: not a torchvision/timm ResNet state dict (no tensor 'conv1.weight', bare or under "
                       "'image_encoder.model.', 'model.' or 'module.')", path);
}

clipc_status keymap_tv_resnet_shapes(const st_file *f, const char *path, clipc_config *c) {
    const char *pre = keymap_tv_resnet_prefix(f);
    if (!pre) return no_resnet(path);
    char n[160];
    snprintf(n, sizeof n, "%sconv1.weight", pre);
    const st_tensor *t = st_get(f, n);
    if (t->ndim != 4 || t->shape[1] != 3 || t->shape[2] != 7 || t->shape[3] != 7 || t->shape[0] > 4096)
        return clipc_error(CLIPC_ERR_FORMAT, "%s (" LAYOUT "): tensor '%s' is not a 7x7 stem convolution "
                           "[width, 3, 7, 7]", path, n);
    c->vision_width = (int)t->shape[0];
    for (int l = 0; l < 4; l++) {
        int k = 0;
        for (; k <= 256; k++) {
            snprintf(n, sizeof n, "%slayer%d.%d.conv1.weight", pre, l + 1, k);
            if (!st_get(f, n)) break;
        }
        if (k == 0)
            return clipc_error(CLIPC_ERR_FORMAT, "%s (" LAYOUT "): stage layer%d has no blocks (no tensor '%s')",
                               path, l + 1, n);
        c->vision_blocks[l] = k;
    }
    return CLIPC_OK;
}

/* "[a, b, c]" of a shape. */
static void shape_str(char *s, size_t n, const int64_t *shape, int ndim) {
    s[0] = 0;
    for (int d = 0; d < ndim && d < ST_MAX_DIMS; d++)
        snprintf(s + strlen(s), n - strlen(s), "%s%lld", d ? ", " : "", (long long)shape[d]);
}

static clipc_status gather_one(const st_file *f, const char *path, const char *pre, const param_info *p,
                               float *out) {
    char n[160];
    snprintf(n, sizeof n, "%s%s", pre, p->name + strlen(TABLE_PREFIX));
    const st_tensor *t = st_get(f, n);
    if (!t) return clipc_error(CLIPC_ERR_FORMAT, "%s (" LAYOUT "): tensor '%s' is missing", path, n);
    if (!tf_float_dtype(t->dtype))
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "%s (" LAYOUT "): tensor '%s' is %s; F32, F16, BF16 and F64 "
                           "are supported", path, n, st_dtype_name(t->dtype));
    int ok = t->ndim == p->ndim;
    for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
    if (!ok) {
        char want[64], got[64];
        int64_t ws[4];
        for (int d = 0; d < p->ndim; d++) ws[d] = p->shape[d];
        shape_str(want, sizeof want, ws, p->ndim);
        shape_str(got, sizeof got, t->shape, t->ndim);
        return clipc_error(CLIPC_ERR_FORMAT, "%s (" LAYOUT "): tensor '%s' has shape [%s], expected [%s]", path, n,
                           got, want);
    }
    tf_to_f32(t, out);
    return CLIPC_OK;
}

clipc_status keymap_tv_resnet_gather(const st_file *f, const char *path, const param_table *tab, float *dst,
                                     int *unused) {
    const char *pre = keymap_tv_resnet_prefix(f);
    if (!pre) return no_resnet(path);
    int used = 0;
    for (int i = 0; i < tab->n; i++) {
        const param_info *p = &tab->p[i];
        if (!starts(p->name, TABLE_PREFIX)) continue;
        clipc_status s = gather_one(f, path, pre, p, dst + p->offset);
        if (s) return s;
        used++;
    }
    /* The file's ResNet tensors the table has no place for. */
    int have = 0;
    char n[160];
    for (int i = 0; i < f->n_tensors; i++) {
        const char *k = f->tensors[i].name;
        if (!starts(k, pre)) continue;
        if (keymap_tv_resnet_name(k + strlen(pre), n, sizeof n) == 1) have++;
    }
    if (unused) *unused = have - used;
    return CLIPC_OK;
}
