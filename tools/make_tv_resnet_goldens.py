#!/usr/bin/python3
"""make_tv_resnet_goldens.py -- PyTorch references for clipc's torchvision ResNet tower.

Run from the repository root with Debian's python3 (torch 1.13, torchvision 0.14):
    /usr/bin/python3 tools/make_tv_resnet_goldens.py

It runs torchvision's own code: torchvision.models.resnet.ResNet with its Bottleneck
class, at a REDUCED width (stem width 4 instead of 64: ResNet's constructor fixes the
planes at 64..512, so the stem and the four stages are rebuilt here with ResNet's own
_make_layer at planes 4, 8, 16, 32, blocks [1, 2, 1, 1]).  Random weights, random
BatchNorm affine maps and running statistics, pixels 2 x 3 x 64 x 64, float32, one thread.

Writes tests/data/goldens/tv_resnet/:
  golden.safetensors  `w.<name>` the weights (clipc names, image_encoder.model.*) before
                      the train-mode pass; `pixels` [2,3,64,64]; `pooled_eval` (model.eval());
                      `pooled_train` (model.train(), same weights); `running.<name>` the
                      running statistics after that one train-mode forward; `dpooled` the
                      coefficients of the linear loss sum(pooled_train * dpooled);
                      `grad.<name>` its gradient for every trained tensor (train mode).
  torchvision.pt      torch.save(model.state_dict()) with torchvision's names, a small
                      fc (10 classes) and num_batches_tracked (int64): what a user has.
  timm.safetensors    the same tensors under timm's resnet names (identical to
                      torchvision's for resnet50: conv1, bn1, layerN.K.convI/bnI,
                      downsample.0/1, fc) in safetensors, F32 and I64.
  tutorial.pt         the tutorial's CLIPModel layout: image_encoder.model.<name>, without
                      fc (timm num_classes=0) but with num_batches_tracked.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck, ResNet

OUT = "tests/data/goldens/tv_resnet"
WIDTH, BLOCKS, B, RES, FEAT = 4, [1, 2, 1, 1], 2, 64, 4 * 32
PREFIX = "image_encoder.model."


def build(width, blocks, classes):
    """torchvision's ResNet at stem width `width` (torchvision's graph and classes)."""
    m = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=classes)
    m.inplanes = width
    m.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(width)
    m.layer1 = m._make_layer(Bottleneck, width, blocks[0])
    m.layer2 = m._make_layer(Bottleneck, 2 * width, blocks[1], stride=2)
    m.layer3 = m._make_layer(Bottleneck, 4 * width, blocks[2], stride=2)
    m.layer4 = m._make_layer(Bottleneck, 8 * width, blocks[3], stride=2)
    m.fc = nn.Linear(32 * width, classes)
    return m


def randomize(m, g):
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("running_mean") or name.endswith("bn3.bias") or name.endswith(".bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
            elif t.ndim == 1:  # BatchNorm weights
                t.copy_(torch.rand(t.shape, generator=g) * 1.0 + 0.5)
            else:  # convolutions, fc: fan-in scaled normal
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)


def write_st(path, tensors):
    head, off, blobs = {}, 0, []
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        head[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def features(m, x):
    """The tower's output: timm's num_classes=0 / global_pool='avg' (fc skipped)."""
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return torch.flatten(m.avgpool(x), 1)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(20)
    m = build(WIDTH, BLOCKS, 10)
    randomize(m, g)
    sd0 = {k: v.clone() for k, v in m.state_dict().items()}
    pixels = torch.randn(B, 3, RES, RES, generator=g)
    dpooled = torch.randn(B, FEAT, generator=g)
    out = {"pixels": pixels, "dpooled": dpooled}
    for k, v in sd0.items():
        if not k.startswith("fc.") and not k.endswith("num_batches_tracked"):
            out["w." + PREFIX + k] = v
    m.eval()
    with torch.no_grad():
        out["pooled_eval"] = features(m, pixels)
    m.train()
    pooled = features(m, pixels)
    (pooled * dpooled).sum().backward()
    out["pooled_train"] = pooled.detach()
    for k, v in m.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            out["running." + PREFIX + k] = v
    for k, p in m.named_parameters():
        if not k.startswith("fc."):
            out["grad." + PREFIX + k] = p.grad
    os.makedirs(OUT, exist_ok=True)
    write_st(os.path.join(OUT, "golden.safetensors"), {k: v.detach().numpy() for k, v in out.items()})
    torch.save(sd0, os.path.join(OUT, "torchvision.pt"))
    write_st(os.path.join(OUT, "timm.safetensors"), {k: v.numpy() for k, v in sd0.items()})
    torch.save({PREFIX + k: v for k, v in sd0.items() if not k.startswith("fc.")}, os.path.join(OUT, "tutorial.pt"))
    n = sum(v.numel() for k, v in sd0.items() if not k.startswith("fc.") and "num_batches" not in k)
    print("tower floats", n, "pooled_eval max", float(out["pooled_eval"].abs().max()),
          "pooled_train max", float(out["pooled_train"].abs().max()))


if __name__ == "__main__":
    main()
