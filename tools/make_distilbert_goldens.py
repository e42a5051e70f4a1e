#!/usr/bin/python3
"""Goldens for clipc's DistilBERT text tower (src/nn/distilbert_tower.c).

Hugging Face `transformers` is not a Debian package, so this file holds its
own PyTorch DistilBERT written from the published description of
DistilBertModel (modeling_distilbert.py): Embeddings (word + learned position
embedding, LayerNorm eps 1e-12, dropout), MultiHeadSelfAttention (q_lin,
k_lin, v_lin, out_lin; q scaled by 1/sqrt(head dim); keys whose mask is 0
filled with finfo.min before the softmax; dropout on the weights), FFN (lin1,
exact GELU, lin2, dropout), TransformerBlock post-LN (sa_layer_norm(attn + x),
output_layer_norm(ffn + sa)).  Module and parameter names are HF's, so the
state dict has HF's keys.

At reduced size (width 32, 4 heads, 2 layers, vocab 64, 16 positions) with a
batch of 3 id rows of lengths 9, 5 and 12 padded with 0 to T = 12, dropout
off, float32, one thread, fixed seed, it writes
tests/data/goldens/distilbert_tiny.safetensors:
  w.<HF name>              every parameter (random, LayerNorms too)
  input_ids  (3, 12) int32 [CLS]=2 ... [SEP]=3, then 0
  hidden.<l> (3, 12, 32)   the hidden state after layer l (l = 0 embeddings)
  cls        (3, 32)       last hidden state at position 0
  dcls       (3, 32)       the random linear loss: loss = sum(cls * dcls)
  grad.<HF name>           d loss / d parameter
Usage: /usr/bin/python3 tools/make_distilbert_goldens.py
"""
import json
import math
import struct
import sys

import numpy as np
import torch
from torch import nn

OUT = "tests/data/goldens/distilbert_tiny.safetensors"
DIM, HEADS, LAYERS, VOCAB, POS, T = 32, 4, 2, 64, 16, 12
LENGTHS = [9, 5, 12]


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, DIM, padding_idx=0)
        self.position_embeddings = nn.Embedding(POS, DIM)
        self.LayerNorm = nn.LayerNorm(DIM, eps=1e-12)
        self.dropout = nn.Dropout(0.0)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], dtype=torch.long).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_lin = nn.Linear(DIM, DIM)
        self.k_lin = nn.Linear(DIM, DIM)
        self.v_lin = nn.Linear(DIM, DIM)
        self.out_lin = nn.Linear(DIM, DIM)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x, mask):
        b, t, _ = x.shape
        hd = DIM // HEADS

        def split(y):
            return y.view(b, t, HEADS, hd).transpose(1, 2)

        q = split(self.q_lin(x)) / math.sqrt(hd)
        k = split(self.k_lin(x))
        v = split(self.v_lin(x))
        scores = q @ k.transpose(2, 3)
        masked = (mask == 0).view(b, 1, 1, t).expand_as(scores)
        scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)
        weights = self.dropout(torch.softmax(scores, dim=-1))
        ctx = (weights @ v).transpose(1, 2).reshape(b, t, DIM)
        return self.out_lin(ctx)


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin1 = nn.Linear(DIM, 4 * DIM)
        self.lin2 = nn.Linear(4 * DIM, DIM)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x):
        return self.dropout(self.lin2(nn.functional.gelu(self.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = MultiHeadSelfAttention()
        self.sa_layer_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.ffn = FFN()
        self.output_layer_norm = nn.LayerNorm(DIM, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock() for _ in range(LAYERS)])


class DistilBertModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.transformer = Transformer()

    def forward(self, ids):
        mask = (ids != 0).long()
        hs = [self.embeddings(ids)]
        for blk in self.transformer.layer:
            hs.append(blk(hs[-1], mask))
        return hs


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"generator": "tools/make_distilbert_goldens.py"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    torch.manual_seed(20)
    torch.set_num_threads(1)
    m = DistilBertModel()
    with torch.no_grad():  # random everything, LayerNorms and biases too, so every term is tested
        for name, p in m.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    g = torch.Generator().manual_seed(7)
    ids = torch.zeros(len(LENGTHS), T, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids[b, 0], ids[b, n - 1] = 2, 3
        ids[b, 1:n - 1] = torch.randint(4, VOCAB, (n - 2,), generator=g)
    m.eval()
    hs = m(ids)
    cls = hs[-1][:, 0]
    dcls = torch.randn(cls.shape, generator=g)
    (cls * dcls).sum().backward()
    out = {"input_ids": ids.int().numpy(), "cls": cls.detach().numpy(), "dcls": dcls.numpy()}
    for l, h in enumerate(hs):
        out["hidden.%d" % l] = h.detach().numpy()
    for name, p in m.named_parameters():
        out["w." + name] = p.detach().numpy()
        out["grad." + name] = p.grad.numpy()
    write_st(OUT, out)
    print("wrote", OUT, len(out), "tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
