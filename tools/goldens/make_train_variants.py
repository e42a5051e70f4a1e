#!/usr/bin/python3
"""make_train_variants.py - references for the training options train_step.safetensors does
not cover: coupled-L2 Adam (the seed recipe: torch.optim.Adam with weight_decay), --accum
(gradient accumulation) and --freeze image (LiT). Writes tests/data/goldens/a/train_variants.safetensors.

Each variant is three dropout-free steps from config a's weights (tests/data/goldens/a/
weights.safetensors, logit_scale set to float32(ln 100 - lr) as in train_step.safetensors), on
the same three batches of 4 (make_goldens.train_batches, the step<k>.* of train_step.safetensors),
the same warm-up + cosine schedule (lr 1e-5) and the logit-scale clamp, computed in float64 with
PyTorch's own optimizers and stored rounded to float32 as ref.<variant>.<key>:

  adam_l2       torch.optim.Adam, weight_decay 1.0 on the decayed tensors (2-D weights except
                the embeddings, as clipc's table), 0 on the rest: L2 added to the gradient
  accum2        AdamW (decoupled, 1.0), each step two micro-batches of 2 (rows 0-1, 2-3), the
                loss the mean of the two micro-batch CLIP losses (clipc --accum 2 --batch 2)
  freeze_image  AdamW, the image tower (visual.*, except visual.proj which is a projection)
                frozen: not in the optimizer, never decayed

Run with Debian's PyTorch: /usr/bin/python3 tools/goldens/make_train_variants.py
"""
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens as mg  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "goldens", "a")
LR = 1e-5


def frozen(k, variant):
    return variant == "freeze_image" and k.startswith("visual.") and k != "visual.proj"


def run(variant, sd, meta, batches):
    t = mg.TRAIN
    model = mg.model_from_meta(meta).double()
    model.load_state_dict({k: v.double() for k, v in sd.items()}, strict=True)
    decay, no_decay = [], []
    for k, p in model.named_parameters():
        if frozen(k, variant):
            p.requires_grad_(False)
            continue
        (decay if p.ndim >= 2 and k not in mg.NO_DECAY_2D else no_decay).append(p)
    groups = [dict(params=decay, weight_decay=t["weight_decay"]), dict(params=no_decay, weight_decay=0.0)]
    cls = torch.optim.Adam if variant == "adam_l2" else torch.optim.AdamW
    opt = cls(groups, lr=LR, betas=t["betas"], eps=t["eps"])
    for s, (px, ids) in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = mg.lr_at(s)
        opt.zero_grad(set_to_none=True)
        if variant == "accum2":
            loss = (mg.clip_loss(*model(px[:2], ids[:2])) + mg.clip_loss(*model(px[2:], ids[2:]))) / 2
        else:
            loss = mg.clip_loss(*model(px, ids))
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, mg.LN100)
    return {k: p.detach() for k, p in model.named_parameters()}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    meta, arrays = mg.read_safetensors_strict(os.path.join(OUT, "weights.safetensors"))
    mg.set_train_lr(LR)
    sd = mg.train_sd(OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items()))
    batches = [(p.double(), i) for p, i in mg.train_batches()]
    # the batches must be those of train_step.safetensors, which the C test reads
    _, ts = mg.read_safetensors_strict(os.path.join(OUT, "train_step.safetensors"))
    for s, (p, i) in enumerate(batches):
        assert (torch.from_numpy(ts[f"step{s}.pixel_values"]).double() == p).all()
        assert (torch.from_numpy(ts[f"step{s}.input_ids"]).long() == i.long()).all()
    out = OrderedDict()
    out["start.logit_scale"] = sd["logit_scale"].float()
    for variant in ("adam_l2", "accum2", "freeze_image"):
        after = run(variant, sd, meta, batches)
        moved = sum(int((after[k].float() != sd[k].float()).any()) for k in sd)
        print(f"{variant}: {moved} of {len(sd)} tensors moved")
        for k, v in after.items():
            out[f"ref.{variant}.{k}"] = v.float()
    info = dict(lr=repr(LR), warmup=str(mg.TRAIN["warmup"]), total=str(mg.TRAIN["total"]),
                weight_decay=repr(mg.TRAIN["weight_decay"]), betas="0.9,0.98", eps=repr(mg.TRAIN["eps"]),
                torch=torch.__version__, generator="tools/goldens/make_train_variants.py")
    mg.write_safetensors(os.path.join(OUT, "train_variants.safetensors"), out, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
