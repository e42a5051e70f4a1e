/*
 * transform.c — which image transform a model expects (clipc.h:
 * clipc_config_transform, clipc_model_transform) and how a model file
 * records it (transform.h).
 *
 * Why per model: OpenAI's CLIP normalises with its own mean/std after
 * resizing the short side to the crop, while the tutorial's model (seed
 * 002) is a timm ResNet-50 fed by timm's eval transform for resnet50
 * (resolve_model_data_config: bicubic, crop_pct 0.95, ImageNet mean/std),
 * which pretrained torchvision/timm weights were trained on.  Feeding one
 * model the other's inputs shifts every feature.  A file without the
 * metadata gets its architecture's transform, so OpenAI's files keep
 * exactly the pixels they always had.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/transform.h"
#include "model/model.h"
#include "base/error.h"

static const float openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
#define TIMM_RESNET50_CROP_PCT 0.95

void clipc_config_transform(const clipc_config *c, clipc_transform *t) {
    int tv = c->vision_arch == CLIPC_VISION_TV_RESNET;
    t->size = c->image_resolution;
    /* timm: scale_size = math.floor(img_size / crop_pct), in double as Python's. */
    t->resize = tv ? (int)floor((double)c->image_resolution / TIMM_RESNET50_CROP_PCT) : c->image_resolution;
    memcpy(t->mean, tv ? imagenet_mean : openai_mean, sizeof t->mean);
    memcpy(t->std, tv ? imagenet_std : openai_std, sizeof t->std);
    t->rgb_first = tv; /* the seed's dataset: Image.open(path).convert("RGB") before the transform */
}

void clipc_model_transform(const clipc_model *m, clipc_transform *t) {
    if (m->transform.size > 0) *t = m->transform;
    else clipc_config_transform(&m->cfg, t);
}

int transform_equal(const clipc_transform *a, const clipc_transform *b) {
    if (a->size != b->size || a->resize != b->resize || a->rgb_first != b->rgb_first) return 0;
    for (int c = 0; c < 3; c++)
        if (a->mean[c] != b->mean[c] || a->std[c] != b->std[c]) return 0;
    return 1;
}

/* The shortest %.Ng that reads back as the same float. */
static void put_float(char *buf, size_t n, float v) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

void transform_meta_fill(const clipc_transform *t, transform_meta *tm) {
    const float *v[2] = {t->mean, t->std};
    char *out[2] = {tm->mean, tm->std};
    for (int k = 0; k < 2; k++) {
        char a[3][20];
        for (int c = 0; c < 3; c++) put_float(a[c], sizeof a[c], v[k][c]);
        snprintf(out[k], sizeof tm->mean, "[%s, %s, %s]", a[0], a[1], a[2]);
    }
    snprintf(tm->resize, sizeof tm->resize, "%d", t->resize);
    snprintf(tm->rgb_first, sizeof tm->rgb_first, "%s", t->rgb_first ? "true" : "false");
}

static clipc_status bad(const char *path, const char *key, const char *v, const char *why) {
    return clipc_error(CLIPC_ERR_FORMAT, "%s: metadata %s '%.60s' %s", path, key, v, why);
}

/* A JSON array of 3 finite numbers; std ones must be > 0. */
static clipc_status read3(const st_file *f, const char *path, const char *key, int positive, float out[3]) {
    const char *v = st_meta(f, key);
    if (!v) return CLIPC_OK;
    cJSON *j = cJSON_Parse(v);
    clipc_status s = CLIPC_OK;
    if (!j || !cJSON_IsArray(j) || cJSON_GetArraySize(j) != 3) s = bad(path, key, v, "is not a list of 3 numbers");
    for (int c = 0; c < 3 && !s; c++) {
        cJSON *e = cJSON_GetArrayItem(j, c);
        double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        if (!isfinite(d) || fabs(d) > 1e6) s = bad(path, key, v, "is not a list of 3 numbers");
        else if (positive && !((float)d > 0.0f)) s = bad(path, key, v, "has a value that is not > 0");
        else out[c] = (float)d;
    }
    cJSON_Delete(j);
    return s;
}

clipc_status transform_from_meta(const st_file *f, const char *path, const clipc_config *c, clipc_transform *t) {
    memset(t, 0, sizeof *t);
    const char *rs = st_meta(f, "image_resize"), *rf = st_meta(f, "image_rgb_first");
    if (!st_meta(f, "image_mean") && !st_meta(f, "image_std") && !rs && !rf) return CLIPC_OK;
    clipc_transform x;
    clipc_config_transform(c, &x);
    clipc_status s = read3(f, path, "image_mean", 0, x.mean);
    if (!s) s = read3(f, path, "image_std", 1, x.std);
    if (s) return s;
    if (rs) {
        cJSON *j = cJSON_Parse(rs);
        double d = j && cJSON_IsNumber(j) ? j->valuedouble : -1;
        cJSON_Delete(j);
        if (!(d == floor(d) && d >= c->image_resolution && d <= 65535))
            return bad(path, "image_resize", rs, "is not an integer from the image resolution to 65535");
        x.resize = (int)d;
    }
    if (rf) {
        if (strcmp(rf, "true") && strcmp(rf, "false")) return bad(path, "image_rgb_first", rf, "is not true or false");
        x.rgb_first = !strcmp(rf, "true");
    }
    *t = x;
    return CLIPC_OK;
}
