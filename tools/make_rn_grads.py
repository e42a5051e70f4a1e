#!/usr/bin/python3
"""make_rn_grads.py -- the PyTorch reference for clipc's ModifiedResNet gradients.

Run from the repository root with Debian's python3 (torch 1.13):
    /usr/bin/python3 tools/make_rn_grads.py [../shared/reference/openai_clip/rn_tiny]

It builds a ModifiedResNet CLIP written here from the operator level (functional
PyTorch: conv2d, batch_norm in eval mode, avg_pool2d, one-query attention pooling,
a causal QuickGELU text transformer), not OpenAI's module code, and:
  1. loads rn_tiny's weights.safetensors with a reader written here (8-byte
     header length, JSON header, raw little-endian data);
  2. checks that its forward pass reproduces rn_tiny's outputs.safetensors
     (stem, layer1..4, embeddings, logits) and stops if it does not;
  3. computes the CLIP loss of the vit_tiny grads.json definition on images
     0..3 and captions 0..3 (labels 0..3, 0.5 * (CE(logits_per_image) +
     CE(logits_per_text)), mean reduction, the model's own exp(logit_scale)),
     in float32 and again in float64;
  4. writes tests/data/goldens/rn_tiny_grads.safetensors: `loss` [],
     `logits_per_image` [4, 4] and `grad.<name>` for every trained tensor but
     token_embedding.weight (49408 rows: too big to commit), from the float32
     run; and rn_tiny_grads.json beside it: the loss, the float64 loss, and per
     tensor the float32-vs-float64 error relative to max|grad| (the tolerance
     the C test uses is justified by these numbers).
BatchNorm running statistics get no gradient (eval mode: constants).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

SRC = sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/openai_clip/rn_tiny"
OUT = "tests/data/goldens/rn_tiny_grads.safetensors"
DT = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
NP2ST = {np.dtype(np.float32): "F32"}


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    head = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = head.pop("__metadata__", {})
    data = buf[8 + n:]
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DT[v["dtype"]]).reshape(v["shape"])
        out[k] = arr.copy()
    return out, meta


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


# ---------------------------------------------------------------- the model
def bn(x, p, name):
    return F.batch_norm(x, p[name + ".running_mean"], p[name + ".running_var"], p[name + ".weight"],
                        p[name + ".bias"], training=False, eps=1e-5)


def bottleneck(x, p, pre, stride):
    y = F.relu(bn(F.conv2d(x, p[pre + ".conv1.weight"]), p, pre + ".bn1"))
    y = F.relu(bn(F.conv2d(y, p[pre + ".conv2.weight"], padding=1), p, pre + ".bn2"))
    if stride > 1:
        y = F.avg_pool2d(y, stride)
    y = bn(F.conv2d(y, p[pre + ".conv3.weight"]), p, pre + ".bn3")
    sc = x
    if pre + ".downsample.0.weight" in p:
        if stride > 1:
            sc = F.avg_pool2d(sc, stride)
        sc = bn(F.conv2d(sc, p[pre + ".downsample.0.weight"]), p, pre + ".downsample.1")
    return F.relu(y + sc)


def attention_pool(x, p, heads):
    n, c, h, w = x.shape
    t = x.reshape(n, c, h * w).transpose(1, 2)                 # (N, HW, C)
    t = torch.cat([t.mean(dim=1, keepdim=True), t], dim=1)     # mean token first
    t = t + p["visual.attnpool.positional_embedding"][None]
    a = "visual.attnpool."
    q = t[:, :1] @ p[a + "q_proj.weight"].T + p[a + "q_proj.bias"]
    k = t @ p[a + "k_proj.weight"].T + p[a + "k_proj.bias"]
    v = t @ p[a + "v_proj.weight"].T + p[a + "v_proj.bias"]
    hd = c // heads
    split = lambda z: z.reshape(n, z.shape[1], heads, hd).transpose(1, 2)  # (N, H, T, hd)
    qh, kh, vh = split(q) * hd ** -0.5, split(k), split(v)
    att = torch.softmax(qh @ kh.transpose(-1, -2), dim=-1)
    o = (att @ vh).transpose(1, 2).reshape(n, c)
    return o @ p[a + "c_proj.weight"].T + p[a + "c_proj.bias"]


def encode_image(px, p, cfg, acts):
    x = px
    for i in (1, 2, 3):
        x = F.relu(bn(F.conv2d(x, p["visual.conv%d.weight" % i], stride=2 if i == 1 else 1, padding=1), p,
                      "visual.bn%d" % i))
    x = F.avg_pool2d(x, 2)
    acts["visual.stem_out"] = x
    for l, nb in enumerate(cfg["vision_layers"]):
        for b in range(nb):
            x = bottleneck(x, p, "visual.layer%d.%d" % (l + 1, b), 2 if (l > 0 and b == 0) else 1)
        acts["visual.layer%d_out" % (l + 1)] = x
    return attention_pool(x, p, cfg["vision_width"] * 32 // 64)


def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], eps=1e-5)


def text_block(x, p, pre, heads):
    n, t, c = x.shape
    hd = c // heads
    y = layer_norm(x, p, pre + ".ln_1")
    qkv = y @ p[pre + ".attn.in_proj_weight"].T + p[pre + ".attn.in_proj_bias"]
    q, k, v = [z.reshape(n, t, heads, hd).transpose(1, 2) for z in qkv.split(c, dim=-1)]
    s = (q * hd ** -0.5) @ k.transpose(-1, -2)
    s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(n, t, c)
    x = x + o @ p[pre + ".attn.out_proj.weight"].T + p[pre + ".attn.out_proj.bias"]
    y = layer_norm(x, p, pre + ".ln_2")
    h = y @ p[pre + ".mlp.c_fc.weight"].T + p[pre + ".mlp.c_fc.bias"]
    h = h * torch.sigmoid(1.702 * h)
    return x + h @ p[pre + ".mlp.c_proj.weight"].T + p[pre + ".mlp.c_proj.bias"]


def encode_text(ids, p, cfg):
    x = p["token_embedding.weight"][ids] + p["positional_embedding"]
    for l in range(cfg["transformer_layers"]):
        x = text_block(x, p, "transformer.resblocks.%d" % l, cfg["transformer_heads"])
    x = layer_norm(x, p, "ln_final")
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ p["text_projection"]


def clip_logits(img, txt, p):
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    return p["logit_scale"].exp() * img @ txt.T


# ---------------------------------------------------------------- the run
def run(weights, px, ids, cfg, dtype):
    p = {}
    for k, v in weights.items():
        if v.dtype == np.float32:
            t = torch.tensor(v, dtype=dtype)
            trained = not (k.endswith("running_mean") or k.endswith("running_var"))
            p[k] = t.requires_grad_(trained)
    acts = {}
    img = encode_image(torch.tensor(px, dtype=dtype), p, cfg, acts)
    txt = encode_text(torch.tensor(ids, dtype=torch.long), p, cfg)
    return p, acts, img, txt


def main():
    torch.set_num_threads(1)
    cfg = json.load(open(os.path.join(SRC, "config.json")))
    w, _ = read_st(os.path.join(SRC, "weights.safetensors"))
    inp, _ = read_st(os.path.join(SRC, "inputs/inputs.safetensors"))
    ref, _ = read_st(os.path.join(SRC, "outputs/outputs.safetensors"))
    px, ids = inp["pixel_values"], inp["input_ids"]

    # 1. the forward pass must reproduce OpenAI's outputs
    with torch.no_grad():
        p, acts, img, txt = run(w, px, ids, cfg, torch.float32)
        got = dict(acts, image_embeds=img, text_embeds=txt, logits_per_image=clip_logits(img, txt, p))
        for k, v in got.items():
            r = ref[k]
            d = float(np.abs(v.numpy() - r).max())
            tol = 1e-5 * max(1.0, float(np.abs(r).max()))
            print("forward %-22s max|diff| %.3g (tol %.3g)" % (k, d, tol))
            if not d <= tol:
                sys.exit("forward pass does not reproduce %s: not writing goldens" % k)

    # 2. loss and gradients on images 0..3 x captions 0..3, float32 and float64
    res = {}
    for dt in (torch.float32, torch.float64):
        p, _, img, txt = run(w, px[:4], ids[:4], cfg, dt)
        lpi = clip_logits(img, txt, p)
        labels = torch.arange(4)
        loss = 0.5 * (F.cross_entropy(lpi, labels) + F.cross_entropy(lpi.T, labels))
        loss.backward()
        grads = {k: t.grad.detach().numpy() for k, t in p.items()
                 if t.requires_grad and k != "token_embedding.weight"}
        res[dt] = (float(loss), lpi.detach().numpy(), grads)
    loss32, lpi32, g32 = res[torch.float32]
    loss64, _, g64 = res[torch.float64]
    # The attention pool's key bias cannot change any output (softmax ignores
    # a constant added to every score): its true gradient is 0 and what float32
    # gives is rounding noise (~1e-8), reported apart instead of as a ratio.
    err, zero = {}, {}
    for k in sorted(g32):
        m = float(np.abs(g64[k]).max())
        if m < 1e-12:
            zero["grad." + k] = float(np.abs(g32[k]).max())
        else:
            err["grad." + k] = float(np.abs(g32[k] - g64[k]).max()) / m
    worst = max(err.values())
    print("loss %.8g (float64 %.10g); %d gradients, worst float32-vs-float64 error %.3g of max|g|; "
          "zero in theory: %s" % (loss32, loss64, len(g32), worst, zero))
    tensors = {"loss": np.array(loss32, dtype=np.float32), "logits_per_image": lpi32}
    tensors.update({"grad." + k: v for k, v in g32.items()})
    write_st(OUT, tensors, {"source": "tools/make_rn_grads.py", "model": "rn_tiny",
                            "batch": "pixel_values[0:4] x input_ids[0:4], labels 0..3"})
    with open(OUT.replace(".safetensors", ".json") + ".tmp", "w") as f:
        json.dump({"loss": loss32, "loss_fp64": loss64, "torch": torch.__version__,
                   "grad_fp32_vs_fp64_rel_to_max": err, "zero_in_theory_fp32_max_abs": zero}, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(OUT.replace(".safetensors", ".json") + ".tmp", OUT.replace(".safetensors", ".json"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
