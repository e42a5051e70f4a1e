#!/usr/bin/python3
"""bench/torch_tutorial.py -- the PyTorch peer of `clipc bench --config tutorial-rn50`:
seed 002's CLIPModel at full size (torchvision's resnet50 without weights, a
DistilBERT of DistilBertModel's shapes, bias-free heads to 256), trained on
random inputs shaped like clipc bench's (224 px, WordPiece-like ids of up to 200
tokens padded with 0) with the seed's AdamW groups.  Dev tool only (Debian's
python3-torch and python3-torchvision); clipc never needs it.

    /usr/bin/python3 bench/torch_tutorial.py --batch 8 --steps 3 --warmup 1

Prints `RESULT {json}` with train_pairs_per_s, train_step_s and peak_rss_mib,
the keys bench/compare reads.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import make_distilbert_goldens as mdb  # noqa: E402  (its DistilBERT module, sized below)


def build(args):
    mdb.DIM, mdb.HEADS, mdb.LAYERS, mdb.VOCAB, mdb.POS = 768, 12, 6, 30522, 512

    class CLIPModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.image_encoder = resnet50()
            self.image_encoder.fc = nn.Identity()
            self.text_encoder = mdb.DistilBertModel()
            self.image_projection = nn.Linear(2048, 256, bias=False)
            self.text_projection = nn.Linear(768, 256, bias=False)

        def forward(self, px, ids):
            img = F.normalize(self.image_projection(self.image_encoder(px)), dim=-1)
            txt = F.normalize(self.text_projection(self.text_encoder(ids)[-1][:, 0]), dim=-1)
            logits = img @ txt.T / 0.07
            lab = torch.arange(px.shape[0])
            return (F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2

    return CLIPModel()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = build(a)
    opt = torch.optim.AdamW([
        {"params": m.image_encoder.parameters(), "lr": 1e-4},
        {"params": m.text_encoder.parameters(), "lr": 1e-5},
        {"params": list(m.image_projection.parameters()) + list(m.text_projection.parameters()), "lr": 1e-3,
         "weight_decay": 1e-3}], weight_decay=0.0)
    B = a.batch
    px = torch.randn(B, 3, 224, 224)
    ids = torch.zeros(B, a.context, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    for b in range(B):  # lengths as clipc bench draws them: 3 .. context
        n = 3 + int(torch.randint(0, a.context - 2, (1,), generator=g))
        n = min(n, a.context)
        ids[b, :n] = torch.randint(1, 30519, (n,), generator=g)
        ids[b, 0], ids[b, n - 1] = 30520, 30521
    m.train()
    times = []
    for s in range(a.warmup + a.steps):
        t0 = time.time()
        loss = m(px, ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s >= a.warmup:
            times.append(time.time() - t0)
    step = sum(times) / len(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps({"config": "tutorial-rn50", "batch": B, "train_step_s": step,
                                  "train_pairs_per_s": B / step, "peak_rss_mib": rss, "loss": loss.item()}))


if __name__ == "__main__":
    main()
