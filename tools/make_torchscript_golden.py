#!/usr/bin/env python3
"""make_torchscript_golden.py -- a TorchScript archive with OpenAI CLIP's ViT
structure and attribute names, saved in fp16, for tests/test_torch_pt.c.

OpenAI released its CLIP checkpoints (ViT-B-32.pt, ...) as TorchScript
archives of fp16 modules.  This script rebuilds that shape of file with
Debian's python3-torch: a small CLIP (ViT image tower, causal text
transformer, QuickGELU, OpenAI's state-dict names) with seeded random
weights, converted with .half(), scripted with torch.jit.script and saved
with torch.jit.save.  Alongside it the same weights in f32 as safetensors,
so the test can compare what clipc reads from the archive with the f32
model.  The config is much smaller than the shared vit_tiny (vocabulary
300, one block per tower) to keep the committed files small.

Run from the repository root:  /usr/bin/python3 tools/make_torchscript_golden.py
Writes tests/data/torchscript/{mini_vit_fp16_jit.pt, mini_vit_f32.safetensors}.
"""
import json
import os
import struct
from collections import OrderedDict

import torch
import torch.nn as nn

OUT = "tests/data/torchscript"
CFG = dict(embed_dim=32, image_resolution=16, vision_layers=1, vision_width=64, vision_patch_size=8,
           vision_heads=2, context_length=8, vocab_size=300, transformer_width=64, transformer_heads=2,
           transformer_layers=1)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual block with packed-projection attention, as in OpenAI's code."""

    def __init__(self, width: int, heads: int, mask: torch.Tensor):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Stack(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mask: torch.Tensor):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(width, heads, mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class Vision(nn.Module):
    def __init__(self, res: int, patch: int, width: int, layers: int, heads: int, out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn((res // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Stack(width, layers, heads, torch.zeros(0))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class MiniCLIP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.context_length = c["context_length"]
        self.vocab_size = c["vocab_size"]
        self.input_resolution = c["image_resolution"]
        self.visual = Vision(c["image_resolution"], c["vision_patch_size"], c["vision_width"],
                             c["vision_layers"], c["vision_heads"], c["embed_dim"])
        L = c["context_length"]
        mask = torch.full((L, L), float("-inf")).triu(1)
        self.transformer = Stack(c["transformer_width"], c["transformer_layers"], c["transformer_heads"], mask)
        self.token_embedding = nn.Embedding(c["vocab_size"], c["transformer_width"])
        self.positional_embedding = nn.Parameter(torch.randn(L, c["transformer_width"]) * 0.01)
        self.ln_final = nn.LayerNorm(c["transformer_width"])
        self.text_projection = nn.Parameter(torch.randn(c["transformer_width"], c["embed_dim"]) * 0.1)
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.ln_final(self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        t = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return self.visual(image), t


def randomize(model):
    """Seeded weights with LayerNorm gains and biases away from 1 and 0, so a
    swapped or dropped tensor shows in the embeddings."""
    g = torch.Generator().manual_seed(2027)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.02 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g) * scale)
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_" in name and name.endswith("weight"):
                p.add_(1.0)
        model.logit_scale.fill_(4.6052)


def write_safetensors(path, tensors):
    """The safetensors layout (8-byte header length, JSON, data), written by
    hand: Debian has no python3-safetensors."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        b = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(2026)
    model = MiniCLIP(CFG).eval()
    randomize(model)
    # The f32 reference holds the f32 weights (not the fp16-rounded ones):
    # the test bounds the difference the fp16 conversion makes.
    write_safetensors(os.path.join(OUT, "mini_vit_f32.safetensors"),
                      {k: v.detach().clone() for k, v in model.state_dict().items()})
    scripted = torch.jit.script(model.half())
    torch.jit.save(scripted, os.path.join(OUT, "mini_vit_fp16_jit.pt"))
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CFG, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
