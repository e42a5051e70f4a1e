#!/usr/bin/python3
"""compare_tv_resnet50.py -- a full-size ResNet-50 reference for clipc's torchvision tower.

    /usr/bin/python3 tools/compare_tv_resnet50.py OUTDIR
    CLIPC_TV_RESNET50_DIR=OUTDIR build/clipc_tests --slow tv_resnet50_full_size

Too big to commit (100 MB of weights), so this writes to OUTDIR, outside the repository:
  resnet50.safetensors  torchvision.models.resnet50() with its own random init
                        (kaiming-normal convolutions), BatchNorm affine maps and running
                        statistics randomised, fc and num_batches_tracked included (the
                        loader must skip them), torchvision's names;
  io.safetensors        `pixels` [2, 3, 224, 224], `pooled_eval` (model.eval()),
                        `pooled_train` (model.train(): batch statistics), and
                        `running.<name>` for layer4.2.bn3 after that train forward.
The pooled output is resnet50's avgpool output flattened (what timm's resnet50 with
num_classes=0 returns).  The slow test prints max|clipc - torchvision|.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision


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
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def features(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return torch.flatten(m.avgpool(x), 1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(50)
    m = torchvision.models.resnet50()
    with torch.no_grad():
        for k, t in m.state_dict().items():
            if k.endswith("running_var"):
                t.copy_(torch.rand(t.shape) * 1.5 + 0.5)
            elif k.endswith("running_mean") or (k.endswith(".bias") and not k.startswith("fc.")):
                t.copy_(torch.randn(t.shape) * 0.2)
            elif t.ndim == 1 and not k.startswith("fc.") and t.dtype == torch.float32:
                t.copy_(torch.rand(t.shape) * 0.5 + 0.5)
    write_st(os.path.join(out, "resnet50.safetensors"), {k: v.numpy() for k, v in m.state_dict().items()})
    x = torch.randn(2, 3, 224, 224)
    io = {"pixels": x}
    m.eval()
    with torch.no_grad():
        io["pooled_eval"] = features(m, x)
        m.train()
        io["pooled_train"] = features(m, x)
    for k, v in m.state_dict().items():
        if k.startswith("layer4.2.bn3.running"):
            io["running." + k] = v
    write_st(os.path.join(out, "io.safetensors"), {k: v.numpy() for k, v in io.items()})
    print("wrote", out, "pooled_eval max", float(io["pooled_eval"].abs().max()),
          "pooled_train max", float(io["pooled_train"].abs().max()))


if __name__ == "__main__":
    main()
