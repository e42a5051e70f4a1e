#!/usr/bin/env python3
"""tools/int8_quality.py — int8 against float32 on a trained emoji model: the cosine of
every image and caption embedding (int8 vs f32), and Recall@1/10 both ways from
`clipc eval`, for the same model and data in both precisions.

    /usr/bin/python3 tools/int8_quality.py --model out/demo/model.safetensors
    /usr/bin/python3 tools/int8_quality.py --train-minutes 2     # trains one first (recipe emoji)

Data: data/emoji-mini (committed); the split scored is val,test (the Noto images, an art
style never trained on).  Needs build/clipc and numpy.  Dev tool only: nothing in clipc
needs Python.  Prints a table, and the figures as one JSON line (--json FILE also writes it).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIPC = os.path.join(REPO, "build", "clipc")
DATA = os.path.join(REPO, "data", "emoji-mini", "dataset_emoji.json")


def run(args):
    r = subprocess.run([CLIPC] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit("clipc %s failed (%d): %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        body = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(body[a:b], dtype=np.float32).reshape(v["shape"])
    return out


def cosines(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a trained model (default: train one with --train-minutes)")
    ap.add_argument("--train-minutes", type=float, default=2.0)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--split", default="val,test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="int8q")
    model = a.model
    if not model:
        run_dir = os.path.join(tmp, "run")
        print("training %.1f minutes (recipe emoji) ..." % a.train_minutes, file=sys.stderr)
        run(["train", "--recipe", "emoji", "--data", a.data, "--train-split", "train", "--val-split", "val",
             "--out", run_dir, "--minutes", str(a.train_minutes), "--threads", str(a.threads)])
        with open(os.path.join(run_dir, "last")) as f:
            model = os.path.join(run_dir, f.read().strip(), "model.safetensors")
    with open(a.data) as f:
        ds = json.load(f)
    root = os.path.dirname(os.path.abspath(a.data))
    splits = set(a.split.split(","))
    imgs = [e for e in ds["images"] if e["split"] in splits]
    lst = os.path.join(tmp, "images.txt")
    with open(lst, "w") as f:
        for e in imgs:
            f.write(os.path.join(root, e["filename"]) + "\n")
    caps = sorted({s["raw"] for e in imgs for s in e["sentences"]})
    res = {"model": model, "split": a.split, "images": len(imgs), "captions": len(caps)}
    emb = {}
    for p in ("f32", "int8"):
        out_i = os.path.join(tmp, "img_%s.npy" % p)
        out_t = os.path.join(tmp, "txt_%s.safetensors" % p)
        run(["encode", "--model", model, "--list", lst, "--out", out_i, "--precision", p,
             "--threads", str(a.threads)])
        targs = ["encode", "--model", model, "--format", "safetensors", "--out", out_t, "--precision", p,
                 "--threads", str(a.threads)]
        for c in caps:
            targs += ["--text", c]
        run(targs)
        emb[p] = (np.load(out_i), read_safetensors(out_t)["text_embeds"])
        ev = json.loads(run(["eval", "--model", model, "--data", a.data, "--split", a.split, "--precision", p,
                             "--json", "--threads", str(a.threads)]))
        for d in ("i2t", "t2i"):
            for k in ("R@1", "R@10"):
                res["%s_%s_%s" % (p, d, k)] = 100 * ev[d][k]
    ci = cosines(emb["f32"][0], emb["int8"][0])
    ct = cosines(emb["f32"][1], emb["int8"][1])
    res.update(img_cos_min=float(ci.min()), img_cos_mean=float(ci.mean()),
               txt_cos_min=float(ct.min()), txt_cos_mean=float(ct.mean()))
    print("model %s, split %s: %d images, %d captions" % (model, a.split, len(imgs), len(caps)))
    print("cosine int8 vs f32: images min %.5f mean %.5f; captions min %.5f mean %.5f"
          % (ci.min(), ci.mean(), ct.min(), ct.mean()))
    print("%-6s %8s %8s %8s %8s" % ("", "i2t R@1", "i2t R@10", "t2i R@1", "t2i R@10"))
    for p in ("f32", "int8"):
        print("%-6s %8.2f %8.2f %8.2f %8.2f" % (p, res[p + "_i2t_R@1"], res[p + "_i2t_R@10"], res[p + "_t2i_R@1"],
                                               res[p + "_t2i_R@10"]))
    line = json.dumps(res)
    print("RESULT " + line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
