/*
 * train.c — clipc_train_run: the training loop over loader batches, with
 * evaluation each epoch, checkpoints, exact resume, metrics and the plot.
 *
 * Exactness.  Every source of variation is a function of stored state: the
 * data order and augmentation come from the loader state, dropout masks
 * from (seed, step), the schedule from (step, epoch, total_steps) and the
 * plateau multiplier; reductions are in fixed order (train_step.c).  A
 * checkpoint holds all of it, so a resumed run takes the same steps with
 * the same bits as one never stopped (same thread count: BLAS splits work
 * by thread count).  Checkpoints are only taken between optimizer steps, so
 * no half-accumulated gradient ever needs saving.
 *
 * Recipes are data: a table of settings applied over the defaults.
 */
#include <cJSON.h>
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train.h"
#include "clipc.h"
#include "clipc_util.h"
#include "data/loader.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/options.h"
#include "train/plot_svg.h"
#include "train/schedule.h"

static volatile sig_atomic_t stop_requested;

void clipc_train_request_stop(void) { stop_requested = 1; }

size_t clipc_train_memory_bytes(const clipc_config *cfg, int batch_size) {
    return train_memory_bytes(cfg, batch_size, 2);
}

/* ------------------------------------------------------------ memory */

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

static clipc_status memory_guard(const clipc_config *cfg, const clipc_train_opts *o) {
    double avail = o->max_memory_gb > 0 ? o->max_memory_gb * 1073741824.0 : mem_available();
    if (avail <= 0) return CLIPC_OK;
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

/* ------------------------------------------------------------ validation */

typedef struct {
    clipc_dataset *ds;
    int n_img, n_txt;
    int *img;            /* dataset index of each kept image */
    int *text_image;     /* [n_txt] position in img[] */
    int32_t *ids;        /* [n_txt, ctx] */
    int *first_text;     /* [n_img] the first caption of each image, for the loss */
    float *pixels;       /* cached preprocessed images, or NULL (decoded per epoch) */
    float *img_emb, *txt_emb;
    float *sim;
} valset;

static void valset_free(valset *v) {
    clipc_dataset_free(v->ds);
    free(v->img);
    free(v->text_image);
    free(v->ids);
    free(v->first_text);
    free(v->pixels);
    free(v->img_emb);
    free(v->txt_emb);
    free(v->sim);
    memset(v, 0, sizeof *v);
}

/* Decodes and preprocesses images img[0..n) into out; ok[i] (may be NULL)
 * tells which succeeded (failed slots are zero).  Returns the failures. */
static int decode_images(const clipc_dataset *ds, const int *img, int n, int R, float *out, unsigned char *ok) {
    int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad)
    for (int i = 0; i < n; i++) {
        char path[4096];
        clipc_image im = {0};
        float *dst = out + (size_t)i * 3 * R * R;
        clipc_dataset_image_fullpath(ds, img[i], path, sizeof path);
        if (clipc_image_load(path, &im) || clipc_preprocess(&im, R, dst, NULL)) {
            memset(dst, 0, (size_t)3 * R * R * sizeof(float));
            bad++;
            if (ok) ok[i] = 0;
        } else if (ok) {
            ok[i] = 1;
        }
        clipc_image_free(&im);
    }
    return bad;
}

static clipc_status valset_prepare(valset *v, clipc_tokenizer *tok, const clipc_config *cfg, char *warnbuf,
                                   size_t wcap) {
    const clipc_dataset *ds = v->ds;
    int ni = clipc_dataset_n_images(ds), R = cfg->image_resolution, ctx = cfg->context_length;
    size_t img_floats = (size_t)3 * R * R;
    int *cand = malloc((size_t)ni * sizeof(int));
    float *px = malloc(img_floats * sizeof(float) * 32);
    v->img = malloc((size_t)ni * sizeof(int));
    v->first_text = malloc((size_t)ni * sizeof(int));
    if (!cand || !px || !v->img || !v->first_text) {
        free(cand);
        free(px);
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory preparing the validation set");
    }
    int nc = 0;
    for (int i = 0; i < ni; i++) {
        int first;
        if (clipc_dataset_image_captions(ds, i, &first) > 0) cand[nc++] = i;
    }
    /* Drop images that do not decode, so Recall is over real pairs only. */
    int kept = 0, bad = 0;
    for (int a = 0; a < nc; a += 32) {
        int n = nc - a < 32 ? nc - a : 32;
        unsigned char ok[32];
        decode_images(ds, cand + a, n, R, px, ok);
        for (int i = 0; i < n; i++) {
            if (!ok[i]) bad++;
            else v->img[kept++] = cand[a + i];
        }
    }
    free(cand);
    free(px);
    clipc_error_clear();
    v->n_img = kept;
    if (bad) snprintf(warnbuf, wcap, "validation: %d image(s) could not be read and are left out", bad);
    if (kept < 2) return clipc_error(CLIPC_ERR_INVALID, "validation split has %d readable image(s)", kept);
    int nt = 0;
    for (int i = 0; i < kept; i++) {
        int first;
        nt += clipc_dataset_image_captions(ds, v->img[i], &first);
    }
    v->n_txt = nt;
    v->text_image = malloc((size_t)nt * sizeof(int));
    v->ids = malloc((size_t)nt * ctx * sizeof(int32_t));
    v->img_emb = malloc((size_t)kept * cfg->embed_dim * sizeof(float));
    v->txt_emb = malloc((size_t)nt * cfg->embed_dim * sizeof(float));
    v->sim = malloc((size_t)kept * nt * sizeof(float));
    if (!v->text_image || !v->ids || !v->img_emb || !v->txt_emb || !v->sim)
        return clipc_error(CLIPC_ERR_NOMEM, "out of memory preparing the validation set");
    int t = 0;
    for (int i = 0; i < kept; i++) {
        int first, n = clipc_dataset_image_captions(ds, v->img[i], &first);
        v->first_text[i] = t;
        for (int c = 0; c < n; c++, t++) {
            const char *s = clipc_dataset_caption(ds, first + c);
            v->text_image[t] = i;
            clipc_status st = clipc_tokenize_context(tok, s, strlen(s), ctx, 1, v->ids + (size_t)t * ctx);
            if (st) return st;
        }
    }
    /* Cache the preprocessed images when they are small (< 1 GiB). */
    if ((double)kept * img_floats * 4 < 1073741824.0) {
        v->pixels = malloc((size_t)kept * img_floats * sizeof(float));
        if (v->pixels) decode_images(ds, v->img, kept, R, v->pixels, NULL);
    }
    return CLIPC_OK;
}

typedef struct {
    double loss, i2t[3], t2i[3], mean_recall;
} val_result;

/* Encodes every kept image and caption, then Recall@1/5/10 both ways and
 * the contrastive loss of (image, first caption) pairs in batches of B,
 * in image order, from the same embeddings (no second forward). */
static clipc_status evaluate(valset *v, const clipc_model *m, int B, val_result *r) {
    const clipc_config *cfg = clipc_model_config(m);
    int R = cfg->image_resolution, E = cfg->embed_dim;
    size_t img_floats = (size_t)3 * R * R;
    clipc_status s = CLIPC_OK;
    if (v->pixels) {
        s = clipc_encode_image(m, v->pixels, v->n_img, v->img_emb);
    } else {
        float *px = malloc(img_floats * sizeof(float) * 32);
        if (!px) return clipc_error(CLIPC_ERR_NOMEM, "out of memory in evaluation");
        for (int a = 0; a < v->n_img && !s; a += 32) {
            int n = v->n_img - a < 32 ? v->n_img - a : 32;
            decode_images(v->ds, v->img + a, n, R, px, NULL);
            s = clipc_encode_image(m, px, n, v->img_emb + (size_t)a * E);
        }
        free(px);
    }
    if (!s) s = clipc_encode_text(m, v->ids, v->n_txt, v->txt_emb);
    if (s) return s;
    clipc_l2_normalize(v->img_emb, v->n_img, E);
    clipc_l2_normalize(v->txt_emb, v->n_txt, E);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, v->n_img, v->n_txt, E, 1.0f, v->img_emb, E, v->txt_emb, E,
                0.0f, v->sim, v->n_txt);
    clipc_retrieval_metrics rm;
    s = clipc_retrieval_eval(v->sim, v->n_img, v->n_txt, v->text_image, NULL, 0, &rm, NULL, NULL);
    if (s) return s;
    r->mean_recall = 0;
    for (int k = 0; k < 3; k++) {
        r->i2t[k] = rm.i2t_recall[k];
        r->t2i[k] = rm.t2i_recall[k];
        r->mean_recall += (rm.i2t_recall[k] + rm.t2i_recall[k]) / 6.0;
    }
    /* Loss: per batch, mean of the two cross-entropies, averaged over
     * batches weighted by their size. */
    double scale = exp((double)*m->w.logit_scale), total = 0;
    for (int a = 0; a < v->n_img; a += B) {
        int n = v->n_img - a < B ? v->n_img - a : B;
        double li = 0, lt = 0;
        for (int i = 0; i < n; i++) {
            /* row i: image a+i against the first captions of the batch */
            double mx = -INFINITY, mxc = -INFINITY;
            for (int j = 0; j < n; j++) {
                double x = scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + j]];
                double y = scale * v->sim[(size_t)(a + j) * v->n_txt + v->first_text[a + i]];
                if (x > mx) mx = x;
                if (y > mxc) mxc = y;
            }
            double si = 0, st = 0;
            for (int j = 0; j < n; j++) {
                si += exp(scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + j]] - mx);
                st += exp(scale * v->sim[(size_t)(a + j) * v->n_txt + v->first_text[a + i]] - mxc);
            }
            double diag = scale * v->sim[(size_t)(a + i) * v->n_txt + v->first_text[a + i]];
            li += mx + log(si) - diag;
            lt += mxc + log(st) - diag;
        }
        total += 0.5 * (li + lt);
    }
    r->loss = total / v->n_img;
    return CLIPC_OK;
}

/* ------------------------------------------------------------ metrics file */

typedef struct {
    char *buf;
    size_t len, cap;
    double *train_loss, *val_loss, *recall; /* per epoch */
    int n_ep, cap_ep;
} metrics_log;

static int ml_append(metrics_log *ml, const char *line) {
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

static int ml_epoch(metrics_log *ml, double tl, double vl, double rc) {
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

/* A number for JSON: NaN (no validation) becomes null. */
static const char *jd(char buf[32], double x, int prec) {
    if (!isfinite(x)) return "null";
    snprintf(buf, 32, "%.*g", prec, x);
    return buf;
}

static double jnum(cJSON *j, const char *k) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* On resume: keep the lines of metrics.jsonl up to the checkpoint's step
 * (a killed run may have logged steps the resumed run will redo). */
static void ml_reload(metrics_log *ml, const char *path, int64_t upto) {
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
            ml_append(ml, line);
            if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "epoch"))
                ml_epoch(ml, jnum(j, "train_loss"), jnum(j, "val_loss"), jnum(j, "mean_recall"));
        }
        cJSON_Delete(j);
    }
    free(data);
}

static void ml_free(metrics_log *ml) {
    free(ml->buf);
    free(ml->train_loss);
    free(ml->val_loss);
    free(ml->recall);
}

/* ------------------------------------------------------------ the run */

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void emit(const clipc_train_opts *o, clipc_train_progress *p) {
    if (o->progress) o->progress(p, o->ud);
}

static void info(const clipc_train_opts *o, int kind, const char *msg) {
    clipc_train_progress p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.message = msg;
    emit(o, &p);
}

static void warn_cb(const char *msg, void *ud) {
    const clipc_train_opts *o = ud;
    if (o->warn) o->warn(msg, o->ud);
}

/* Does the data file carry split information? */
static int has_splits(const clipc_dataset *ds) {
    int n = clipc_dataset_n_images(ds);
    for (int i = 0; i < n; i++)
        if (clipc_dataset_image_split(ds, i) != CLIPC_SPLIT_NONE) return 1;
    return 0;
}

clipc_status clipc_train_run(const clipc_train_opts *user, clipc_train_result *res) {
    clipc_train_opts o = *user;
    cJSON *stored = NULL;
    char *ckpt_dir = NULL, *out_parent = NULL, *stored_json = NULL, *opts_json = NULL, *model_path = NULL;
    clipc_dataset *train_ds = NULL, *all_ds = NULL;
    valset val = {0};
    clipc_model *m = NULL;
    clipc_tokenizer *tok = NULL;
    data_loader *ld = NULL;
    trainer tr;
    int tr_ok = 0;
    metrics_log ml = {0};
    run_state rs;
    char *metrics_path = NULL, *plot_path = NULL;
    char msg[1024];
    double t0 = clipc_now();
    clipc_status s = CLIPC_OK;
    memset(&rs, 0, sizeof rs);
    memset(&tr, 0, sizeof tr);
    stop_requested = 0;
    if (res) memset(res, 0, sizeof *res);

    if (user->resume && *user->resume) {
        s = ckpt_resolve(user->resume, &ckpt_dir);
        if (!s) s = ckpt_load_state(ckpt_dir, &rs, NULL, &stored_json);
        if (!s) s = train_opts_from_json(stored_json, ckpt_dir, &o, &stored);
        if (s) goto done;
        /* What may differ on resume: where to write, threads, callbacks,
         * the stop point, memory cap. */
        if (user->out_dir && *user->out_dir) {
            o.out_dir = user->out_dir;
        } else if (strcmp(ckpt_dir, user->resume) != 0) {
            o.out_dir = user->resume; /* a run folder */
        } else {                      /* a checkpoint folder: its parent */
            out_parent = strdup(user->resume);
            if (!out_parent) {
                s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
                goto done;
            }
            size_t l = strlen(out_parent);
            while (l > 1 && out_parent[l - 1] == '/') out_parent[--l] = 0;
            char *sl = strrchr(out_parent, '/');
            if (sl) *sl = 0;
            else strcpy(out_parent, ".");
            o.out_dir = out_parent;
        }
        if (o.minutes > 0) {
            s = clipc_error(CLIPC_ERR_INVALID,
                            "train: a --minutes run cannot be resumed (its schedule follows the clock); "
                            "replay it with --steps");
            goto done;
        }
        if (user->epochs > 0 && user->epochs != o.epochs) {
            s = clipc_error(CLIPC_ERR_INVALID, "train: cannot change --epochs on resume (%d in the checkpoint)",
                            o.epochs);
            goto done;
        }
    }
    s = train_opts_check(&o);
    if (s) goto done;
    clipc_set_threads(o.threads);
    if (mkdir(o.out_dir, 0777) != 0 && errno != EEXIST) {
        s = clipc_error(CLIPC_ERR_IO, "%s: cannot create folder: %s", o.out_dir, strerror(errno));
        goto done;
    }
    ckpt_prune(o.out_dir, 1 << 30); /* removes stale *.tmp folders only */
    clipc_error_clear();

    /* Data. */
    clipc_dataset_opts dso = {0};
    dso.image_root = o.image_root;
    dso.warn = warn_cb;
    dso.warn_ud = (void *)&o;
    dso.check_images = 1;
    s = clipc_dataset_load(o.data, &dso, &all_ds);
    if (s) goto done;
    int splits = has_splits(all_ds);
    const char *tsplit = o.train_split && *o.train_split && strcmp(o.train_split, "all") ? o.train_split : NULL;
    const char *vsplit = o.val_split && *o.val_split ? o.val_split : NULL;
    if (!splits) {
        if (vsplit) info(&o, CLIPC_TRAIN_INFO, "the data has no splits: training on every image, no validation");
        tsplit = vsplit = NULL;
    }
    if (tsplit) {
        dso.split = tsplit;
        dso.warn = NULL; /* reported once already */
        s = clipc_dataset_load(o.data, &dso, &train_ds);
        if (s) goto done;
    } else {
        train_ds = all_ds;
        all_ds = NULL;
    }
    if (vsplit) {
        dso.split = vsplit;
        dso.warn = NULL;
        if (clipc_dataset_load(o.data, &dso, &val.ds)) {
            snprintf(msg, sizeof msg, "no usable validation split '%s' (%s): no evaluation", vsplit,
                     clipc_last_error());
            info(&o, CLIPC_TRAIN_INFO, msg);
            clipc_error_clear();
            val.ds = NULL;
        }
    }

    /* Model. */
    if (ckpt_dir) {
        model_path = path_in(ckpt_dir, "model.safetensors");
        s = model_path ? clipc_model_load(model_path, NULL, &m) : CLIPC_ERR_NOMEM;
    } else if (o.init && *o.init) {
        clipc_load_opts lo = {0};
        lo.copy = 1;
        lo.warn = warn_cb;
        lo.warn_ud = (void *)&o;
        s = clipc_model_load(o.init, &lo, &m);
    } else {
        clipc_config cfg;
        s = clipc_config_named(o.config ? o.config : "small", &cfg);
        if (!s) s = clipc_model_create(&cfg, o.seed, &m);
    }
    if (s) goto done;
    const clipc_config *cfg = clipc_model_config(m);
    s = memory_guard(cfg, &o);
    if (s) goto done;
    opts_json = train_opts_to_json(&o, cfg);
    if (!opts_json) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        char *cp = path_in(o.out_dir, "config.json");
        s = cp ? clipc_write_file_atomic(cp, opts_json, strlen(opts_json)) : CLIPC_ERR_NOMEM;
        free(cp);
        if (s) goto done;
    }

    s = clipc_tokenizer_load(NULL, &tok);
    if (s) goto done;
    if (val.ds) {
        char w[256] = "";
        if (valset_prepare(&val, tok, cfg, w, sizeof w)) {
            snprintf(msg, sizeof msg, "validation disabled: %s", clipc_last_error());
            info(&o, CLIPC_TRAIN_INFO, msg);
            clipc_error_clear();
            valset_free(&val);
        } else if (*w) {
            info(&o, CLIPC_TRAIN_INFO, w);
        }
    }

    loader_opts lo = {0};
    lo.ds = train_ds;
    lo.tok = tok;
    lo.batch_size = o.batch_size;
    lo.image_size = cfg->image_resolution;
    lo.context_length = cfg->context_length;
    lo.seed = o.seed;
    lo.drop_last = clipc_dataset_n_images(train_ds) >= 2 * o.batch_size;
    lo.augment = o.augment;
    lo.shift = o.shift;
    lo.fast_decode = o.fast_decode;
    lo.workers = o.workers;
    lo.prefetch = o.prefetch;
    lo.cache_path = o.cache && *o.cache ? o.cache : NULL;
    lo.warn = warn_cb;
    lo.warn_ud = (void *)&o;
    s = loader_create(&lo, &ld);
    if (s) goto done;

    trainer_hparams h = {0};
    h.kind = o.adam ? OPT_ADAM : OPT_ADAMW;
    h.beta1 = o.beta1, h.beta2 = o.beta2, h.eps = o.eps;
    double glr[4] = {o.lr_image, o.lr_text, o.lr_proj, o.lr_logit_scale};
    double gwd[4] = {o.wd_image, o.wd_text, o.wd_proj, o.wd};
    for (int g = 0; g < 4; g++) {
        h.group_lr[g] = glr[g] < 0 ? 1.0 : (o.lr > 0 ? glr[g] / o.lr : 0.0);
        h.group_wd[g] = gwd[g] < 0 ? o.wd : gwd[g];
    }
    h.decay_all = o.decay_all;
    h.grad_clip = o.grad_clip;
    h.clamp_logit_scale = 1;
    h.freeze_image = o.freeze && !strcmp(o.freeze, "image");
    h.freeze_text = o.freeze && !strcmp(o.freeze, "text");
    h.freeze_layers = o.freeze_layers;
    h.dropout = (float)o.dropout;
    h.seed = o.seed;
    s = trainer_init(&tr, m, o.batch_size, &h);
    if (s) goto done;
    tr_ok = 1;

    sched sc = {(sched_kind)sched_parse(o.schedule), o.lr, o.min_lr, o.warmup, 0, o.epochs};
    plateau pl;
    int maximize = val.ds && strcmp(o.best_metric ? o.best_metric : "recall", "loss") != 0;
    plateau_init(&pl, o.plateau, maximize, o.plateau_factor, o.plateau_patience);
    metrics_path = path_in(o.out_dir, "metrics.jsonl");
    plot_path = path_in(o.out_dir, "plot.svg");
    if (!metrics_path || !plot_path) {
        s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (ckpt_dir) {
        s = ckpt_load_state(ckpt_dir, &rs, &tr.opt, NULL);
        if (!s) s = loader_set_state(ld, rs.loader);
        if (s) goto done;
        pl.bad_epochs = (int)rs.plateau_bad, pl.seen = (int)rs.plateau_seen;
        pl.best = rs.plateau_best, pl.mult = rs.plateau_mult;
        ml_reload(&ml, metrics_path, rs.step);
        snprintf(msg, sizeof msg, "resumed from %s: step %lld, epoch %lld", ckpt_dir, (long long)rs.step,
                 (long long)rs.epoch + 1);
        info(&o, CLIPC_TRAIN_INFO, msg);
    } else {
        long per_epoch = (loader_batches_per_epoch(ld) + o.accum - 1) / o.accum;
        rs.total_steps = o.steps > 0 ? o.steps : per_epoch * o.epochs;
        rs.plateau_mult = 1.0;
        rs.best = NAN;
    }
    sc.total_steps = rs.total_steps;
    if (o.warmup_frac > 0) sc.warmup = (long)floor(o.warmup_frac * (double)rs.total_steps + 0.5);

    /* Length: epochs, a step count or a wall-clock budget.  The budget's
     * clock is the loop minus evaluation and checkpoint writes (`paused`),
     * so validation settings do not change how much training a budget buys.
     * A step is started only if the mean step time so far says it ends in
     * the budget; checked after each step, so at least one step runs. */
    const int timed = o.minutes > 0;
    const double budget = o.minutes * 60.0;
    int64_t max_epochs = o.epochs;
    if (timed || o.steps > 0) max_epochs = INT32_MAX;
    double loop_t0 = clipc_now(), paused = 0;
    int time_up = 0, steps_done = 0;

    /* The loop. */
    const double chance_B = log((double)o.batch_size);
    const int64_t bad0 = rs.bad_images; /* pairs skipped before a resume */
    double step_loss = 0, rate_t0 = clipc_now(), eta_sec_per_step = 0;
    int64_t rate_step0 = rs.step, rate_pairs = 0;
    int step_pairs = 0, stopped = 0;
    long bpe = 0;
    while (rs.epoch < max_epochs) {
        bpe = loader_batches_per_epoch(ld); /* of the epoch the next batch belongs to */
        loader_batch b;
        s = loader_next(ld, &b);
        if (s) goto done;
        int end_of_epoch = b.index + 1 >= bpe;
        if (b.n >= 2) {
            step_loss += trainer_micro(&tr, b.pixels, b.ids, b.n, (long)rs.step);
            step_pairs += b.n;
        }
        if (tr.micro < o.accum && !end_of_epoch) continue;
        if (tr.micro > 0) {
            double lr = timed ? sched_lr_frac(&sc, (clipc_now() - loop_t0 - paused) / budget, o.warmup_frac)
                              : sched_lr(&sc, (long)rs.step, (int)rs.epoch);
            lr *= pl.mult;
            int nm = tr.micro;
            trainer_apply(&tr, lr);
            double loss = step_loss / nm;
            rs.step++;
            rs.opt_step = tr.opt.step;
            rs.epoch_loss_sum += loss;
            rs.epoch_loss_n++;
            rate_pairs += step_pairs;
            double now = clipc_now(), dt = now - rate_t0;
            if (timed) {
                int64_t done_here = rs.step - rate_step0 > 0 ? rs.step - rate_step0 : 1;
                double el = now - loop_t0 - paused, per = el / (double)done_here;
                if (el + per > budget) time_up = 1;
                rs.total_steps = time_up ? rs.step : rs.step + (int64_t)((budget - el) / per);
            }
            if (o.steps > 0 && rs.step >= o.steps) steps_done = 1;
            double sps = dt > 0 ? (double)(rs.step - rate_step0) / dt : 0;
            if (sps > 0) eta_sec_per_step = 1.0 / sps;
            clipc_train_progress p;
            memset(&p, 0, sizeof p);
            p.kind = CLIPC_TRAIN_STEP;
            p.epoch = rs.epoch, p.epochs = o.epochs, p.step = rs.step, p.total_steps = rs.total_steps;
            p.batch_in_epoch = b.index + 1, p.batches_in_epoch = bpe;
            p.loss = loss, p.chance = log((double)(step_pairs / nm > 1 ? step_pairs / nm : 2));
            p.lr = lr, p.grad_norm = tr.last_grad_norm;
            p.pairs_per_s = dt > 0 ? rate_pairs / dt : 0;
            p.eta_s = eta_sec_per_step * (double)(rs.total_steps - rs.step);
            p.bad_images = loader_bad_images(ld) + (int)bad0;
            emit(&o, &p);
            if (o.log_every > 0 && rs.step % o.log_every == 0) {
                snprintf(msg, sizeof msg,
                         "{\"type\":\"step\",\"step\":%lld,\"epoch\":%lld,\"loss\":%.6g,\"lr\":%.6g,"
                         "\"grad_norm\":%.6g,\"pairs_per_s\":%.4g}",
                         (long long)rs.step, (long long)rs.epoch, loss, lr, tr.last_grad_norm, p.pairs_per_s);
                ml_append(&ml, msg);
                clipc_write_file_atomic(metrics_path, ml.buf, ml.len);
            }
            step_loss = 0;
            step_pairs = 0;
            if (o.stop_after_steps > 0 && rs.step >= o.stop_after_steps) stopped = 1;
            if (stop_requested || time_up || steps_done) stopped = 1;
        }
        if (end_of_epoch) {
            double tl = rs.epoch_loss_n ? rs.epoch_loss_sum / rs.epoch_loss_n : NAN;
            val_result vr = {NAN, {NAN, NAN, NAN}, {NAN, NAN, NAN}, NAN};
            double tp0 = clipc_now();
            if (val.ds) {
                s = evaluate(&val, m, o.batch_size, &vr);
                if (s) goto done;
            }
            double metric = !val.ds ? tl : maximize ? vr.mean_recall : vr.loss;
            int better = !rs.best_seen || (maximize ? metric > rs.best : metric < rs.best);
            if (better) rs.best = metric, rs.best_seen = 1, rs.best_step = rs.step;
            plateau_update(&pl, metric);
            clipc_train_progress p;
            memset(&p, 0, sizeof p);
            p.kind = CLIPC_TRAIN_EPOCH;
            p.epoch = rs.epoch, p.epochs = o.epochs, p.step = rs.step, p.total_steps = rs.total_steps;
            p.train_loss = tl, p.val_loss = vr.loss, p.mean_recall = vr.mean_recall, p.chance = chance_B;
            p.lr = sched_lr(&sc, (long)rs.step, (int)rs.epoch + 1) * pl.mult;
            for (int k = 0; k < 3; k++) p.i2t[k] = vr.i2t[k], p.t2i[k] = vr.t2i[k];
            p.bad_images = loader_bad_images(ld) + (int)bad0;
            emit(&o, &p);
            char b[9][32];
            snprintf(msg, sizeof msg,
                     "{\"type\":\"epoch\",\"epoch\":%lld,\"step\":%lld,\"train_loss\":%s,\"val_loss\":%s,"
                     "\"i2t_r1\":%s,\"i2t_r5\":%s,\"i2t_r10\":%s,\"t2i_r1\":%s,\"t2i_r5\":%s,"
                     "\"t2i_r10\":%s,\"mean_recall\":%s,\"lr_mult\":%.6g,\"bad_images\":%d,\"seconds\":%.1f}",
                     (long long)rs.epoch + 1, (long long)rs.step, jd(b[0], tl, 6), jd(b[1], vr.loss, 6),
                     jd(b[2], vr.i2t[0], 4), jd(b[3], vr.i2t[1], 4), jd(b[4], vr.i2t[2], 4), jd(b[5], vr.t2i[0], 4),
                     jd(b[6], vr.t2i[1], 4), jd(b[7], vr.t2i[2], 4), jd(b[8], vr.mean_recall, 4), pl.mult,
                     p.bad_images, clipc_now() - t0);
            ml_append(&ml, msg);
            ml_epoch(&ml, tl, vr.loss, vr.mean_recall);
            s = clipc_write_file_atomic(metrics_path, ml.buf, ml.len);
            if (!s) s = plot_svg_write(plot_path, ml.train_loss, ml.val_loss, ml.recall, ml.n_ep, chance_B);
            if (s) goto done;
            rs.epoch++;
            rs.epoch_loss_sum = 0;
            rs.epoch_loss_n = 0;
            rs.epoch_step0 = rs.step;
            int keep = o.save_every > 0 && rs.epoch % o.save_every == 0;
            rs.plateau_bad = pl.bad_epochs, rs.plateau_seen = pl.seen;
            rs.plateau_best = pl.best, rs.plateau_mult = pl.mult;
            loader_get_state(ld, rs.loader);
            rs.bad_images = bad0 + loader_bad_images(ld);
            s = ckpt_save(o.out_dir, m, &tr.opt, &rs, opts_json, keep, better, o.checkpoint_hook, o.ud);
            if (!s) s = ckpt_prune(o.out_dir, o.keep_last > 0 ? o.keep_last : 1);
            if (s) goto done;
            paused += clipc_now() - tp0;
            snprintf(msg, sizeof msg, "checkpoint ckpt-%lld (epoch %lld%s)", (long long)rs.step,
                     (long long)rs.epoch, better ? ", best" : "");
            info(&o, CLIPC_TRAIN_CHECKPOINT, msg);
        } else if (stopped || (o.ckpt_every_steps > 0 && rs.step % o.ckpt_every_steps == 0 && tr.micro == 0)) {
            double tp0 = clipc_now();
            rs.plateau_bad = pl.bad_epochs, rs.plateau_seen = pl.seen;
            rs.plateau_best = pl.best, rs.plateau_mult = pl.mult;
            loader_get_state(ld, rs.loader);
            rs.bad_images = bad0 + loader_bad_images(ld);
            s = ckpt_save(o.out_dir, m, &tr.opt, &rs, opts_json, 0, 0, o.checkpoint_hook, o.ud);
            if (!s) s = ckpt_prune(o.out_dir, o.keep_last > 0 ? o.keep_last : 1);
            if (s) goto done;
            paused += clipc_now() - tp0;
            snprintf(msg, sizeof msg, "checkpoint ckpt-%lld (%s %lld)", (long long)rs.step,
                     time_up ? "budget used, epoch" : steps_done ? "last step, epoch" : "mid-epoch",
                     (long long)rs.epoch + 1);
            info(&o, CLIPC_TRAIN_CHECKPOINT, msg);
        }
        if (stopped) break;
    }
    double train_seconds = clipc_now() - loop_t0 - paused;
    if (timed || o.steps > 0) {
        /* The record that lets `--steps N` replay a timed run. */
        snprintf(msg, sizeof msg,
                 "{\"type\":\"end\",\"step\":%lld,\"epoch\":%lld,\"minutes\":%.6g,\"train_seconds\":%.3f,"
                 "\"replay\":\"--steps %lld\"}",
                 (long long)rs.step, (long long)rs.epoch, o.minutes, train_seconds, (long long)rs.step);
        ml_append(&ml, msg);
        s = clipc_write_file_atomic(metrics_path, ml.buf, ml.len);
        if (s) goto done;
    }
    if (res) {
        res->train_seconds = train_seconds;
        res->step = rs.step;
        res->epoch = rs.epoch;
        res->stopped = stopped && !time_up && !steps_done && rs.epoch < max_epochs;
        res->final_loss = ml.n_ep ? ml.train_loss[ml.n_ep - 1] : NAN;
        res->best_metric = rs.best;
        res->bad_images = (int)bad0 + loader_bad_images(ld);
        res->seconds = clipc_now() - t0;
    }
done:
    if (tr_ok) trainer_free(&tr);
    loader_free(ld);
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
    valset_free(&val);
    clipc_dataset_free(train_ds);
    clipc_dataset_free(all_ds);
    ml_free(&ml);
    cJSON_Delete(stored);
    free(ckpt_dir);
    free(out_parent);
    free(stored_json);
    free(opts_json);
    free(model_path);
    free(metrics_path);
    free(plot_path);
    return s;
}
