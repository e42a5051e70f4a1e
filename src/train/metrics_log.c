/*
 * metrics_log.c — the lines of metrics.jsonl (see metrics_log.h), kept in
 * memory and rewritten whole after each addition, so the file on disk is
 * always complete.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics_log.h"
#include "clipc_util.h"

int metrics_log_append(metrics_log *ml, const char *line) {
    size_t n = strlen(line);
    if (ml->len + n + 2 > ml->cap) {
        size_t cap = 2 * ml->cap + n + 4096;
        char *b = realloc(ml->buf, cap);
        if (!b) return -1;
        ml->buf = b;
        ml->cap = cap;
    }
    memcpy(ml->buf + ml->len, line, n);
    ml->len += n;
    ml->buf[ml->len++] = '\n';
    ml->buf[ml->len] = 0;
    return 0;
}

int metrics_log_add_epoch(metrics_log *ml, double tl, double vl, double rc) {
    if (ml->n_ep == ml->cap_ep) {
        int cap = ml->cap_ep ? 2 * ml->cap_ep : 64;
        double *a = realloc(ml->train_loss, (size_t)cap * sizeof(double));
        if (a) ml->train_loss = a;
        double *b = realloc(ml->val_loss, (size_t)cap * sizeof(double));
        if (b) ml->val_loss = b;
        double *c = realloc(ml->recall, (size_t)cap * sizeof(double));
        if (c) ml->recall = c;
        if (!a || !b || !c) return -1;
        ml->cap_ep = cap;
    }
    ml->train_loss[ml->n_ep] = tl;
    ml->val_loss[ml->n_ep] = vl;
    ml->recall[ml->n_ep] = rc;
    ml->n_ep++;
    return 0;
}

/* A number for JSON, which has no nan/inf: a non-finite value (no
 * validation, a diverged step's loss) becomes null. */
static const char *jd(char buf[32], double x, int prec) {
    if (!isfinite(x)) return "null";
    snprintf(buf, 32, "%.*g", prec, x);
    return buf;
}

static double jnum(cJSON *j, const char *k) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void metrics_log_step(metrics_log *ml, int64_t step, int64_t epoch, double loss, double lr, double grad_norm,
                      double pairs_per_s) {
    char msg[1024], b[4][32];
    snprintf(msg, sizeof msg,
             "{\"type\":\"step\",\"step\":%lld,\"epoch\":%lld,\"loss\":%s,\"lr\":%s,"
             "\"grad_norm\":%s,\"pairs_per_s\":%s}",
             (long long)step, (long long)epoch, jd(b[0], loss, 6), jd(b[1], lr, 6), jd(b[2], grad_norm, 6),
             jd(b[3], pairs_per_s, 4));
    metrics_log_append(ml, msg);
}

void metrics_log_epoch(metrics_log *ml, int64_t epoch, int64_t step, double train_loss, const val_result *vr,
                       double lr_mult, int bad_images, double seconds) {
    char msg[1024], b[9][32];
    snprintf(msg, sizeof msg,
             "{\"type\":\"epoch\",\"epoch\":%lld,\"step\":%lld,\"train_loss\":%s,\"val_loss\":%s,"
             "\"i2t_r1\":%s,\"i2t_r5\":%s,\"i2t_r10\":%s,\"t2i_r1\":%s,\"t2i_r5\":%s,"
             "\"t2i_r10\":%s,\"mean_recall\":%s,\"lr_mult\":%.6g,\"bad_images\":%d,\"seconds\":%.1f}",
             (long long)epoch, (long long)step, jd(b[0], train_loss, 6), jd(b[1], vr->loss, 6),
             jd(b[2], vr->i2t[0], 4), jd(b[3], vr->i2t[1], 4), jd(b[4], vr->i2t[2], 4), jd(b[5], vr->t2i[0], 4),
             jd(b[6], vr->t2i[1], 4), jd(b[7], vr->t2i[2], 4), jd(b[8], vr->mean_recall, 4), lr_mult, bad_images,
             seconds);
    metrics_log_append(ml, msg);
    metrics_log_add_epoch(ml, train_loss, vr->loss, vr->mean_recall);
}

void metrics_log_end(metrics_log *ml, int64_t step, int64_t epoch, double minutes, double train_seconds) {
    char msg[1024];
    snprintf(msg, sizeof msg,
             "{\"type\":\"end\",\"step\":%lld,\"epoch\":%lld,\"minutes\":%.6g,\"train_seconds\":%.3f,"
             "\"replay\":\"--steps %lld\"}",
             (long long)step, (long long)epoch, minutes, train_seconds, (long long)step);
    metrics_log_append(ml, msg);
}

void metrics_log_reload(metrics_log *ml, const char *path, int64_t upto) {
    char *data;
    size_t len;
    if (clipc_read_file(path, &data, &len)) {
        clipc_error_clear();
        return;
    }
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        double st = jnum(j, "step");
        cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (st <= (double)upto) {
            metrics_log_append(ml, line);
            if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "epoch"))
                metrics_log_add_epoch(ml, jnum(j, "train_loss"), jnum(j, "val_loss"), jnum(j, "mean_recall"));
        }
        cJSON_Delete(j);
    }
    free(data);
}

void metrics_log_free(metrics_log *ml) {
    free(ml->buf);
    free(ml->train_loss);
    free(ml->val_loss);
    free(ml->recall);
}
