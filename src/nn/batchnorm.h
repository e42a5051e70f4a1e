/*
 * batchnorm.h — BatchNorm2d on NHWC rows (batchnorm.c), in EVAL mode:
 * y = (x - running_mean) / sqrt(running_var + 1e-5) * weight + bias, per
 * channel, as PyTorch's model.eval() computes it for OpenAI's ModifiedResNet,
 * and in TRAIN mode (batchnorm_train_*, the tutorial's ResNet-50).
 *
 * The running statistics are constants here: backward goes through the
 * affine map only (dx = dy * weight / sqrt(var + eps)) and gives gradients
 * to weight and bias, never to the statistics, which training does not
 * update either (they are buffers, not parameters: see nn/params.h).
 *
 * Train mode is torch.nn.BatchNorm2d.train(): each channel is normalised by
 * the statistics of the batch (mean and BIASED variance over all N rows),
 * the running statistics move towards the batch's with momentum 0.1, the
 * variance's UNBIASED (N / (N - 1)), and backward goes through the batch
 * statistics too.  The sums run in double, per channel in row order, so
 * they do not depend on the thread count and stay accurate over the ~10^6
 * rows of a ResNet stem at batch 64.
 */
#ifndef CLIPC_NN_BATCHNORM_H
#define CLIPC_NN_BATCHNORM_H

#include <stddef.h>

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1

/* Data-parallel training (SyncBatchNorm semantics): the batch statistics
 * of train mode are those of the GLOBAL batch, every process's rows.  The
 * per-channel sums (and the row count) go through `allreduce`, which must
 * sum n doubles over every process in place and give every process the
 * same bits (train/dist.c); forward reduces the sum, then the sum of
 * squares about the global mean, backward the two gradient sums.  Every
 * process must make the same calls in the same order (a process with no
 * rows calls with N = 0).  A failed allreduce sets `failed`; the step is
 * then abandoned by the trainer. */
typedef struct {
    int (*allreduce)(double *buf, size_t n, void *ud); /* 0 on success */
    void *ud;
    int failed;
} bn_sync;

/* out (N, C) = bn(inp); out may equal inp. */
void batchnorm_forward(float *out, const float *inp, const float *w, const float *b, const float *mean,
                       const float *var, size_t N, int C);
/* dinp = dout * w / sqrt(var + eps) (overwritten; may equal dout; NULL to
 * skip), dw += sum_rows dout * (inp - mean) / sqrt(var + eps),
 * db += sum_rows dout.  inp is the forward input. */
void batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *var, size_t N, int C);

/* Train mode: out (N, C) = (inp - mean) * rstd * w + b with the batch's
 * mean and rstd = 1 / sqrt(biased var + eps), which are written to mean[C]
 * and rstd[C] for backward.  running_mean/running_var (may be NULL: left
 * alone) become (1 - 0.1) * running + 0.1 * batch (unbiased variance; N = 1
 * keeps the running variance, whose update would divide by zero).  out may
 * equal inp.  sync (NULL: this process's rows are the batch): the global
 * batch's statistics, see bn_sync. */
void batchnorm_train_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                             float *running_mean, float *running_var, size_t N, int C, bn_sync *sync);
/* Backward through the batch statistics: with xh = (inp - mean) * rstd,
 * dinp = rstd * w * (dout - mean(dout) - xh * mean(dout * xh)) (overwritten;
 * may equal dout; NULL to skip), dw += sum dout * xh, db += sum dout (over
 * this process's rows: the trainer sums parameter gradients over the
 * processes); with sync the two means are the global batch's. */
void batchnorm_train_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                              const float *w, const float *mean, const float *rstd, size_t N, int C, bn_sync *sync);

#endif
