#!/usr/bin/python3
"""make_tutorial_goldens.py -- PyTorch references for the tutorial model's
projection heads and losses (seed 002 and the notebook it derives from).

Run from the repository root with Debian's python3 (torch 1.13):
    /usr/bin/python3 tools/make_tutorial_goldens.py

The modules are re-written here at small widths from the tutorial's
description (seed 002: ProjectionHead = Linear(bias=False); the notebook:
Linear -> GELU -> Linear -> Dropout -> + projected -> LayerNorm), in eval
mode (dropout off: clipc's dropout masks are its own, tested by gradcheck).
Writes tests/data/goldens/tutorial_heads.safetensors, float32, with for each
case its inputs, its output and the gradients of sum(out * dout) (heads) or
of the loss (losses):
  lin.*   seed 002's head:  x (4, 12), projection.weight (6, 12), dout, y, grad.*
  mlp.*   the notebook's head: the same plus bias, fc.*, layer_norm.*
  hard.*  seed 002's loss: CE against the diagonal of
          norm(img) norm(txt)^T / 0.07, averaged over both directions
  soft.*  the notebook's soft-target loss at temperature 1.0 and 0.5
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OUT = "tests/data/goldens/tutorial_heads.safetensors"


def write_st(path, tensors, meta):
    keys = sorted(tensors)
    head, off, blobs = {"__metadata__": meta}, 0, []
    for k in keys:
        a = np.ascontiguousarray(tensors[k], dtype=np.float32)
        b = a.tobytes()
        head[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


class LinearHead(nn.Module):  # seed 002
    def __init__(self, d, e):
        super().__init__()
        self.projection = nn.Linear(d, e, bias=False)

    def forward(self, x):
        return self.projection(x)


class MLPHead(nn.Module):  # the notebook (modules.py)
    def __init__(self, d, e, dropout=0.1):
        super().__init__()
        self.projection = nn.Linear(d, e)
        self.gelu = nn.GELU()
        self.fc = nn.Linear(e, e)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(e)

    def forward(self, x):
        projected = self.projection(x)
        x = self.gelu(projected)
        x = self.fc(x)
        x = self.dropout(x)
        x = x + projected
        return self.layer_norm(x)


def hard_loss(img, txt, temperature):
    img = F.normalize(img, dim=-1)
    txt = F.normalize(txt, dim=-1)
    logits = img @ txt.T / temperature
    labels = torch.arange(img.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def soft_loss(img, txt, temperature):
    logits = (txt @ img.T) / temperature
    images_similarity = img @ img.T
    texts_similarity = txt @ txt.T
    targets = F.softmax((images_similarity + texts_similarity) / 2 * temperature, dim=-1)
    texts_loss = (-targets * F.log_softmax(logits, dim=-1)).sum(1)
    images_loss = (-targets.T * F.log_softmax(logits.T, dim=-1)).sum(1)
    return ((images_loss + texts_loss) / 2.0).mean()


def head_case(out, prefix, head, B, D, E, g):
    for p in head.parameters():  # non-trivial LayerNorm affine too
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4)
    head.eval()
    x = torch.randn(B, D, generator=g, requires_grad=True)
    dout = torch.randn(B, E, generator=g)
    y = head(x)
    (y * dout).sum().backward()
    out[prefix + "x"] = x.detach().numpy()
    out[prefix + "dout"] = dout.numpy()
    out[prefix + "y"] = y.detach().numpy()
    out[prefix + "grad.x"] = x.grad.numpy()
    for n, p in head.named_parameters():
        out[prefix + n] = p.detach().numpy()
        out[prefix + "grad." + n] = p.grad.numpy()


def loss_case(out, prefix, fn, temperature, B, E, g, scale):
    img = (torch.randn(B, E, generator=g) * scale).requires_grad_()
    txt = (torch.randn(B, E, generator=g) * scale).requires_grad_()
    loss = fn(img, txt, temperature)
    loss.backward()
    out[prefix + "img"] = img.detach().numpy()
    out[prefix + "txt"] = txt.detach().numpy()
    out[prefix + "loss"] = np.array(loss.item(), dtype=np.float32)
    out[prefix + "grad.img"] = img.grad.numpy()
    out[prefix + "grad.txt"] = txt.grad.numpy()


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2002)
    out = {}
    head_case(out, "lin.", LinearHead(12, 6), 4, 12, 6, g)
    head_case(out, "mlp.", MLPHead(12, 6), 4, 12, 6, g)
    loss_case(out, "hard.", hard_loss, 0.07, 5, 6, g, 1.0)
    loss_case(out, "soft1.", soft_loss, 1.0, 5, 6, g, 0.7)
    loss_case(out, "soft05.", soft_loss, 0.5, 5, 6, g, 0.7)
    write_st(OUT, out, {"generator": "tools/make_tutorial_goldens.py", "torch": torch.__version__})
    print("wrote", OUT, len(out), "tensors")


if __name__ == "__main__":
    main()
