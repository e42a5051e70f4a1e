#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus_<name>/).

Each seed is a small valid (or nearly valid) input in the target's framing
(see the header comment of tests/fuzz/fuzz_<name>.c): the fuzzers start from
these and tests/test_fuzz_replay.c replays them in the default suite.  Run
from the repository root: /usr/bin/python3 tools/fuzz_seeds.py
Crash reproducers the campaigns find are added to the corpora by hand (named
crash-<what>) and are not touched here.
"""
import json
import os
import struct


def put(target, name, data):
    d = f"tests/fuzz/corpus_{target}"
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{d}/{name}", "wb") as f:
        f.write(data)


def safetensors(tensors, meta=None, pad_data=True):
    """tensors: list of (name, dtype, shape, bytes). Returns (header_json, data)."""
    h, off, blob = {}, 0, b""
    if meta is not None:
        h["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    return json.dumps(h, separators=(",", ":")).encode(), blob


# ---- captions: byte 0 = format (0 auto, 1 karpathy, 2 flickr8k, 3 flickr30k, 4 csv, 5 tsv) + 6 * split
karpathy = {"dataset": "coco", "images": [
    {"filename": "a.jpg", "filepath": "val2014", "imgid": 0, "split": "train",
     "sentences": [{"raw": "A cat on a mat.", "sentid": 0}, {"raw": "a cat", "sentid": 1}]},
    {"filename": "b.jpg", "filepath": "val2014", "imgid": 1, "split": "val",
     "sentences": [{"raw": "Two dogs \u00e9t\u00e9", "sentid": 2}]}]}
put("captions", "karpathy", b"\x00" + json.dumps(karpathy).encode())
put("captions", "karpathy_train", b"\x07" + json.dumps(karpathy).encode())
put("captions", "csv", b"\x04image,caption\na.png,a red square\n\"b,c.png\",\"a \"\"quoted\"\" one\"\nd.jpg,\n")
put("captions", "tsv", b"\x05a.png\ta cat\nb.png\ta dog\n")
put("captions", "flickr8k", b"\x02" + b"1000.jpg#0\tA child in pink .\n1000.jpg#1\tA girl .\n1001.jpg#0\tA dog .\n")
put("captions", "flickr30k", b"\x03image_name| comment_number| comment\n1.jpg| 0| Two men .\n1.jpg| 1| A man\n")
put("captions", "auto_csv_bom", b"\x00\xef\xbb\xbfimage,caption\nx.png,caf\xc3\xa9\n")

# ---- labels: byte 0 bit 0 = an image root given
put("labels", "plain", b"\x00image,label\na.png,cat\nb.png,dog\nc.png,cat\n")
put("labels", "quoted", b"\x01\"a,b.png\",\"big \"\"dog\"\"\"\nx/y.jpg,cat\n")
put("labels", "commas", b"\x00\xef\xbb\xbfsome,path,with,commas.png,label\n\n")
put("labels", "bad", b"\x00image,label\n\"unterminated,cat\n")

# ---- vecfile: the file itself
def vecfile(n, dim, gen=7, data_off=64, bad_size=0):
    ids_off = (data_off + 4 * n * dim + 7) // 8 * 8  # aligned for the int64 ids
    hdr = b"CLIPCVEC" + struct.pack("<IIQQQQ", 1, dim, n, gen, data_off, ids_off) + b"\0" * 16
    body = b"".join(struct.pack("<f", ((i * 7 + d) % 5) / 5.0) for i in range(n) for d in range(dim))
    body += b"\0" * (ids_off - data_off - 4 * n * dim)
    ids = b"".join(struct.pack("<q", 100 + i) for i in range(n))
    out = hdr + body + ids
    return out[:len(out) - bad_size] if bad_size else out

put("vecfile", "valid_3x4", vecfile(3, 4))
put("vecfile", "valid_1x1", vecfile(1, 1))
put("vecfile", "valid_3x3", vecfile(3, 3))
put("vecfile", "truncated", vecfile(5, 8, bad_size=9))
put("vecfile", "bad_offset", vecfile(2, 2, data_off=4096))

# ---- vec8: the int8 copy beside it (src/formats/vec8.h)
def vec8(n, dim, gen=7, stride=None, sc_off=None, bad_size=0):
    stride = stride if stride is not None else (dim + 63) // 64 * 64
    sc = sc_off if sc_off is not None else 64 + n * stride
    hdr = b"CLIPCV8\0" + struct.pack("<IIQQIIQ", 1, dim, n, gen, stride, 0, sc) + b"\0" * 16
    rows = b"".join(bytes(((i * 7 + d) % 255 - 127) & 255 if d < dim else 0 for d in range(stride))
                    for i in range(n))
    scales = b"".join(struct.pack("<f", 0.01 * (i + 1)) for i in range(n))
    out = hdr + rows + scales
    return out[:len(out) - bad_size] if bad_size else out

put("vec8", "valid_3x4", vec8(3, 4))
put("vec8", "valid_1x1", vec8(1, 1))
put("vec8", "valid_2x65", vec8(2, 65))
put("vec8", "truncated", vec8(5, 8, bad_size=3))
put("vec8", "bad_stride", vec8(2, 4, stride=4))
put("vec8", "bad_scales_offset", vec8(2, 4, sc_off=64))

# ---- config: safetensors header JSON [+ NUL + config.json]; 4096 zero bytes of data follow
def tiny_model(w=4, patch=2, grid=2, tw=4, ctx=5, vocab=7, embed=3, meta=None, layers=1):
    t = [("visual.conv1.weight", "F32", [w, 3, patch, patch]),
         ("visual.positional_embedding", "F32", [grid * grid + 1, w]),
         ("text_projection", "F32", [tw, embed]),
         ("positional_embedding", "F32", [ctx, tw]),
         ("token_embedding.weight", "F32", [vocab, tw])]
    for l in range(layers):
        t.append((f"visual.transformer.resblocks.{l}.attn.in_proj_weight", "F32", [3 * w, w]))
        t.append((f"transformer.resblocks.{l}.attn.in_proj_weight", "F32", [3 * tw, tw]))
    tensors = []
    for name, dt, shape in t:
        n = 1
        for s in shape:
            n *= s
        tensors.append((name, dt, shape, b"\0" * (4 * n)))
    hdr, blob = safetensors(tensors, meta)
    assert len(blob) <= 4096, len(blob)
    return hdr

put("config", "no_meta", tiny_model())
put("config", "meta_heads", tiny_model(meta={"vision_heads": "2", "transformer_heads": "1", "act": "gelu",
                                             "embed_dim": "3"}))
put("config", "config_json", tiny_model() + b"\0" + json.dumps({"vision_heads": 4, "transformer_heads": 2}).encode())
put("config", "bad_heads", tiny_model(meta={"vision_heads": "3"}))
put("config", "resnet", tiny_model(meta={"vision_layers": "[2, 1, 1, 1]"}))

# ---- checkpoint: byte 0 % 3 = 0 options JSON, 1 state.safetensors, 2 the `last` pointer
opts = {"data": "/data/x.csv", "batch_size": 16, "epochs": 2, "lr": 0.001, "seed": "42", "schedule": "cosine",
        "warmup": 10, "beta1": 0.9, "beta2": 0.98, "eps": 1e-6, "steps": 0, "minutes": 0, "freeze": None}
put("checkpoint", "options", b"\x00" + json.dumps(opts).encode())
put("checkpoint", "crash-options-float-to-int", b"\x00" + b'{"epochs": 1e300, "batch_size": -1e30, "accum": 3e9, "steps": 1e20}')
i64 = struct.pack("<12q", 12, 1, 12, 24, 0, 1, 1, 12, 5, 0, 6, 0)
f64 = struct.pack("<8d", 0.5, 0.4, 1.0, 2.5, 0, 0, 0, 0)
hdr, blob = safetensors([("adam.m", "F32", [2], b"\0" * 8), ("adam.v", "F32", [2], b"\0" * 8),
                         ("loader.state", "I64", [8], b"\0" * 64), ("run.f64", "F64", [8], f64),
                         ("run.i64", "I64", [12], i64)], {"options": json.dumps(opts)})
state = struct.pack("<Q", len(hdr)) + hdr + blob
put("checkpoint", "state", b"\x01" + state)
put("checkpoint", "state_mistyped", b"\x01" + state.replace(b'"run.i64":{"dtype":"I64"', b'"run.i64":{"dtype":"F64"'))
put("checkpoint", "pointer", b"\x02ckpt-12\n")
put("checkpoint", "pointer_escape", b"\x02../../etc\n")

# ---- decode: byte 0 = preprocessing size (8 + b % 32) and name; the rest is the image
for name, first in [("bilevel_30x22.png", 0x85), ("grey_20x30.jpg", 0x10), ("exif6_24x16.jpg", 0x03),
                    ("grey4_13x9.png", 0x9f)]:
    with open(f"tests/data/images/{name}", "rb") as f:
        img = f.read()
    put("decode", name.split(".")[0], bytes([first]) + img)
with open("tests/data/images/grey_20x30.jpg", "rb") as f:
    put("decode", "truncated_jpeg", b"\x11" + f.read()[:300])

# ---- options: byte 0 bit 0 = stop at the first positional, bit 1 = positionals accepted; NUL-separated args
def args(flags, *a):
    return bytes([flags]) + b"\0".join(x.encode() for x in a)

put("options", "mixed", args(2, "--top", "3", "--flag", "--lr=1e-3", "pos", "--text", "a", "--text=b"))
put("options", "stop", args(3, "--threads", "4", "sub", "--top", "x"))
put("options", "errors", args(0, "--top=0", "--seed", "-7", "--u", "18446744073709551615", "--steps=-1"))
put("options", "custom", args(2, "--custom", "bad", "--out", "o", "--flag=1"))
put("options", "missing_value", args(0, "--lr"))

# ---- tokenizer: the text
put("tokenizer", "plain", "a photo of a cat.")
put("tokenizer", "html_unicode", "Caf\u00e9 &amp; na\u00efve \u3053\u3093\u306b\u3061\u306f  don't  \U0001F600")
put("tokenizer", "invalid_utf8", b"abc \xff\xfe \xc3( end")
