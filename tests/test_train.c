/*
 * test_train.c — the training loop: three AdamW steps against PyTorch
 * (tests/data/goldens/a/train_step.safetensors), schedules, a tiny run on
 * synthetic captioned images that must learn (and must not with shuffled
 * captions), bit-exact resume, crash safety of checkpoints, bad data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/rng.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "nn/params.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/step.h"
#include "harness.h"

/* ---------------------------------------------------- PyTorch reference */

static double meta_num(const st_file *f, const char *key) {
    const char *v = st_meta(f, key);
    REQUIREF(v, "train_step.safetensors: no metadata %s", key);
    return atof(v);
}

/* Three AdamW steps from tests/data/goldens/a/weights.safetensors against
 * PyTorch (tools/goldens/make_goldens.py).  The file holds PyTorch's float32
 * result (after.*) and the same run in float64 (after64.*): the float64 run
 * is the exact answer up to 1e-15, the float32 one carries PyTorch's own
 * rounding.  The recipe (lr, warm-up, decay, start logit scale) comes from
 * the file's metadata.  bound64 < 0 bounds clipc's distance from float64 by
 * PyTorch float32's own. */
static void check_train_step(const char *path, double bound64) {
    clipc_model *m;
    st_file ts;
    REQUIRE_OK(clipc_model_load("tests/data/goldens/a/weights.safetensors", NULL, &m));
    REQUIRE_OK(st_open(path, &ts));
    trainer_hparams h = {0};
    h.kind = OPT_ADAMW;
    h.beta1 = 0.9, h.beta2 = 0.98, h.eps = 1e-6;
    double wd = meta_num(&ts, "weight_decay");
    for (int g = 0; g < 4; g++) h.group_lr[g] = 1.0, h.group_wd[g] = wd;
    h.clamp_logit_scale = 1;
    const st_tensor *ls0 = st_get(&ts, "start.logit_scale");
    REQUIRE(ls0 && ls0->dtype == ST_F32);
    trainer t;
    REQUIRE_OK(trainer_init(&t, m, 4, &h)); /* makes the (mmap'ed) weights writable */
    m->w.logit_scale[0] = *(const float *)ls0->data;
    sched sc = {SCHED_COSINE, meta_num(&ts, "lr"), 0.0, (long)meta_num(&ts, "warmup"),
                (long)meta_num(&ts, "total"), 1};
    int clamp_hits = 0;
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "step%d.pixel_values", k);
        const st_tensor *px = st_get(&ts, name);
        snprintf(name, sizeof name, "step%d.input_ids", k);
        const st_tensor *ids = st_get(&ts, name);
        REQUIRE(px && ids && ids->dtype == ST_I32);
        int32_t *idc = malloc(ids->nbytes);
        memcpy(idc, ids->data, ids->nbytes);
        snprintf(name, sizeof name, "lr.%d", k);
        const st_tensor *lr = st_get(&ts, name);
        REQUIRE(lr && lr->dtype == ST_F64);
        CHECK(sched_lr(&sc, k, 0) == *(const double *)lr->data);
        float loss = trainer_micro(&t, px->data, idc, 4, k);
        snprintf(name, sizeof name, "loss.%d", k);
        CHECK_NEAR(loss, *(const float *)st_get(&ts, name)->data, 1e-5);
        /* The clamp: PyTorch's pre-clamp value says whether this step hits it. */
        snprintf(name, sizeof name, "logit_scale_preclamp.%d", k);
        const st_tensor *pre = st_get(&ts, name);
        trainer_apply(&t, sched_lr(&sc, k, 0));
        if (pre && *(const float *)pre->data > (float)log(100.0)) {
            clamp_hits++;
            CHECK(m->w.logit_scale[0] == (float)log(100.0));
        }
        free(idc);
    }
    CHECKF(clamp_hits >= 1, "the reference never hits the logit-scale clamp");
    /* Every weight after the third step, against both references; and
     * PyTorch float32's own distance from float64 (torch32). */
    double worst64 = 0, worst32 = 0, torch32 = 0;
    const char *worst_name = "";
    size_t n_all = 0, n_over32 = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        char name[128], name64[128];
        snprintf(name, sizeof name, "after.%s", p->name);
        snprintf(name64, sizeof name64, "after64.%s", p->name);
        const st_tensor *r32 = st_get(&ts, name), *r64 = st_get(&ts, name64);
        REQUIREF(r32 && r64 && r32->numel == p->numel && r64->numel == p->numel && r64->dtype == ST_F64,
                 "%s / %s missing", name, name64);
        const float *a = m->params + p->offset, *ref32 = r32->data;
        const double *ref64 = r64->data;
        for (size_t j = 0; j < p->numel; j++) {
            double d64 = fabs((double)a[j] - ref64[j]), d32 = fabs((double)a[j] - ref32[j]);
            n_all++;
            if (d64 > worst64) worst64 = d64, worst_name = p->name;
            if (strstr(p->name, "in_proj_bias") && j >= p->numel / 3 && j < 2 * p->numel / 3) continue;
            if (d32 > 1e-6) n_over32++;
            if (d32 > worst32) worst32 = d32;
            double dt = fabs((double)ref32[j] - ref64[j]);
            if (dt > torch32) torch32 = dt;
        }
    }
    printf("  %s: %zu weights; max |clipc - torch float64| %.3g (%s); max |clipc - torch float32| %.3g "
           "(%zu over 1e-6); torch float32 vs float64 %.3g (key-bias rows aside)\n",
           path + strlen("tests/data/goldens/a/"), n_all, worst64, worst_name, worst32, n_over32, torch32);
    if (bound64 < 0) bound64 = torch32;
    CHECKF(worst64 <= bound64, "after.* max diff %.3g from float64 PyTorch in %s (bound %.3g)", worst64, worst_name,
           bound64);
    trainer_free(&t);
    st_close(&ts);
    clipc_model_free(m);
}

/* The bound, 1e-6 per weight, at the reference's learning rate.
 * Adam turns an absolute gradient error dg of a weight whose gradient is
 * near eps into an update error of about lr * dg / eps, so float32 itself
 * (PyTorch's float32 run against its float64 run) differs by up to ~7.5e-2 *
 * lr on this model (README): the 1e-6 bound needs lr <= ~1e-5, which is what
 * train_step.safetensors uses.  train_step_lr5e-4.safetensors repeats it at a
 * 50x larger rate, where clipc must stay within PyTorch's own float32
 * distance from the exact answer. */
TEST(train_step_matches_pytorch_adamw) {
    check_train_step("tests/data/goldens/a/train_step.safetensors", 1e-6);
}

/* bound -1: PyTorch float32's own largest distance from float64 on the file. */
TEST(train_step_matches_pytorch_adamw_lr5e4) {
    check_train_step("tests/data/goldens/a/train_step_lr5e-4.safetensors", -1);
}

/* ---------------------------------------------------- synthetic shapes */

#include <signal.h>
#include <spng.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


static const char *colour_names[4] = {"red", "green", "blue", "yellow"};
static const unsigned char colour_rgb[4][3] = {{220, 30, 30}, {30, 200, 40}, {40, 60, 230}, {230, 220, 30}};
static const char *shape_names[3] = {"circle", "square", "triangle"};

static void write_png(const char *path, const unsigned char *rgb, int w, int h) {
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    REQUIRE(ctx);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
    spng_set_ihdr(ctx, &ihdr);
    REQUIRE(spng_encode_image(ctx, rgb, (size_t)w * h * 3, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE) == 0);
    size_t len;
    int err;
    void *png = spng_get_png_buffer(ctx, &len, &err);
    REQUIRE(png);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(png, 1, len, f);
    fclose(f);
    free(png);
    spng_ctx_free(ctx);
}

/* One image: grey noisy background, a shape of a colour at a random place
 * and size.  40x40 so preprocessing resizes to the model's 32. */
static void draw_shape(rng_state *r, int colour, int shape, unsigned char *rgb, int S) {
    for (int i = 0; i < S * S * 3; i++) rgb[i] = (unsigned char)(100 + rng_below(r, 40));
    int rad = 8 + (int)rng_below(r, 6);
    int cx = rad + (int)rng_below(r, (uint64_t)(S - 2 * rad)), cy = rad + (int)rng_below(r, (uint64_t)(S - 2 * rad));
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int dx = x - cx, dy = y - cy, in;
            if (shape == 0) in = dx * dx + dy * dy <= rad * rad;
            else if (shape == 1) in = abs(dx) <= rad * 8 / 10 && abs(dy) <= rad * 8 / 10;
            else in = dy <= rad * 7 / 10 && dy >= -rad && 2 * abs(dx) <= dy + rad;
            if (in)
                for (int c = 0; c < 3; c++) rgb[(y * S + x) * 3 + c] = colour_rgb[colour][c];
        }
}

/* Writes n_train + n_val images and a Karpathy JSON "shapes.json" into dir.
 * shuffle = 1 gives the training images captions of random other classes
 * (the validation captions stay right).  Extra: bad-data rows. */
static void make_shapes(const char *dir, int n_train, int n_val, int shuffle, int bad_rows) {
    char path[1024];
    rng_state r;
    rng_seed(&r, 777);
    enum { S = 40 };
    unsigned char rgb[S * S * 3];
    snprintf(path, sizeof path, "%s/shapes.json", dir);
    FILE *js = fopen(path, "w");
    REQUIRE(js);
    fprintf(js, "{\"dataset\": \"shapes\", \"images\": [\n");
    int n = n_train + n_val;
    for (int i = 0; i < n; i++) {
        int cls = (int)rng_below(&r, 12), colour = cls % 4, shape = cls / 4;
        draw_shape(&r, colour, shape, rgb, S);
        snprintf(path, sizeof path, "%s/img%03d.png", dir, i);
        write_png(path, rgb, S, S);
        int ccls = cls;
        if (shuffle && i < n_train) ccls = (int)rng_below(&r, 12);
        fprintf(js,
                "%s{\"filename\": \"img%03d.png\", \"imgid\": %d, \"split\": \"%s\", \"sentences\": "
                "[{\"raw\": \"a %s %s\"}, {\"raw\": \"a photo of a %s %s\"}]}\n",
                i ? "," : "", i, i, i < n_train ? "train" : "val", colour_names[ccls % 4], shape_names[ccls / 4],
                colour_names[ccls % 4], shape_names[ccls / 4]);
    }
    if (bad_rows) {
        /* a missing image, a corrupt "JPEG", an empty caption */
        snprintf(path, sizeof path, "%s/corrupt.jpg", dir);
        FILE *f = fopen(path, "wb");
        REQUIRE(f);
        fputs("\xff\xd8\xff\xe0 not really a jpeg", f);
        fclose(f);
        fprintf(js, ",{\"filename\": \"missing.png\", \"imgid\": 900, \"split\": \"train\", \"sentences\": [{\"raw\": \"a red circle\"}]}\n");
        fprintf(js, ",{\"filename\": \"corrupt.jpg\", \"imgid\": 901, \"split\": \"train\", \"sentences\": [{\"raw\": \"a blue square\"}]}\n");
        fprintf(js, ",{\"filename\": \"img000.png\", \"imgid\": 902, \"split\": \"train\", \"sentences\": [{\"raw\": \"\"}]}\n");
    }
    fprintf(js, "]}\n");
    fclose(js);
}

typedef struct {
    double first_loss, last_train_loss, val_r10_t2i, val_r10_i2t, mean_recall;
    int epochs_seen, steps, bad;
} run_log;

static void log_progress(const clipc_train_progress *p, void *ud) {
    run_log *l = ud;
    if (p->kind == CLIPC_TRAIN_STEP) {
        if (l->steps++ == 0) l->first_loss = p->loss;
        l->bad = p->bad_images;
    } else if (p->kind == CLIPC_TRAIN_EPOCH) {
        l->epochs_seen++;
        l->last_train_loss = p->train_loss;
        l->val_r10_t2i = p->t2i[2];
        l->val_r10_i2t = p->i2t[2];
        l->mean_recall = p->mean_recall;
    }
}

static void quiet(const char *m, void *ud) {
    (void)m;
    (void)ud;
}

static void tiny_opts(clipc_train_opts *o, const char *data, const char *out, int epochs, run_log *l) {
    clipc_train_opts_default(o);
    REQUIRE_OK(clipc_train_recipe("cpu-tiny", o));
    o->data = data;
    o->out_dir = out;
    o->epochs = epochs;
    o->batch_size = 16;
    o->threads = 2;
    o->warmup = 5;
    o->lr = 2e-3;
    o->log_every = 5;
    o->progress = log_progress;
    o->warn = quiet;
    o->ud = l;
    memset(l, 0, sizeof *l);
}

TEST(train_smoke_tiny_shapes) {
    char dir[512], out[1024], data[1024];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    make_shapes(dir, 32, 16, 0, 1);
    snprintf(data, sizeof data, "%s/shapes.json", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    clipc_train_opts o;
    run_log l;
    tiny_opts(&o, data, out, 3, &l);
    o.log_every = 2;
    clipc_train_result r;
    REQUIRE_OK(clipc_train_run(&o, &r));
    CHECKF(r.step == 6 && r.epoch == 3 && !r.stopped, "step %lld epoch %lld", (long long)r.step, (long long)r.epoch);
    CHECK(l.epochs_seen == 3);
    CHECK(isfinite(l.first_loss) && isfinite(l.last_train_loss));
    /* the corrupt JPEG, each epoch it is sampled (not when it is the image drop_last leaves out); the
     * reader drops the missing file and the empty caption before training */
    CHECKF(l.bad >= 1 && l.bad <= 3, "bad images %d", l.bad);
    /* The outputs. */
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/ckpt-6/model.safetensors", out);
    CHECK(stat(p, &st) == 0);
    snprintf(p, sizeof p, "%s/ckpt-6/state.safetensors", out);
    CHECK(stat(p, &st) == 0);
    snprintf(p, sizeof p, "%s/ckpt-2", out);
    CHECK(stat(p, &st) != 0 || ckpt_pointer_step(out, "best") == 2); /* pruned unless best */
    CHECK(ckpt_pointer_step(out, "last") == 6);
    CHECK(ckpt_pointer_step(out, "best") >= 2);
    const char *files[] = {"metrics.jsonl", "config.json", "plot.svg", "last"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        CHECKF(stat(p, &st) == 0 && st.st_size > 0, "%s missing", files[i]);
    }
    /* The saved model loads with the plain model loader, OpenAI names only. */
    clipc_model *m;
    snprintf(p, sizeof p, "%s/ckpt-6/model.safetensors", out);
    REQUIRE_OK(clipc_model_load(p, NULL, &m));
    CHECK(clipc_model_config(m)->vision_layers == 4);
    clipc_model_free(m);
    char *txt;
    size_t len;
    snprintf(p, sizeof p, "%s/metrics.jsonl", out);
    REQUIRE_OK(clipc_read_file(p, &txt, &len));
    CHECK(strstr(txt, "\"type\":\"epoch\",\"epoch\":3") != NULL);
    CHECK(strstr(txt, "\"type\":\"step\",\"step\":4") != NULL);
    free(txt);
}

/* The acceptance run: learns with true captions, not with shuffled ones. */
static void shapes_run(int shuffle, run_log *l) {
    char dir[512], out[1024], data[1024];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), shuffle ? "shuf" : "true");
    mkdir(dir, 0777);
    make_shapes(dir, 240, 100, shuffle, 0);
    snprintf(data, sizeof data, "%s/shapes.json", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    clipc_train_opts o;
    tiny_opts(&o, data, out, 12, l);
    o.batch_size = 24;
    REQUIRE_OK(clipc_train_run(&o, NULL));
    printf("  %s captions: loss %.3f -> %.3f (chance %.3f), val R@10 t2i %.2f i2t %.2f (chance %.2f)\n",
           shuffle ? "shuffled" : "true", l->first_loss, l->last_train_loss, log(24.0), l->val_r10_t2i,
           l->val_r10_i2t, 10.0 / 100);
}

TEST(train_tiny_learns_shapes_and_not_shuffled) {
    run_log a, b;
    shapes_run(0, &a);
    shapes_run(1, &b);
    double chance = 10.0 / 100; /* t2i R@10 over 100 validation images */
    CHECKF(a.last_train_loss < 0.5 * a.first_loss, "loss %.3f -> %.3f", a.first_loss, a.last_train_loss);
    CHECKF(a.val_r10_t2i >= 5 * chance, "val R@10 %.3f < 5x chance", a.val_r10_t2i);
    CHECKF(b.val_r10_t2i <= 2.5 * chance, "shuffled val R@10 %.3f not near chance", b.val_r10_t2i);
}

/* ---------------------------------------------------- checkpoints */

static void kill_at_state(const char *stage, int64_t step, void *ud) {
    (void)ud;
    if (!strcmp(stage, "state") && step == 2) raise(SIGKILL);
}

/* kill -9 between the files of a checkpoint write: the previous checkpoint
 * stays complete, `last` still names it, and it loads and resumes. */
TEST(train_checkpoint_kill_during_write_keeps_previous) {
    clipc_model *m;
    REQUIRE_OK(clipc_model_load("tests/data/goldens/a/weights.safetensors", NULL, &m));
    REQUIRE_OK(model_make_writable(m));
    optimizer o;
    REQUIRE_OK(optim_init(&o, OPT_ADAMW, m->tab.total));
    for (size_t i = 0; i < o.n; i++) o.m[i] = (float)i * 1e-3f, o.v[i] = (float)i * 1e-6f;
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.step = 1, rs.epoch = 0, rs.best = 0.25, rs.loader[0] = 0xdeadbeefULL;
    const char *out = test_tmpdir();
    REQUIRE_OK(ckpt_save(out, m, &o, &rs, "{\"x\": 1}", 0, 1, NULL, NULL));
    float keep0 = m->params[0];
    m->params[0] += 1.0f;
    rs.step = 2;
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { /* the child writes checkpoint 2 and is killed half way */
        ckpt_save(out, m, &o, &rs, "{}", 0, 0, kill_at_state, NULL);
        _exit(0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(ckpt_pointer_step(out, "last") == 1);
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/ckpt-2.tmp", out);
    CHECK(stat(p, &st) == 0); /* the half-written one is only a .tmp folder */
    snprintf(p, sizeof p, "%s/ckpt-2", out);
    CHECK(stat(p, &st) != 0);
    char *dir;
    REQUIRE_OK(ckpt_resolve(out, &dir));
    run_state back;
    optimizer o2;
    REQUIRE_OK(optim_init(&o2, OPT_ADAMW, m->tab.total));
    char *opts;
    REQUIRE_OK(ckpt_load_state(dir, &back, &o2, &opts));
    CHECK(back.step == 1 && back.best == 0.25 && back.loader[0] == 0xdeadbeefULL);
    CHECK(memcmp(o.m, o2.m, o.n * sizeof(float)) == 0 && memcmp(o.v, o2.v, o.n * sizeof(float)) == 0);
    CHECK(strcmp(opts, "{\"x\": 1}") == 0);
    clipc_model *m2;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    REQUIRE_OK(clipc_model_load(p, NULL, &m2));
    CHECK(m2->params[0] == keep0);
    clipc_model_free(m2);
    /* The next start removes the leftover. */
    REQUIRE_OK(ckpt_prune(out, 1));
    snprintf(p, sizeof p, "%s/ckpt-2.tmp", out);
    CHECK(stat(p, &st) != 0);
    free(opts);
    free(dir);
    optim_free(&o);
    optim_free(&o2);
    clipc_model_free(m);
}

/* ---------------------------------------------------- exact resume */

static int files_equal(const char *a, const char *b) {
    char *x, *y;
    size_t lx, ly;
    if (clipc_read_file(a, &x, &lx)) return 0;
    if (clipc_read_file(b, &y, &ly)) {
        free(x);
        return 0;
    }
    int eq = lx == ly && memcmp(x, y, lx) == 0;
    free(x);
    free(y);
    return eq;
}

/* Uninterrupted 3 epochs vs stopped at an epoch boundary (after step 3) and
 * mid-epoch (after step 5), each resumed: final weights and Adam state
 * bit-identical. */
TEST(train_resume_bit_exact) {
    char dir[512], data[1024], a[1024], b[1024], c[1024], p1[1200], p2[1200];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    make_shapes(dir, 48, 16, 0, 0);
    snprintf(data, sizeof data, "%s/shapes.json", dir);
    snprintf(a, sizeof a, "%s/full", dir);
    snprintf(b, sizeof b, "%s/epoch", dir);
    snprintf(c, sizeof c, "%s/mid", dir);
    clipc_train_opts o;
    run_log l;
    tiny_opts(&o, data, a, 3, &l);
    o.dropout = 0.1;
    o.augment = 1;
    REQUIRE_OK(clipc_train_run(&o, NULL));
    const char *stops[2] = {b, c};
    int at[2] = {3, 5};
    for (int k = 0; k < 2; k++) {
        clipc_train_result r;
        tiny_opts(&o, data, stops[k], 3, &l);
        o.dropout = 0.1;
        o.augment = 1;
        o.stop_after_steps = at[k];
        REQUIRE_OK(clipc_train_run(&o, &r));
        CHECK(r.stopped && r.step == at[k]);
        clipc_train_opts ro;
        clipc_train_opts_default(&ro);
        ro.resume = stops[k];
        ro.epochs = 0; /* from the checkpoint */
        ro.threads = 2;
        ro.warn = quiet;
        REQUIRE_OK(clipc_train_run(&ro, &r));
        CHECK(!r.stopped && r.step == 9);
        snprintf(p1, sizeof p1, "%s/ckpt-9/model.safetensors", a);
        snprintf(p2, sizeof p2, "%s/ckpt-9/model.safetensors", stops[k]);
        CHECKF(files_equal(p1, p2), "stop after %d: final model differs", at[k]);
        snprintf(p1, sizeof p1, "%s/ckpt-9/state.safetensors", a);
        snprintf(p2, sizeof p2, "%s/ckpt-9/state.safetensors", stops[k]);
        CHECKF(files_equal(p1, p2), "stop after %d: final state differs", at[k]);
    }
}

/* Exact resume with what train_resume_bit_exact does not use: --accum 2,
 * a preprocessed --cache, and the plateau rule stopped while it counts bad
 * epochs (mid-patience: the next bad epochs reduce the lr only if the
 * count survived the resume).  Stopped at that epoch's end and mid-epoch
 * after it, each resumed: the uninterrupted run's bits. */
TEST(train_resume_bit_exact_accum_plateau_cache) {
    char dir[512], data[1024], cache[1024], a[1024], b[1024], p1[1200], p2[1200];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    make_shapes(dir, 48, 16, 0, 0);
    snprintf(data, sizeof data, "%s/shapes.json", dir);
    snprintf(cache, sizeof cache, "%s/shapes.cache", dir);
    snprintf(a, sizeof a, "%s/full", dir);
    clipc_train_opts o;
    run_log l;
    const int epochs = 3, per_epoch = 3; /* 48 pairs, batches of 16 in 2 micro-batches of 8 */
#define VARIANT(out)                                                                                   \
    tiny_opts(&o, data, out, epochs, &l);                                                                \
    o.batch_size = 8, o.accum = 2, o.cache = cache, o.keep_last = 100, o.dropout = 0.1;                \
    o.plateau = 1, o.plateau_patience = 1, o.plateau_factor = 0.5
    VARIANT(a);
    REQUIRE_OK(clipc_train_run(&o, NULL));
    /* the first epoch end with bad epochs pending */
    int stop = 0;
    for (int e = 1; e < epochs; e++) {
        run_state rs;
        snprintf(p1, sizeof p1, "%s/ckpt-%d", a, e * per_epoch);
        REQUIRE_OK(ckpt_load_state(p1, &rs, NULL, NULL));
        if (!stop && rs.plateau_bad == 1) stop = e * per_epoch;
        if (stop) printf("    epoch %d: %lld bad epochs pending, lr multiplier %g\n", e, (long long)rs.plateau_bad,
                         rs.plateau_mult);
    }
    REQUIRE(stop > 0); /* else the plateau state at the stop would be trivial */
    int at[2] = {stop, stop + 1};
    for (int k = 0; k < 2; k++) {
        clipc_train_result r;
        snprintf(b, sizeof b, "%s/stop%d", dir, at[k]);
        VARIANT(b);
        o.stop_after_steps = at[k];
        REQUIRE_OK(clipc_train_run(&o, &r));
        CHECK(r.stopped && r.step == at[k]);
        clipc_train_opts ro;
        clipc_train_opts_default(&ro);
        ro.resume = b;
        ro.epochs = 0;
        ro.threads = 2;
        ro.warn = quiet;
        REQUIRE_OK(clipc_train_run(&ro, &r));
        CHECK(!r.stopped && r.step == epochs * per_epoch);
        const char *f[2] = {"model", "state"};
        for (int i = 0; i < 2; i++) {
            snprintf(p1, sizeof p1, "%s/ckpt-%d/%s.safetensors", a, epochs * per_epoch, f[i]);
            snprintf(p2, sizeof p2, "%s/ckpt-%d/%s.safetensors", b, epochs * per_epoch, f[i]);
            CHECKF(files_equal(p1, p2), "stopped after step %d: final %s differs", at[k], f[i]);
        }
    }
#undef VARIANT
}

/* kill -9 of a real `clipc train` (a checkpoint every 2 steps; killed while
 * writing the one of step 5... i.e. after step 4's was complete), then
 * --resume: the same final bits as the uninterrupted run. */
TEST(train_kill9_resume_cli) {
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    REQUIRE(n > 0);
    exe[n] = 0;
    char *sl = strrchr(exe, '/');
    REQUIRE(sl);
    strcpy(sl + 1, "clipc-testhooks"); /* the CLI built with CLIPC_TRAIN_FAULT */
    char dir[512], data[1024], a[1024], b[1024], cmd[4096], p1[1200], p2[1200];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    make_shapes(dir, 48, 16, 0, 0);
    snprintf(data, sizeof data, "%s/shapes.json", dir);
    snprintf(a, sizeof a, "%s/full", dir);
    snprintf(b, sizeof b, "%s/killed", dir);
    const char *common = "--recipe cpu-tiny --epochs 3 --batch 16 --threads 2 --warmup 5 --lr 2e-3 "
                         "--dropout 0.1 --augment 1 --ckpt-every-steps 2 --log-every 100";
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s %s 2>/dev/null", exe, data, a, common);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "CLIPC_TRAIN_FAULT=state:6 %s train --data %s --out %s %s 2>/dev/null", exe, data, b,
             common);
    int st = system(cmd);
    CHECKF(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 137), "the child was not killed (status %d)", st);
    CHECK(ckpt_pointer_step(b, "last") == 4);
    snprintf(cmd, sizeof cmd, "%s train --resume %s --threads 2 2>/dev/null", exe, b);
    CHECK(system(cmd) == 0);
    snprintf(p1, sizeof p1, "%s/ckpt-9/model.safetensors", a);
    snprintf(p2, sizeof p2, "%s/ckpt-9/model.safetensors", b);
    CHECK(files_equal(p1, p2));
    snprintf(p1, sizeof p1, "%s/ckpt-9/state.safetensors", a);
    snprintf(p2, sizeof p2, "%s/ckpt-9/state.safetensors", b);
    CHECK(files_equal(p1, p2));
}

/* ------------------------------------------------------- emoji-mini */

/* A slice of emoji-mini as a Karpathy JSON: the Twemoji images of the first
 * n training concepts (split train) and the Noto images of the same
 * concepts (split val: images never trained on, in another art style).
 * With shuffle, each training image gets the caption of the image n/2 away
 * (neighbours in file order are often related concepts). */
static int emoji_slice(const char *path, int n, int shuffle) {
    clipc_dataset *ds;
    clipc_dataset_opts dopt = {.split = "train"};
    if (clipc_dataset_load("data/emoji-mini/dataset_emoji.json", &dopt, &ds)) return 0;
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fprintf(f, "{\"images\": [");
    n = n < clipc_dataset_n_images(ds) ? n : clipc_dataset_n_images(ds);
    for (int style = 0; style < 2; style++)
        for (int i = 0; i < n; i++) {
            int first, cap_img = style == 0 && shuffle ? (i + n / 2) % n : i;
            clipc_dataset_image_captions(ds, cap_img, &first);
            const char *file = clipc_dataset_image_path(ds, i); /* "twemoji/<hex>.png" */
            fprintf(f, "%s{\"filename\": \"%s/%s\", \"imgid\": %d, \"split\": \"%s\", \"sentences\": [{\"raw\": \"%s\"}]}",
                    style || i ? ", " : "", style ? "noto" : "twemoji", strchr(file, '/') + 1, style * n + i,
                    style ? "val" : "train", clipc_dataset_caption(ds, first));
        }
    fprintf(f, "]}\n");
    fclose(f);
    clipc_dataset_free(ds);
    return n;
}

static void emoji_run(int shuffle, run_log *l) {
    char data[1024], out[1024];
    snprintf(data, sizeof data, "%s/emoji_%d.json", test_tmpdir(), shuffle);
    snprintf(out, sizeof out, "%s/run_%d", test_tmpdir(), shuffle);
    REQUIRE(emoji_slice(data, 300, shuffle) == 300);
    clipc_train_opts o;
    tiny_opts(&o, data, out, 12, l);
    o.config = "emoji";
    o.image_root = "data/emoji-mini";
    o.batch_size = 32;
    o.keep_last = 1;
    REQUIRE_OK(clipc_train_run(&o, NULL));
    printf("  emoji %s captions: loss %.3f -> %.3f, Noto R@10 t2i %.3f i2t %.3f (chance %.3f)\n",
           shuffle ? "shuffled" : "true", l->first_loss, l->last_train_loss, l->val_r10_t2i, l->val_r10_i2t,
           10.0 / 300);
}

/* The demo's claim in small: trained on Twemoji for a few seconds, a model
 * retrieves the Noto images of the same concepts (an unseen art style) far
 * above chance, and a model trained on shuffled captions does not. */
TEST(train_emoji_slice_generalises_across_styles) {
    struct stat st;
    if (stat("data/emoji-mini/dataset_emoji.json", &st) != 0) SKIP("run from the repository root (data/emoji-mini)");
    run_log a, b;
    emoji_run(0, &a);
    emoji_run(1, &b);
    double chance = 10.0 / 300; /* t2i R@10 over 300 Noto images */
    CHECKF(a.val_r10_t2i >= 5 * chance, "Noto R@10 %.3f < 5x chance %.3f", a.val_r10_t2i, chance);
    CHECKF(b.val_r10_t2i <= 2.5 * chance, "shuffled-caption control R@10 %.3f is not near chance", b.val_r10_t2i);
}
