/*
 * avgpool.h — nn.AvgPool2d(k) (kernel k, stride k, no padding) on NHWC
 * (avgpool.c), as OpenAI's ModifiedResNet uses it: 2x2 after the stem and in
 * the strided bottlenecks (k = stride; k = 1 is the identity, which callers
 * skip).  The output is floor(H / k) x floor(W / k); leftover rows and
 * columns are dropped, as PyTorch does.
 */
#ifndef CLIPC_NN_AVGPOOL_H
#define CLIPC_NN_AVGPOOL_H

/* out (B*(H/k)*(W/k), C) = the mean of each k x k window of inp (B*H*W, C). */
void avgpool_forward(float *out, const float *inp, int B, int H, int W, int C, int k);
/* dinp (B*H*W, C) = dout / (k*k) spread over each window (overwritten;
 * dropped rows and columns get 0). */
void avgpool_backward(float *dinp, const float *dout, int B, int H, int W, int C, int k);

#endif
