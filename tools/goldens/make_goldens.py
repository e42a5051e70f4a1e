#!/usr/bin/python3
"""make_goldens.py - extra CLIP reference data ("goldens") for clipc's tests.

Writes tests/data/goldens/ (described in tests/data/goldens/README.md):

  <cfg>/weights.safetensors   random-init CLIP, OpenAI state-dict names, config in __metadata__
  <cfg>/io.safetensors        inputs, outputs, intermediates, loss and grad.<key> of every param
  a/train_step*.safetensors   three dropout-free AdamW steps at lr 1e-5 and 5e-4 (batches, lr,
                              loss, after.<key> in float32 and after64.<key> in float64)
  errors.json                 float32-vs-float64 differences (tolerance guidance)

Run with Debian's PyTorch (torch 1.13; the python3 first on PATH may lack torch):

    /usr/bin/python3 tools/goldens/make_goldens.py            # generate, then --check
    /usr/bin/python3 tools/goldens/make_goldens.py --check    # verify the committed files

--check re-reads every file with an independent strict reader (numpy, layout validated),
rebuilds the model from the files alone, re-runs forward, backward and the training steps and
asserts that every stored tensor is reproduced bit for bit; then it runs an independent float64
re-implementation written from the architecture notes in ../shared/reference/README.md (manual
multi-head attention, no nn.MultiheadAttention) and checks outputs and gradients against it
with a tolerance; and, when ../shared/bench/torch_clip.py exists, that it gives the same bits.

The model code below is copied from ../shared/bench/torch_clip.py (OpenAI's CLIP architecture:
pre-LN blocks, nn.MultiheadAttention, QuickGELU, causal text mask, EOT = argmax pooling,
logit_scale stored as a log), so the generator does not depend on ../shared. Everything runs
in float32 on one CPU thread with fixed seeds; output is byte-identical from run to run.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "goldens")

VOCAB = 320
SOT, EOT = VOCAB - 2, VOCAB - 1
LN100 = math.log(100.0)

# Constructor arguments (OpenAI names) + the vision heads, which OpenAI derives as width // 64
# and which are therefore stored explicitly in the metadata.
CONFIGS = OrderedDict([
    ("a", dict(embed_dim=24, image_resolution=32, vision_layers=2, vision_width=48,
               vision_patch_size=8, vision_heads=3, context_length=20, vocab_size=VOCAB,
               transformer_width=40, transformer_heads=5, transformer_layers=2,
               seed=3001, perturb_seed=3002, data_seed=3003)),
    ("b", dict(embed_dim=20, image_resolution=30, vision_layers=3, vision_width=40,
               vision_patch_size=6, vision_heads=4, context_length=12, vocab_size=VOCAB,
               transformer_width=36, transformer_heads=3, transformer_layers=1,
               seed=4001, perturb_seed=4002, data_seed=4003)),
])
META_KEYS = ["embed_dim", "image_resolution", "vision_layers", "vision_width",
             "vision_patch_size", "context_length", "vocab_size", "transformer_width",
             "transformer_heads", "transformer_layers", "vision_heads"]
N_IO = 5

# Training-step references (config a only): three AdamW steps with warm-up, cosine, decay
# exemptions and the logit-scale clamp. Adam turns an absolute gradient error dg of a weight
# whose gradient is near eps into an update error of about lr * dg / eps, so the float32 run's
# distance from the float64 one grows with lr (7.5e-2 * lr here): train_step.safetensors uses
# lr 1e-5, where float32 stays within 1e-6 of the exact answer; train_step_lr5e-4 repeats it at
# a 50x larger rate. Weight decay 1.0 makes a misplaced decay move weights by well over 1e-6
# at lr 1e-5. Each run starts from logit_scale = float32(ln 100 - lr) (start_logit_scale).
TRAIN = dict(steps=3, batch=4, lr=1e-5, betas=(0.9, 0.98), eps=1e-6, weight_decay=1.0,
             warmup=2, total=4, batch_seeds=(3100, 3101, 3102))
TRAIN_RUNS = (("train_step.safetensors", 1e-5), ("train_step_lr5e-4.safetensors", 5e-4))
# Config a's weights are first aligned to the three training batches with ALIGN (plain Adam
# with logit_scale frozen at INIT_LOGIT_SCALE_A): with random weights the loss would want a
# *smaller* scale near 100 (the softmax picks the best-matching wrong pair); aligned, its
# gradient pushes logit_scale up, so the clamp is hit.
INIT_LOGIT_SCALE_A = 4.6047
ALIGN = dict(steps=24, lr=1e-3)
NO_DECAY_2D = ("token_embedding.weight", "positional_embedding", "visual.positional_embedding")


# ------------------------------------------------------------------ model --
# Copied from ../shared/bench/torch_clip.py (batch-first; same weights and maths as OpenAI).
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head, batch_first=True)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = nn.LayerNorm(d_model)
        self.attn_mask = attn_mask

    def forward(self, x):
        y = self.ln_1(x)
        mask = None if self.attn_mask is None else self.attn_mask.to(x.dtype)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)                                  # N, width, grid, grid
        x = x.flatten(2).transpose(1, 2)                   # N, grid*grid, width
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, image_size, patch, v_width, v_layers, v_heads, vocab, ctx, t_width,
                 t_layers, t_heads, embed_dim):
        super().__init__()
        self.context_length = ctx
        self.visual = VisionTransformer(image_size, patch, v_width, v_layers, v_heads, embed_dim)
        mask = torch.full((ctx, ctx), float("-inf")).triu_(1)   # causal, additive
        self.register_buffer("attn_mask", mask, persistent=False)
        self.transformer = Transformer(t_width, t_layers, t_heads, self.attn_mask)
        self.vocab_size = vocab
        self.token_embedding = nn.Embedding(vocab, t_width)
        self.positional_embedding = nn.Parameter(torch.empty(ctx, t_width))
        self.ln_final = nn.LayerNorm(t_width)
        self.text_projection = nn.Parameter(torch.empty(t_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.initialize_parameters()

    def initialize_parameters(self):  # OpenAI's initialisation
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        t = self.transformer
        proj_std = (t.width ** -0.5) * ((2 * t.layers) ** -0.5)
        attn_std = t.width ** -0.5
        fc_std = (2 * t.width) ** -0.5
        for block in t.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=t.width ** -0.5)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.ln_final(self.transformer(x))
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        img = F.normalize(self.encode_image(image), dim=-1)
        txt = F.normalize(self.encode_text(text), dim=-1)
        logits_per_image = self.logit_scale.exp() * img @ txt.t()
        return logits_per_image, logits_per_image.t()


def clip_loss(logits_per_image, logits_per_text):
    labels = torch.arange(logits_per_image.shape[0])
    return 0.5 * (F.cross_entropy(logits_per_image, labels)
                  + F.cross_entropy(logits_per_text, labels))


def model_from_meta(meta):
    m = {k: int(json.loads(meta[k])) for k in META_KEYS}
    return CLIP(image_size=m["image_resolution"], patch=m["vision_patch_size"],
                v_width=m["vision_width"], v_layers=m["vision_layers"],
                v_heads=m["vision_heads"], vocab=m["vocab_size"], ctx=m["context_length"],
                t_width=m["transformer_width"], t_layers=m["transformer_layers"],
                t_heads=m["transformer_heads"], embed_dim=m["embed_dim"])


# ------------------------------------------------------------ safetensors --
ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}


def write_safetensors(path, tensors, metadata):
    """Same layout as ../shared/reference: __metadata__ first, keys sorted, data in key order
    without gaps, compact JSON header padded with spaces to a multiple of 8."""
    header, blobs, off = OrderedDict(), [], 0
    header["__metadata__"] = OrderedDict(sorted(metadata.items()))
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        b = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[k] = OrderedDict(dtype=ST_DTYPES[t.dtype], shape=list(t.shape),
                                data_offsets=[off, off + len(b)])
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def read_safetensors_strict(path):
    """Independent reader (numpy, no torch): validates the layout the writer promises and
    returns (metadata, {name: numpy array})."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0, f"{path}: data not 8-aligned"
    htext = raw[8:8 + n].decode("utf-8")
    assert htext.rstrip(" ").endswith("}"), f"{path}: header padding is not spaces"
    pairs = json.loads(htext, object_pairs_hook=lambda p: p)
    names = [k for k, _ in pairs]
    assert names[0] == "__metadata__", f"{path}: __metadata__ not first"
    assert names[1:] == sorted(names[1:]) and len(set(names)) == len(names), f"{path}: keys"
    meta = dict(pairs[0][1])
    assert all(isinstance(v, str) for v in meta.values())
    data = raw[8 + n:]
    npd = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
    out, off = {}, 0
    for name, d in pairs[1:]:
        d = dict(d)
        b, e = d["data_offsets"]
        assert b == off, f"{path}: {name}: gap"
        cnt = int(np.prod(d["shape"], dtype=np.int64))
        assert e - b == cnt * np.dtype(npd[d["dtype"]]).itemsize, f"{path}: {name}: size"
        out[name] = np.frombuffer(data, dtype=npd[d["dtype"]], count=cnt, offset=b) \
            .reshape(d["shape"]).copy()
        off = e
    assert off == len(data), f"{path}: trailing bytes"
    return meta, out


def to_torch(a):
    return torch.from_numpy(a.copy())   # keeps 0-dim arrays 0-dim


# ---------------------------------------------------------------- helpers --
def build_model(name):
    c = CONFIGS[name]
    torch.manual_seed(c["seed"])
    meta = {k: json.dumps(c[k]) for k in META_KEYS}
    model = model_from_meta(meta)
    meta["act"] = "quickgelu"   # recorded: clipc never guesses the activation of a file
    g = torch.Generator().manual_seed(c["perturb_seed"])
    with torch.no_grad():
        for k, p in model.named_parameters():   # fixed (registration) order
            n = torch.randn(p.shape, generator=g)
            if ".ln_" in "." + k and k.endswith(".weight"):
                p.copy_(1 + 0.1 * n)
            elif ".ln_" in "." + k and k.endswith(".bias"):
                p.copy_(0.05 * n)
            elif k.endswith("bias"):
                p.add_(0.02 * n)
            elif k == "visual.class_embedding":
                p.add_(0.02 * n)
            elif k == "logit_scale":
                p.copy_(math.log(1 / 0.07) + 0.05 * n)
    if name == "a":
        with torch.no_grad():
            model.logit_scale.fill_(INIT_LOGIT_SCALE_A)
        batches = train_batches()
        opt = torch.optim.Adam([p for k, p in model.named_parameters() if k != "logit_scale"],
                               lr=ALIGN["lr"])
        for it in range(ALIGN["steps"]):
            opt.zero_grad(set_to_none=True)
            clip_loss(*model(*batches[it % len(batches)])).backward()
            opt.step()
        model.zero_grad(set_to_none=True)
    return model, meta


def random_batch(c, batch, gen, force_lengths=()):
    """Like torch_clip.random_batch with a small vocabulary: SOT, random ids in
    [1, vocab-3], EOT (the largest id) at the end, zero padding. force_lengths pins the
    lengths (incl. SOT and EOT) of the first rows."""
    r, ctx = c["image_resolution"], c["context_length"]
    images = torch.randn(batch, 3, r, r, generator=gen)
    text = torch.randint(1, VOCAB - 2, (batch, ctx), generator=gen)
    lengths = torch.randint(3, ctx + 1, (batch,), generator=gen)
    for i, n in enumerate(force_lengths):
        lengths[i] = n
    for i, n in enumerate(lengths.tolist()):
        text[i, 0] = SOT
        text[i, n - 1] = EOT
        text[i, n:] = 0
    return images, text


def capture_forward(model, px, ids):
    """One grad-enabled forward; returns (loss, logits_per_image, logits_per_text, acts)."""
    acts, hooks = {}, []

    def hook(name):
        def f(_m, _i, o):
            acts[name] = o
        return f
    hooks.append(model.visual.ln_pre.register_forward_hook(hook("visual.ln_pre_out")))
    for i, b in enumerate(model.visual.transformer.resblocks):
        hooks.append(b.register_forward_hook(hook(f"visual.resblocks.{i}_out")))
    for i, b in enumerate(model.transformer.resblocks):
        hooks.append(b.register_forward_hook(hook(f"text.resblocks.{i}_out")))
    hooks.append(model.ln_final.register_forward_hook(hook("_ln_final")))
    hooks.append(model.visual.ln_post.register_forward_hook(hook("visual.ln_post_cls")))
    img = model.encode_image(px)
    txt = model.encode_text(ids)
    for h in hooks:
        h.remove()
    eot = ids.argmax(dim=-1)
    acts["text.pooled_eot"] = acts.pop("_ln_final")[torch.arange(ids.shape[0]), eot]
    acts["text.eot_index"] = eot
    acts["image_embeds"], acts["text_embeds"] = img, txt
    lpi = model.logit_scale.exp() * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()
    lpt = lpi.t()
    loss = clip_loss(lpi, lpt)
    return loss, lpi, lpt, acts


def compute_io(model, px, ids):
    model.zero_grad(set_to_none=True)
    loss, lpi, lpt, acts = capture_forward(model, px, ids)
    loss.backward()
    out = {k: v.detach().clone() for k, v in acts.items()}
    out.update(loss=loss.detach().clone(), logits_per_image=lpi.detach().clone(),
               logits_per_text=lpt.detach().clone(),
               logit_scale_exp=model.logit_scale.exp().detach().clone())
    for k, p in model.named_parameters():
        out["grad." + k] = p.grad.detach().clone()
    return out


def lr_at(s):
    t = TRAIN
    if s < t["warmup"]:
        return t["lr"] * (s + 1) / t["warmup"]
    return 0.5 * t["lr"] * (1 + math.cos(math.pi * (s - t["warmup"]) / (t["total"] - t["warmup"])))


def train(model, batches):
    """Three AdamW steps; returns {loss.k, lr.k, logit_scale_preclamp.k, after.<key>}."""
    t = TRAIN
    decay, no_decay = [], []
    for k, p in model.named_parameters():
        (decay if p.ndim >= 2 and k not in NO_DECAY_2D else no_decay).append(p)
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=t["weight_decay"]),
                             dict(params=no_decay, weight_decay=0.0)],
                            lr=t["lr"], betas=t["betas"], eps=t["eps"])
    out = {}
    for s, (px, ids) in enumerate(batches):
        lr = lr_at(s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = clip_loss(*model(px, ids))
        loss.backward()
        opt.step()
        out[f"loss.{s}"] = loss.detach().clone()
        out[f"lr.{s}"] = torch.tensor(lr, dtype=torch.float64)
        out[f"logit_scale_preclamp.{s}"] = model.logit_scale.detach().clone()
        with torch.no_grad():
            model.logit_scale.clamp_(0, LN100)
    for k, p in model.named_parameters():
        out["after." + k] = p.detach().clone()
    return out


def train_batches(dtype=torch.float32):
    c = CONFIGS["a"]
    res = []
    for s, seed in enumerate(TRAIN["batch_seeds"]):
        g = torch.Generator().manual_seed(seed)
        px, ids = random_batch(c, TRAIN["batch"], g, force_lengths=(c["context_length"],)
                               if s == 1 else ())
        res.append((px.to(dtype), ids))
    return res


def fp64_errors(ref32, ref64):
    rows = OrderedDict()
    for k in ref32:
        a, b = ref32[k], ref64[k]
        if not a.is_floating_point():
            continue
        d = (a.double() - b).abs().max().item() if a.numel() else 0.0
        m = b.abs().max().item() if b.numel() else 0.0
        rows[k] = dict(max_abs=d, max_abs_ref=m, rel_to_max=d / m if m > 0 else 0.0)
    return rows


def gen_io_inputs(name):
    c = CONFIGS[name]
    g = torch.Generator().manual_seed(c["data_seed"])
    # row 0: empty caption (SOT, EOT); row 2: full length (EOT at the last position)
    return random_batch(c, N_IO, g, force_lengths=(2, 7, c["context_length"]))


def set_train_lr(lr):
    TRAIN["lr"] = lr
    TRAIN["start_logit_scale"] = start_logit_scale(lr)


def start_logit_scale(lr):
    """float32(ln 100 - lr): the first step (at lr/2 in warm-up) stays below the clamp, the
    second (at lr) crosses it, so both sides of the clamp are exercised."""
    return float(torch.tensor(LN100 - lr, dtype=torch.float32))


def train_sd(sd):
    t = OrderedDict(sd)
    t["logit_scale"] = torch.tensor(TRAIN["start_logit_scale"], dtype=torch.float32)
    return t


def train_reference(sd, meta, fname, lr):
    """Three AdamW steps from config a's weights (logit_scale set to start_logit_scale(lr)) in
    float32 (after.<key>) and float64 (after64.<key>, stored as F64); written to a/<fname>.
    Returns the errors.json record: float32-vs-float64 and the effect of deliberate bugs."""
    set_train_lr(lr)
    sd_t = train_sd(sd)
    batches = train_batches()
    model = model_from_meta(meta)
    model.load_state_dict(sd_t, strict=True)
    tr = train(model, batches)
    m64 = model_from_meta(meta).double()
    m64.load_state_dict({k: v.double() for k, v in sd_t.items()})
    tr64 = train(m64, [(p.double(), i) for p, i in batches])
    rec = OrderedDict(lr=lr)
    rec["train_step"] = fp64_errors(tr, tr64)
    rec["after_max_abs_excluding_key_bias"] = max(
        after_diff(k, tr["after." + k], tr64["after." + k], False) for k in sd)
    bugs = OrderedDict()
    for bug, kw in (("no_weight_decay", dict(wd_mode="none")),
                    ("weight_decay_on_all_params", dict(wd_mode="all")),
                    ("weight_decay_on_embeddings_too", dict(wd_mode="ndim2")),
                    ("l2_in_gradient_instead_of_decoupled", dict(wd_mode="l2")),
                    ("no_logit_scale_clamp", dict(clamp=False)),
                    ("no_bias_correction", dict(bias_correction=False)),
                    ("constant_lr_no_schedule", dict(schedule=False))):
        got = manual_adamw(sd_t, [(p, i) for p, i in batches], meta, **kw)
        worst = max(((k, after_diff(k, got[k], tr64["after." + k], False)) for k in sd),
                    key=lambda kv: kv[1])
        bugs[bug] = dict(max_abs=worst[1], tensor=worst[0])
        print(f"  {fname}: bug effect {bug}: max |after diff| {worst[1]:.3g} ({worst[0]})")
    rec["train_step_bug_effects"] = bugs
    hit = [s for s in range(TRAIN["steps"]) if tr[f"logit_scale_preclamp.{s}"].item() > LN100]
    assert hit, "logit_scale clamp never hit"
    for s, (p, i) in enumerate(batches):
        tr[f"step{s}.pixel_values"], tr[f"step{s}.input_ids"] = p, i.to(torch.int32)
    for k in sd:
        tr["after64." + k] = tr64["after." + k].double()
    tr["start.logit_scale"] = sd_t["logit_scale"]
    tmeta = {k: json.dumps(v) for k, v in TRAIN.items()}
    tmeta["clamp_hit_steps"] = json.dumps(hit)
    write_safetensors(os.path.join(OUT, "a", fname), tr, tmeta)
    for s in range(TRAIN["steps"]):
        print(f"  {fname}: step {s}: lr {tr[f'lr.{s}'].item():.6g} loss "
              f"{tr[f'loss.{s}'].item():.9g} (fp64 {tr64[f'loss.{s}'].item():.9g}) "
              f"logit_scale pre-clamp {tr[f'logit_scale_preclamp.{s}'].item():.9g}")
    print(f"  {fname}: clamp hit at step(s) {hit}; float32 vs float64 after (key-bias rows "
          f"aside) {rec['after_max_abs_excluding_key_bias']:.3g}")
    return rec


# ------------------------------------------------------------- generation --
def generate():
    errors = OrderedDict()
    for name in CONFIGS:
        model, meta = build_model(name)
        sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
        write_safetensors(os.path.join(OUT, name, "weights.safetensors"), sd, meta)
        px, ids = gen_io_inputs(name)
        io = compute_io(model, px, ids)
        m64 = model_from_meta(meta).double()
        m64.load_state_dict({k: v.double() for k, v in sd.items()})
        io64 = compute_io(m64, px.double(), ids)
        errors[name] = dict(io=fp64_errors(io, io64))
        io["pixel_values"], io["input_ids"] = px, ids.to(torch.int32)
        io_meta = dict(batch=str(N_IO), seed=str(CONFIGS[name]["seed"]),
                       perturb_seed=str(CONFIGS[name]["perturb_seed"]),
                       data_seed=str(CONFIGS[name]["data_seed"]),
                       loss="0.5*(CE(logits_per_image, arange(N)) + CE(logits_per_text, "
                            "arange(N))), mean reduction",
                       torch=torch.__version__)
        write_safetensors(os.path.join(OUT, name, "io.safetensors"), io, io_meta)
        print(f"{name}: loss {io['loss'].item():.9g} (fp64 {io64['loss'].item():.9g})")
        if name == "a":
            for fname, lr in TRAIN_RUNS:
                errors[name][fname] = train_reference(sd, meta, fname, lr)
    def r3(o):   # 3 significant digits keep errors.json small
        if isinstance(o, float):
            return float(f"{o:.3g}")
        return OrderedDict((k, r3(v)) for k, v in o.items()) if isinstance(o, dict) else o
    with open(os.path.join(OUT, "errors.json"), "w") as f:
        json.dump(r3(errors), f, indent=1, sort_keys=False)
        f.write("\n")
    summarize(errors)


def summarize(errors):
    for name, e in errors.items():
        parts = list(e.items())
        for fname, rec in list(parts):   # the training runs nest their table one level down
            if isinstance(rec, dict) and "train_step" in rec:
                parts.append((fname, rec["train_step"]))
        for part, rows in parts:
            if not all(isinstance(r, dict) and "rel_to_max" in r for r in rows.values()):
                continue
            for kind, keys in (("forward", [k for k in rows if not k.startswith(("grad.", "after."))]),
                               ("grad", [k for k in rows if k.startswith("grad.")]),
                               ("after", [k for k in rows if k.startswith("after.")])):
                if not keys:
                    continue
                wa = max(keys, key=lambda k: rows[k]["max_abs"])
                wr = max(keys, key=lambda k: rows[k]["rel_to_max"])
                print(f"{name}/{part} {kind}: max abs {rows[wa]['max_abs']:.3g} ({wa}); "
                      f"max rel-to-max {rows[wr]['rel_to_max']:.3g} ({wr})")


# ------------------------------------------------------------------ check --
def functional_forward(sd, meta, px, ids):
    """Independent float64 CLIP written from ../shared/reference/README.md's notes: explicit
    q/k/v split of in_proj, per-head softmax attention, pre-LN, QuickGELU, EOT pooling."""
    m = {k: int(json.loads(meta[k])) for k in META_KEYS}

    def ln(x, pre):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * sd[pre + ".weight"] + sd[pre + ".bias"]

    def block(x, pre, heads, causal):
        n, l, w = x.shape
        hd = w // heads
        y = ln(x, pre + ".ln_1")
        wi, bi = sd[pre + ".attn.in_proj_weight"], sd[pre + ".attn.in_proj_bias"]
        q, k, v = (y @ wi[j * w:(j + 1) * w].t() + bi[j * w:(j + 1) * w] for j in range(3))
        outs = []
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            s = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(hd)
            if causal:
                s = s.masked_fill(torch.ones(l, l, dtype=torch.bool).triu(1), float("-inf"))
            outs.append(torch.softmax(s, -1) @ v[..., sl])
        o = torch.cat(outs, -1)
        x = x + o @ sd[pre + ".attn.out_proj.weight"].t() + sd[pre + ".attn.out_proj.bias"]
        y = ln(x, pre + ".ln_2") @ sd[pre + ".mlp.c_fc.weight"].t() + sd[pre + ".mlp.c_fc.bias"]
        y = y * torch.sigmoid(1.702 * y)
        return x + y @ sd[pre + ".mlp.c_proj.weight"].t() + sd[pre + ".mlp.c_proj.bias"]

    p = m["vision_patch_size"]
    g = m["image_resolution"] // p
    n = px.shape[0]
    # patch embedding as an explicit matmul over (c, ky, kx) patches, row-major grid
    patches = px.reshape(n, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, 3 * p * p)
    x = patches @ sd["visual.conv1.weight"].reshape(m["vision_width"], -1).t()
    cls = sd["visual.class_embedding"].expand(n, 1, -1)
    x = torch.cat([cls, x], 1) + sd["visual.positional_embedding"]
    x = ln(x, "visual.ln_pre")
    for i in range(m["vision_layers"]):
        x = block(x, f"visual.transformer.resblocks.{i}", m["vision_heads"], False)
    img = ln(x[:, 0], "visual.ln_post") @ sd["visual.proj"]
    x = sd["token_embedding.weight"][ids] + sd["positional_embedding"]
    for i in range(m["transformer_layers"]):
        x = block(x, f"transformer.resblocks.{i}", m["transformer_heads"], True)
    x = ln(x, "ln_final")
    eot = torch.tensor([max(range(ids.shape[1]), key=lambda j: (ids[r, j].item(), -j))
                        for r in range(n)])
    txt = x[torch.arange(n), eot] @ sd["text_projection"]
    lpi = sd["logit_scale"].exp() * (img / img.norm(dim=1, keepdim=True)) @ \
        (txt / txt.norm(dim=1, keepdim=True)).t()
    labels = torch.arange(n)
    loss = 0.5 * (F.cross_entropy(lpi, labels) + F.cross_entropy(lpi.t(), labels))
    return dict(image_embeds=img, text_embeds=txt, logits_per_image=lpi, loss=loss,
                eot=eot)


def check():
    ok = True

    def same(tag, a, b):
        nonlocal ok
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            ok = False
            print(f"  MISMATCH {tag}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")

    peer = None
    bench = os.path.join(ROOT, "..", "shared", "bench")
    if os.path.exists(os.path.join(bench, "torch_clip.py")):
        sys.path.insert(0, bench)
        import torch_clip as peer  # noqa: E402
    for name in CONFIGS:
        meta, w = read_safetensors_strict(os.path.join(OUT, name, "weights.safetensors"))
        _, io = read_safetensors_strict(os.path.join(OUT, name, "io.safetensors"))
        assert set(meta) == set(META_KEYS), f"{name}: metadata keys {sorted(meta)}"
        sd = {k: to_torch(v) for k, v in w.items()}
        model = model_from_meta(meta)
        model.load_state_dict(sd, strict=True)
        assert all(v.dtype == torch.float32 for v in sd.values())
        px, ids = to_torch(io["pixel_values"]), to_torch(io["input_ids"]).long()
        got = compute_io(model, px, ids)
        got["pixel_values"], got["input_ids"] = px, ids.to(torch.int32)
        assert set(got) == set(io), f"{name}: io keys differ: {set(got) ^ set(io)}"
        for k in sorted(io):
            same(f"{name}/io/{k}", got[k], to_torch(io[k]))
        # every parameter has a nonzero gradient, no float tensor is constant
        for k in sd:
            g = to_torch(io["grad." + k])
            if not g.abs().max() > 0:
                ok = False
                print(f"  zero gradient: {name} {k}")
            if sd[k].numel() > 1 and sd[k].min() == sd[k].max():
                ok = False
                print(f"  constant tensor: {name} {k}")
        print(f"{name}: io.safetensors reproduced bit for bit ({len(io)} tensors)")

        # independent float64 re-implementation (tolerance: float32 vs float64 differences)
        sd64 = {k: v.double().requires_grad_(True) for k, v in sd.items()}
        ref = functional_forward(sd64, meta, px.double(), ids)
        ref["loss"].backward()
        worst = 0.0
        for k in ("image_embeds", "text_embeds", "logits_per_image", "loss"):
            r = ref[k].detach()
            d = ((to_torch(io[k]).double() - r).abs().max() / r.abs().max().clamp_min(1)).item()
            worst = max(worst, d)
        gworst = 0.0
        for k, v in sd64.items():
            r = v.grad
            d = ((to_torch(io["grad." + k]).double() - r).abs().max()
                 / r.abs().max().clamp_min(1e-30)).item()
            gworst = max(gworst, d)
        eq_eot = torch.equal(ref["eot"], to_torch(io["text.eot_index"]))
        print(f"{name}: independent float64 re-implementation: outputs max rel {worst:.2g}, "
              f"grads max rel-to-max {gworst:.2g}, eot_index equal {eq_eot}")
        if not (worst < 1e-5 and gworst < 1e-4 and eq_eot):
            ok = False
            print("  FAIL: float64 re-implementation disagrees")

        if peer is not None:
            m = {k: int(json.loads(meta[k])) for k in META_KEYS}
            pm = peer.CLIP(image_size=m["image_resolution"], patch=m["vision_patch_size"],
                           v_width=m["vision_width"], v_layers=m["vision_layers"],
                           v_heads=m["vision_heads"], vocab=m["vocab_size"],
                           ctx=m["context_length"], t_width=m["transformer_width"],
                           t_layers=m["transformer_layers"], t_heads=m["transformer_heads"],
                           embed_dim=m["embed_dim"])
            pm.load_state_dict(sd, strict=True)
            lpi, lpt = pm(px, ids)
            loss = peer.clip_loss(lpi, lpt)
            same(f"{name}/peer/logits_per_image", lpi.detach(), to_torch(io["logits_per_image"]))
            same(f"{name}/peer/loss", loss.detach(), to_torch(io["loss"]))
            print(f"{name}: ../shared/bench/torch_clip.py gives the same logits and loss bits")

        if name == "a":
            for fname, lr in TRAIN_RUNS:
                ok = check_train_reference(sd, meta, fname, lr, same) and ok
    print("CHECK " + ("PASS" if ok else "FAIL"))
    return ok


def check_train_reference(sd, meta, fname, lr, same):
    set_train_lr(lr)
    sd_t = train_sd(sd)
    tmeta, tr = read_safetensors_strict(os.path.join(OUT, "a", fname))
    model = model_from_meta(meta)
    model.load_state_dict(sd_t, strict=True)
    batches = [(to_torch(tr[f"step{s}.pixel_values"]), to_torch(tr[f"step{s}.input_ids"]).long())
               for s in range(TRAIN["steps"])]
    got = train(model, batches)
    m64 = model_from_meta(meta).double()
    m64.load_state_dict({k: v.double() for k, v in sd_t.items()})
    t64 = train(m64, [(p.double(), i) for p, i in batches])
    for s, (p, i) in enumerate(batches):
        got[f"step{s}.pixel_values"], got[f"step{s}.input_ids"] = p, i.to(torch.int32)
    for k in sd:
        got["after64." + k] = t64["after." + k]
    got["start.logit_scale"] = sd_t["logit_scale"]
    assert set(got) == set(tr), f"train keys differ: {set(got) ^ set(tr)}"
    mismatches = []
    for k in sorted(tr):
        same(f"a/{fname}/{k}", got[k], to_torch(tr[k]))
        if not torch.equal(got[k], to_torch(tr[k])):
            mismatches.append(k)
    hit = json.loads(tmeta["clamp_hit_steps"])
    assert hit and all(tr[f"logit_scale_preclamp.{s}"] > LN100 for s in hit)
    # a plain re-implementation of the update rule (no torch.optim, no nn modules) in float64
    # agrees with torch.optim.AdamW in float64, and the stored float32 result is within float32
    # noise of both
    man = manual_adamw(sd_t, batches, meta)
    d_man = max(after_diff(k, man[k], t64["after." + k], False) for k in sd)
    d_man_k = max(after_diff(k, man[k], t64["after." + k], True) for k in sd)
    d32 = max(after_diff(k, to_torch(tr["after." + k]), t64["after." + k], False) for k in sd)
    print(f"a: {fname} reproduced bit for bit ({len(tr)} tensors); clamp hit at step(s) {hit}")
    print(f"a: {fname}: hand-written float64 AdamW vs torch.optim.AdamW float64: max |diff| "
          f"{d_man:.2g} (key-bias rows {d_man_k:.2g}); stored float32 vs float64 "
          f"(without key-bias rows) {d32:.2g}")
    if mismatches or not (d_man < 1e-9 and d32 < 100 * lr):
        print("  FAIL: AdamW re-implementation disagrees")
        return False
    return True


def manual_adamw(sd, batches, meta, wd_mode="split", clamp=True, bias_correction=True,
                 schedule=True):
    """The training step written out by hand in float64 (the C trainer's recipe), on top of
    functional_forward. The keyword arguments introduce deliberate bugs, to measure how far
    each would move the final parameters (errors.json "train_step_bug_effects")."""
    t = TRAIN
    b1, b2 = t["betas"]
    p = {k: v.double().clone().requires_grad_(True) for k, v in sd.items()}
    mo = {k: torch.zeros_like(v) for k, v in p.items()}
    ve = {k: torch.zeros_like(v) for k, v in p.items()}
    for s, (px, ids) in enumerate(batches):
        lr = lr_at(s) if schedule else t["lr"]
        for v in p.values():
            v.grad = None
        functional_forward(p, meta, px.double(), ids)["loss"].backward()
        with torch.no_grad():
            for k, v in p.items():
                g = v.grad
                decays = v.ndim >= 2 and k not in NO_DECAY_2D
                decays = decays or (wd_mode == "ndim2" and v.ndim >= 2)
                wd = t["weight_decay"] if (wd_mode == "all" or (decays and wd_mode in
                                                                ("split", "l2", "ndim2"))) else 0.0
                if wd_mode == "l2":
                    g = g + wd * v       # Adam with L2 in the gradient instead of AdamW
                else:
                    v.mul_(1 - lr * wd)
                mo[k] = b1 * mo[k] + (1 - b1) * g
                ve[k] = b2 * ve[k] + (1 - b2) * g * g
                c1 = 1 - b1 ** (s + 1) if bias_correction else 1.0
                c2 = 1 - b2 ** (s + 1) if bias_correction else 1.0
                v.sub_(lr * (mo[k] / c1) / ((ve[k] / c2).sqrt() + t["eps"]))
            if clamp:
                p["logit_scale"].clamp_(0, LN100)
    return {k: v.detach() for k, v in p.items()}


def is_kbias_slice(k, t):
    """Rows W..2W-1 of in_proj_bias (the key bias) have an exactly-zero true gradient: adding a
    constant to every key shifts each softmax row by a constant. Their float32 gradient is
    rounding noise, which Adam turns into updates of up to lr per step."""
    if not k.endswith("in_proj_bias"):
        return None
    w = t.shape[0] // 3
    return slice(w, 2 * w)


def after_diff(k, a, b, kbias):
    """max |a - b| over a parameter, with or without (kbias False) the key-bias rows."""
    d = (a.double() - b.double()).abs()
    sl = is_kbias_slice(k, d)
    if sl is not None:
        d = d[sl] if kbias else torch.cat([d[:sl.start], d[sl.stop:]])
    elif kbias:
        return 0.0
    return d.max().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify the existing files")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if not a.check:
        generate()
    return 0 if check() else 1


if __name__ == "__main__":
    sys.exit(main())
