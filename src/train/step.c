/*
 * step.c — one training step over the flat parameter buffer (see step.h).
 * Everything here is either elementwise or reduced in a fixed order, so a
 * step gives the same bits for a given thread count whatever the thread
 * timing: the global gradient norm is summed per tensor in table order,
 * each tensor's sum split into fixed chunks reduced in chunk order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "base/error.h"
#include "base/rng.h"
#include "model/model.h"
#include "nn/clip.h"
#include "nn/params.h"
#include "train/dist.h"
#include "train/optim.h"
#include "train/step.h"

/* Is tensor p frozen under h?  Blocks count from the input side (block 0
 * first), so --freeze-layers N locks the lowest N blocks of each tower,
 * together with the embeddings below them. */
static int is_frozen(const param_info *p, const trainer_hparams *h) {
    if (p->group == PG_VISION && h->freeze_image) return 1;
    if (p->group == PG_TEXT && h->freeze_text) return 1;
    if (h->freeze_layers > 0 && (p->group == PG_VISION || p->group == PG_TEXT)) {
        if (p->layer >= 0) return p->layer < h->freeze_layers;
        /* Tower parameters outside the blocks: the embeddings and ln_pre sit
         * below block 0, ln_post / ln_final above the last block. */
        return !strstr(p->name, "ln_post") && !strstr(p->name, "ln_final");
    }
    return 0;
}

/* The global batch's buffers of a data-parallel run: gathered features,
 * their gradients and the loss caches (CLIP's, the soft-target one) for B
 * pairs. */
static clipc_status global_alloc(trainer *t, int B, int E) {
    size_t be = (size_t)B * E, lc = clip_loss_cache_floats(B, E);
    t->counts = mem_calloc((size_t)t->ranks, sizeof(int), "batch counts");
    t->gmem = mem_alloc((4 * be + lc + soft_loss_cache_floats(B)) * sizeof(float), "global loss workspace");
    if (!t->counts || !t->gmem) return CLIPC_ERR_NOMEM;
    t->g_img = t->gmem, t->g_txt = t->g_img + be, t->g_dimg = t->g_txt + be, t->g_dtxt = t->g_dimg + be;
    clip_loss_cache_bind(&t->glc, t->g_dtxt + be, B, E);
    soft_loss_cache_bind(&t->gsl, t->g_dtxt + be + lc, B);
    return CLIPC_OK;
}

/* bn_sync's allreduce: train/dist.c's, over every rank. */
static int bn_allreduce(double *buf, size_t n, void *ud) {
    (void)ud;
    return dist_allreduce_sum_f64(buf, n) != CLIPC_OK;
}

clipc_status trainer_init(trainer *t, clipc_model *m, int B, const trainer_hparams *h) {
    memset(t, 0, sizeof *t);
    t->m = m;
    t->h = *h;
    t->B = B;
    clipc_status s = model_make_writable(m);
    if (s) return s;
    size_t n = m->tab.total;
    t->grads = mem_calloc(n, sizeof(float), "gradients");
    t->trainable = mem_calloc((size_t)m->tab.n, 1, "trainable mask");
    if (!t->grads || !t->trainable) {
        trainer_free(t);
        return CLIPC_ERR_NOMEM;
    }
    s = clip_weights_bind(&t->gw, &m->cfg, &m->tab, t->grads);
    t->ranks = dist_size(), t->rank = dist_rank();
    if (!s) s = clip_workspace_alloc(&t->ws, &m->cfg, (B + t->ranks - 1) / t->ranks);
    if (!s && t->ranks > 1) s = global_alloc(t, B, m->cfg.embed_dim);
    if (!s && t->ranks > 1 && m->cfg.vision_arch == CLIPC_VISION_TV_RESNET) {
        /* SyncBatchNorm: the statistics of the global batch, as one process
         * would compute them, and the same running statistics on every rank. */
        t->bnsync.allreduce = bn_allreduce;
        t->ws.tva.sync = &t->bnsync;
    }
    /* The gradients the text tower's backward completes: every tensor
     * before the first of the vision tower in the (name-sorted) table. */
    t->text_hi = m->tab.total;
    for (int i = 0; i < m->tab.n; i++)
        if (!strncmp(m->tab.p[i].name, "visual.", 7) && m->tab.p[i].offset < t->text_hi) t->text_hi = m->tab.p[i].offset;
    if (!s) s = optim_init(&t->opt, h->kind, n);
    if (s) {
        trainer_free(t);
        return s;
    }
    t->opt.beta1 = (float)h->beta1;
    t->opt.beta2 = (float)h->beta2;
    t->opt.eps = (float)h->eps;
    t->opt.decay_all = h->decay_all;
    for (int g = 0; g < 4; g++) t->opt.group_lr[g] = 1.0f; /* applied per group in trainer_apply */
    /* One sub-table per group holding only its trainable tensors: the
     * optimizer then never touches a frozen tensor (not even with weight
     * decay, which would move it with a zero gradient). */
    for (int g = 0; g < 4; g++) {
        t->sub[g].p = mem_calloc((size_t)m->tab.n, sizeof(param_info), "parameter groups");
        if (!t->sub[g].p) {
            trainer_free(t);
            return CLIPC_ERR_NOMEM;
        }
    }
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        /* BatchNorm running statistics (p->buffer) are not trained: no Adam, no decay. */
        if (p->buffer || is_frozen(p, h) || h->group_lr[p->group] == 0.0) continue;
        t->trainable[i] = 1;
        param_table *st = &t->sub[p->group];
        st->p[st->n++] = *p;
        st->total += p->numel;
    }
    return CLIPC_OK;
}

void trainer_free(trainer *t) {
    trainer_sync(t); /* no request may still write into grads */
    free(t->grads);
    free(t->trainable);
    free(t->counts);
    free(t->gmem);
    clip_weights_free(&t->gw);
    clip_workspace_free(&t->ws);
    optim_free(&t->opt);
    for (int g = 0; g < 4; g++) free(t->sub[g].p);
    memset(t, 0, sizeof *t);
}

size_t trainer_trainable(const trainer *t) {
    size_t n = 0;
    for (int g = 0; g < 4; g++) n += t->sub[g].total;
    return n;
}

float trainer_micro(trainer *t, const float *pixels, const int32_t *ids, int n, long step) {
    t->ws.dropout = t->h.dropout;
    t->ws.dropout_seed = rng_derive(rng_derive(t->h.seed, 0x64726f70u /* "drop" */), (uint64_t)step) +
                         (uint64_t)t->micro;
    float loss = clip_forward(&t->ws, &t->m->w, pixels, ids, n, 0);
    clip_backward(&t->ws, &t->gw, &t->m->w, ids, n);
    t->micro++;
    return loss;
}

/* Data parallel: the contrastive loss over the global batch.
 *
 * Rank r owns rows R_r of the global batch (its slice, in rank order, so the
 * gathered batch is the one a single process would see).  With features
 * f_i = F(theta; x_i) and the loss L(f_1..f_B, s) of the whole batch,
 *   dL/dtheta = sum_i (df_i/dtheta)^T dL/df_i
 *             = sum_r [ sum_{i in R_r} (df_i/dtheta)^T dL/df_i ]  =  sum_r g_r.
 * Each rank gathers every rank's features (allgather, 2 x B x E floats),
 * computes the full B x B loss and its gradient dL/df for all B rows (the
 * same bits on every rank: same inputs, same code), keeps the rows R_r and
 * back-propagates them through its towers, giving g_r; trainer_apply_global
 * sums g_r over the ranks (allreduce), which is the one-process gradient up
 * to the order of the sums.  No gradient of the gathered features has to
 * travel back: each rank already holds dL/df of its own rows.  dL/ds
 * (logit_scale) is computed identically on every rank, so only rank 0 adds
 * it, else the sum would count it `ranks` times.  This is open_clip's
 * gather_with_grad without local_loss: there every rank also computes the
 * full loss, all_gather's backward sums the N identical copies of
 * dL/df_{R_r} (N x the true value) and DDP's mean divides by N again.
 * The price is 2 B^2 E multiply-adds of loss per rank (duplicated): nothing
 * next to the towers at these batch sizes (docs/distributed.md). */
/* The backward's hooks when the allreduce is overlapped (see dist.c). */
static void overlap_text_done(void *ud) {
    trainer *t = ud;
    clipc_status s = dist_overlap_ready(t->text_hi);
    if (s && !t->ov_status) t->ov_status = s;
}

static void overlap_tick(void *ud) {
    (void)ud;
    dist_overlap_progress();
}

clipc_status trainer_micro_global(trainer *t, const float *pixels, const int32_t *ids, int n_local, long step,
                                  int *n_global, float *loss) {
    *loss = NAN;
    if (t->ranks == 1) {
        *n_global = n_local;
        if (n_local >= 2) *loss = trainer_micro(t, pixels, ids, n_local, step);
        return CLIPC_OK;
    }
    clipc_status s = dist_allgather_int(n_local, t->counts);
    if (s) return s;
    int ng = 0, off = 0, E = t->m->cfg.embed_dim;
    for (int r = 0; r < t->ranks; r++) {
        if (r == t->rank) off = ng;
        ng += t->counts[r];
    }
    *n_global = ng;
    if (ng < 2) return CLIPC_OK;
    if (ng > t->B) return clipc_error(CLIPC_ERR_INVALID, "train: global batch of %d pairs over capacity %d", ng, t->B);
    t->ws.dropout = t->h.dropout;
    /* The rank in the seed: the slices of a step get different masks. */
    t->ws.dropout_seed = rng_derive(rng_derive(t->h.seed, 0x64726f70u /* "drop" */), (uint64_t)step) +
                         (uint64_t)t->micro + ((uint64_t)t->rank << 32);
    /* A rank with no rows still takes part in the BatchNorm allreduces. */
    int idle_bn = n_local == 0 && t->ws.tva.sync;
    t->bnsync.failed = 0;
    if (n_local > 0) clip_forward_towers(&t->ws, &t->m->w, pixels, ids, n_local, 0);
    else if (idle_bn) tv_resnet_sync_idle(&t->ws.tva, &t->m->w.v.tv, NULL);
    s = dist_allgather_rows(t->ws.img_feat, t->counts, E, t->g_img);
    if (!s) s = dist_allgather_rows(t->ws.txt_feat, t->counts, E, t->g_txt);
    if (s) return s;
    float ls = *t->m->w.logit_scale, dscale = 0.0f;
    if (t->ws.soft) { /* the notebook's loss: fixed temperature, no logit_scale gradient */
        float temp = expf(-ls);
        *loss = soft_loss_forward(&t->gsl, t->g_img, t->g_txt, temp, ng, E);
        soft_loss_backward(t->g_dimg, t->g_dtxt, &t->gsl, t->g_img, t->g_txt, temp, ng, E);
    } else {
        *loss = clip_loss_forward(&t->glc, t->g_img, t->g_txt, ls, ng, E);
        clip_loss_backward(t->g_dimg, t->g_dtxt, &dscale, &t->glc, ls, ng, E);
    }
    if (t->rank == 0) *t->gw.logit_scale += dscale;
    /* The step's last backward overlaps the allreduce: logit_scale's
     * gradient is final already; the text tower's when its backward ends. */
    int ov = t->overlap && t->last_micro && !t->ws.tutorial;
    if (ov) s = dist_overlap_begin(t->grads, t->m->tab.total);
    if (s) return s;
    if (n_local > 0) {
        memcpy(t->ws.dimg, t->g_dimg + (size_t)off * E, (size_t)n_local * E * sizeof(float));
        memcpy(t->ws.dtxt, t->g_dtxt + (size_t)off * E, (size_t)n_local * E * sizeof(float));
        t->ov_status = CLIPC_OK;
        if (ov) t->ws.bw_text_done = overlap_text_done, t->ws.bw_tick = overlap_tick, t->ws.bw_ud = t;
        clip_backward_towers(&t->ws, &t->gw, &t->m->w, ids, n_local);
        t->ws.bw_text_done = NULL, t->ws.bw_tick = NULL, t->ws.bw_ud = NULL;
        s = t->ov_status;
    } else if (idle_bn) {
        tv_resnet_sync_idle(&t->ws.tva, &t->m->w.v.tv, &t->gw.v.tv);
    }
    if (s) return s;
    if (t->bnsync.failed)
        return clipc_error(CLIPC_ERR_IO, "train: rank %d: the BatchNorm statistics allreduce failed", t->rank);
    t->micro++;
    return CLIPC_OK;
}

clipc_status trainer_sync(trainer *t) {
    (void)t; /* the requests are dist.c's: one trainer per process */
    return dist_overlap_active() ? dist_overlap_finish() : CLIPC_OK;
}

float trainer_eval_loss(trainer *t, const float *pixels, const int32_t *ids, int n) {
    t->ws.dropout = 0.0f;
    t->ws.eval = 1; /* the tutorial's ResNet: BatchNorm on its running statistics, as model.eval() */
    float loss = clip_forward(&t->ws, &t->m->w, pixels, ids, n, 0);
    t->ws.eval = 0;
    return loss;
}

/* Sum of squares of x in double, reduced in a fixed order: fixed 64Ki-float
 * chunks, each summed sequentially, chunk sums added in chunk order. */
static double sumsq_fixed(const float *x, size_t n) {
    enum { CH = 65536 };
    size_t nch = (n + CH - 1) / CH;
    if (nch <= 1) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        return s;
    }
    double *part = malloc(nch * sizeof *part);
    if (!part) { /* sequential fallback gives a different order: still deterministic per run */
        double s = 0;
        for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        return s;
    }
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nch; c++) {
        size_t a = c * CH, b = a + CH < n ? a + CH : n;
        double s = 0;
        for (size_t i = a; i < b; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
    double s = 0;
    for (size_t c = 0; c < nch; c++) s += part[c];
    free(part);
    return s;
}

static void scale(float *x, size_t n, float k) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] *= k;
}

void trainer_skip(trainer *t) {
    memset(t->grads, 0, t->m->tab.total * sizeof(float));
    t->micro = 0;
}

int trainer_apply(trainer *t, double lr) {
    const param_table *tab = &t->m->tab;
    /* The key bias cannot change any output: softmax ignores a number added
     * to every score of a row, and q . b_k is such a number.  Its true
     * gradient is exactly 0; what backward computes there in float32 is
     * rounding noise, which Adam (m / (sqrt(v) + eps)) would turn into a
     * random walk of up to lr per step.  So the optimizer sees the exact 0. */
    const clipc_config *cfg = &t->m->cfg;
    for (int l = 0; l < cfg->vision_layers; l++)
        memset(t->gw.v.blocks[l].in_proj_b + cfg->vision_width, 0, (size_t)cfg->vision_width * sizeof(float));
    for (int l = 0; l < cfg->transformer_layers; l++)
        if (cfg->text_arch == CLIPC_TEXT_DISTILBERT) /* the tutorial's DistilBERT: its k_lin.bias, the same */
            memset(t->gw.t.db.layers[l].k_b, 0, (size_t)cfg->transformer_width * sizeof(float));
        else
            memset(t->gw.t.blocks[l].in_proj_b + cfg->transformer_width, 0,
                   (size_t)cfg->transformer_width * sizeof(float));
    if (t->micro > 1)
        for (int g = 0; g < 4; g++)
            for (int k = 0; k < t->sub[g].n; k++)
                scale(t->grads + t->sub[g].p[k].offset, t->sub[g].p[k].numel, 1.0f / (float)t->micro);
    /* Global norm over the trainable tensors, in table order. */
    double ss = 0;
    for (int i = 0; i < tab->n; i++)
        if (t->trainable[i]) ss += sumsq_fixed(t->grads + tab->p[i].offset, tab->p[i].numel);
    t->last_grad_norm = sqrt(ss);
    /* A nan/inf gradient would make every weight it reaches nan for good
     * (and Adam's moments with them): the update is skipped instead, so the
     * weights and the optimizer state stay those of the last finite step. */
    if (!isfinite(t->last_grad_norm)) {
        trainer_skip(t);
        return 0;
    }
    if (t->h.grad_clip > 0 && t->last_grad_norm > t->h.grad_clip) {
        float k = (float)(t->h.grad_clip / (t->last_grad_norm + 1e-6)); /* torch clip_grad_norm_ */
        for (int g = 0; g < 4; g++)
            for (int j = 0; j < t->sub[g].n; j++)
                scale(t->grads + t->sub[g].p[j].offset, t->sub[g].p[j].numel, k);
    }
    /* optim_step has one weight decay and counts one step per call; each
     * group gets its own decay, so it is called per group with the step
     * counter rewound: Adam is elementwise, so this is the same update. */
    long step0 = t->opt.step;
    for (int g = 0; g < 4; g++) {
        t->opt.step = step0;
        t->opt.weight_decay = (float)t->h.group_wd[g];
        if (t->sub[g].n) optim_step(&t->opt, &t->sub[g], t->m->params, t->grads, (float)(lr * t->h.group_lr[g]));
    }
    t->opt.step = step0 + 1;
    if (t->h.clamp_logit_scale) {
        float *ls = t->m->w.logit_scale, hi = (float)log(100.0);
        if (*ls < 0.0f) *ls = 0.0f;
        if (*ls > hi) *ls = hi;
    }
    trainer_skip(t);
    return 1;
}

clipc_status trainer_apply_global(trainer *t, double lr, int *applied) {
    /* Every rank holds the same sum afterwards (dist.c), so the norm, the
     * clipping and Adam give the same weights on every rank. */
    clipc_status s = dist_overlap_active() ? dist_overlap_finish() : dist_allreduce_sum(t->grads, t->m->tab.total);
    if (s) return s;
    *applied = trainer_apply(t, lr);
    return CLIPC_OK;
}
