/*
 * maxpool.h — nn.MaxPool2d(kernel_size=k, stride, padding=pad) on NHWC rows
 * (maxpool.c), as the stem of torchvision's ResNet uses it (3, 2, 1).
 * Padding never wins: only positions inside the image are compared.  The
 * output is (H + 2 pad - k) / stride + 1 square, as PyTorch's (floor mode).
 */
#ifndef CLIPC_NN_MAXPOOL_H
#define CLIPC_NN_MAXPOOL_H

/* The output side for an input side of n. */
int maxpool_out(int n, int k, int stride, int pad);
/* out (B*Ho*Wo, C) = the max of each window of inp (B*H*W, C). */
void maxpool_forward(float *out, const float *inp, int B, int H, int W, int C, int k, int stride, int pad);
/* dinp (B*H*W, C) = dout routed to each window's argmax (overwritten; sums
 * where windows overlap).  The argmax is found again from inp, the FIRST
 * maximum in row-major window order as PyTorch picks it (a NaN wins, as in
 * PyTorch's kernel), so forward keeps no index buffer. */
void maxpool_backward(float *dinp, const float *dout, const float *inp, int B, int H, int W, int C, int k,
                      int stride, int pad);

#endif
