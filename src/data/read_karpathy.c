/*
 * read_karpathy.c — the Karpathy split JSON reader (readers.h): one
 * "images" array whose entries carry the file name (+ COCO's filepath),
 * the split, the imgid and the sentences.  Problems are located as
 * images[i].sentences[j].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "data/readers.h"
#include "clipc.h"
#include "clipc_util.h"
#include "base/utf8.h"

clipc_status read_karpathy(builder *b, const char *buf, size_t len) {
    const char *path = b->path;
    clipc_status s = text_check(path, buf, len, 0);
    if (s) return s;
    size_t bom = utf8_bom_len(buf, len);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf + bom, len - bom, &end, 0);
    if (!root) {
        size_t off = end && end >= buf + bom ? (size_t)(end - buf) : 0;
        int line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += buf[i] == '\n';
        return clipc_error(CLIPC_ERR_FORMAT, "%s:%d: invalid JSON near byte %zu", path, line, off);
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(images)) {
        cJSON_Delete(root);
        return clipc_error(CLIPC_ERR_FORMAT,
                           "%s: no \"images\" array at the top level (not a Karpathy split JSON)", path);
    }
    const cJSON *dsname = cJSON_GetObjectItemCaseSensitive(root, "dataset");
    if (cJSON_IsString(dsname))
        snprintf(b->dataset_name, sizeof b->dataset_name, "%s", dsname->valuestring);
    b->json = 1;
    b->has_splits = 1;
    int i = -1;
    const cJSON *im;
    char ex[64];
    cJSON_ArrayForEach(im, images) {
        i++;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(im, "filename");
        if (!cJSON_IsObject(im) || !cJSON_IsString(fn) || !fn->valuestring[0]) {
            ds_warn_json(b, W_MALFORMED, i, -1, "no \"filename\" string");
            continue;
        }
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(im, "filepath");
        const char *dir = cJSON_IsString(fp) && fp->valuestring[0] ? fp->valuestring : NULL;
        char *name = NULL;
        size_t nlen = strlen(fn->valuestring) + (dir ? strlen(dir) + 1 : 0);
        name = malloc(nlen + 1);
        if (!name) {
            cJSON_Delete(root);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        }
        if (dir) snprintf(name, nlen + 1, "%s/%s", dir, fn->valuestring);
        else memcpy(name, fn->valuestring, nlen + 1);
        if (!text_utf8_valid(name, nlen)) {
            ds_warn_json(b, W_UTF8, i, -1, "file name is not valid UTF-8");
            free(name);
            continue;
        }
        int idx, added;
        s = builder_image_get(b, name, nlen, i, &idx, &added);
        free(name);
        if (s) break;
        ds_image *di = &b->ds->img[idx];
        if (!added) {
            ds_warn_json(b, W_DUP_IMAGE, i, -1, "'%s' already listed at images[%d]",
                      text_excerpt(fn->valuestring, strlen(fn->valuestring), ex, sizeof ex), di->line);
        } else {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(im, "imgid");
            di->id = i;
            if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < 9.0e15 &&
                id->valuedouble == (double)(int64_t)id->valuedouble)
                di->id = (int64_t)id->valuedouble;
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(im, "split");
            clipc_split spl = CLIPC_SPLIT_NONE;
            if (cJSON_IsString(sp) && !split_parse(sp->valuestring, &spl))
                ds_warn_json(b, W_BAD_SPLIT, i, -1, "'%s'",
                          text_excerpt(sp->valuestring, strlen(sp->valuestring), ex, sizeof ex));
            di->split = (int)spl;
        }
        const cJSON *sents = cJSON_GetObjectItemCaseSensitive(im, "sentences");
        if (!sents) continue;
        if (!cJSON_IsArray(sents)) {
            ds_warn_json(b, W_MALFORMED, i, -1, "\"sentences\" is not an array");
            continue;
        }
        int j = -1;
        const cJSON *se;
        cJSON_ArrayForEach(se, sents) {
            j++;
            const cJSON *raw = cJSON_GetObjectItemCaseSensitive(se, "raw");
            if (!cJSON_IsString(raw)) {
                ds_warn_json(b, W_MALFORMED, i, j, "no \"raw\" string");
                continue;
            }
            size_t rl = strlen(raw->valuestring);
            if (!text_utf8_valid(raw->valuestring, rl)) {
                ds_warn_json(b, W_UTF8, i, j, "caption is not valid UTF-8");
                continue;
            }
            const cJSON *sid = cJSON_GetObjectItemCaseSensitive(se, "sentid");
            int64_t cid = -1;
            if (cJSON_IsNumber(sid) && sid->valuedouble >= 0 && sid->valuedouble < 9.0e15)
                cid = (int64_t)sid->valuedouble;
            s = builder_caption_add(b, idx, raw->valuestring, rl, j, cid, path);
            if (s) break;
        }
        if (s) break;
    }
    cJSON_Delete(root);
    return s;
}
