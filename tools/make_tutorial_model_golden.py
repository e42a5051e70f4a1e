#!/usr/bin/python3
"""make_tutorial_model_golden.py -- PyTorch reference for the whole tutorial
model (seed 002's CLIPModel) at reduced widths: its loss and one AdamW step.

Run from the repository root with Debian's python3 (torch 1.13, torchvision):
    /usr/bin/python3 tools/make_tutorial_model_golden.py

The towers are the ones the tower goldens were made with: torchvision's ResNet
(Bottleneck) built by tools/make_tv_resnet_goldens.py's build() at stem width
4, one block per stage; the DistilBERT module of
tools/make_distilbert_goldens.py (width 32, 4 heads, 2 layers, vocabulary 64,
16 positions).  The heads are seed 002's ProjectionHead (Linear, no bias) to
16; the loss seed 002's: cross-entropy against the diagonal of
norm(img) norm(txt)^T / 0.07, averaged over both directions.  model.train():
BatchNorm on batch statistics (and its running statistics updated), dropout
0 (clipc's masks are its own).  The optimizer is the seed's: AdamW, image
encoder lr 1e-4, text encoder 1e-5, heads 1e-3 with weight decay 1e-3, the
encoders' weight decay 0, betas (0.9, 0.999), eps 1e-8.
Writes tests/data/goldens/tutorial_model.safetensors: `pixel_values` (4, 3,
32, 32), `input_ids` (4, 12) as F32, `loss`, `w.<name>` (every state-dict
tensor before the step, running statistics included) and `step.<name>` (after
the step and the forward's running-statistics update); and tutorial_best.pt, the
model's state dict before the step saved by torch.save as the seed saves best.pt.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_distilbert_goldens as mdb  # noqa: E402
import make_tv_resnet_goldens as mtv  # noqa: E402

OUT = "tests/data/goldens/tutorial_model.safetensors"
PT = "tests/data/goldens/tutorial_best.pt"
B, RES, E = 4, 32, 16


class ImageEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = mtv.build(4, [1, 1, 1, 1], 10)

    def forward(self, x):
        return mtv.features(self.model, x)


class TextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = mdb.DistilBertModel()

    def forward(self, ids):
        return self.model(ids)[-1][:, 0, :]


class ProjectionHead(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.projection = nn.Linear(d, E, bias=False)

    def forward(self, x):
        return self.projection(x)


class CLIPModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = ImageEncoder()
        self.text_encoder = TextEncoder()
        self.image_projection = ProjectionHead(128)
        self.text_projection = ProjectionHead(mdb.DIM)
        self.temperature = 0.07

    def forward(self, px, ids):
        img = F.normalize(self.image_projection(self.image_encoder(px)), dim=-1)
        txt = F.normalize(self.text_projection(self.text_encoder(ids)), dim=-1)
        logits = img @ txt.T / self.temperature
        labels = torch.arange(px.shape[0])
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def write_st(path, tensors):
    keys = sorted(tensors)
    head, off, blobs = {"__metadata__": {"generator": "tools/make_tutorial_model_golden.py"}}, 0, []
    for k in keys:
        b = np.ascontiguousarray(tensors[k], dtype=np.float32).tobytes()
        head[k] = {"dtype": "F32", "shape": list(np.shape(tensors[k])), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def main():
    torch.manual_seed(2)
    torch.set_num_threads(1)
    model = CLIPModel()
    g = torch.Generator().manual_seed(11)
    mtv.randomize(model.image_encoder.model, g)
    with torch.no_grad():
        for name, p in model.text_encoder.model.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_((0.5 if "embeddings" in name else 0.2) * torch.randn(p.shape, generator=g))
        for h in (model.image_projection, model.text_projection):
            h.projection.weight.copy_(torch.randn(h.projection.weight.shape, generator=g) * 0.2)
    px = torch.randn(B, 3, RES, RES, generator=g)
    ids = torch.zeros(B, mdb.T, dtype=torch.long)
    for b, n in enumerate([9, 5, 12, 7]):
        ids[b, 0], ids[b, n - 1] = 2, 3
        ids[b, 1:n - 1] = torch.randint(4, mdb.VOCAB, (n - 2,), generator=g)
    out = {"pixel_values": px.numpy(), "input_ids": ids.float().numpy()}
    # the seed's own checkpoint of this model, as its training loop saves it
    # (int64 num_batches_tracked included): clipc must load it unchanged
    torch.save(model.state_dict(), PT)
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for k, v in sd.items():
        out["w." + k] = v.detach().clone().numpy()
    params = [
        {"params": model.image_encoder.parameters(), "lr": 1e-4},
        {"params": model.text_encoder.parameters(), "lr": 1e-5},
        {"params": list(model.image_projection.parameters()) + list(model.text_projection.parameters()),
         "lr": 1e-3, "weight_decay": 1e-3},
    ]
    opt = torch.optim.AdamW(params, weight_decay=0.0)
    model.train()
    loss = model(px, ids)
    opt.zero_grad()
    loss.backward()
    opt.step()
    out["loss"] = np.array(loss.item(), dtype=np.float32)
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            out["step." + k] = v.detach().numpy()
    write_st(OUT, out)
    print("wrote", OUT, len(out), "tensors, loss", loss.item())


if __name__ == "__main__":
    main()
