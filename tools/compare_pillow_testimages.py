#!/usr/bin/python3
"""Compares clipc with Pillow + OpenAI's preprocessing on a folder of images
(made for Pillow's own Tests/images: the result is listed in docs/using.md).

  make build/dump_preprocessed
  /usr/bin/python3 tools/compare_pillow_testimages.py PILLOW/Tests/images SCRATCH_DIR

For every image file under the folder: Image.open(f).convert("RGB") against
clipc's decoding, and torchvision's Resize(224, BICUBIC) + CenterCrop(224) +
convert("RGB") (OpenAI's _transform before ToTensor) against clipc's
preprocessed crop.  Prints each file that is not exact, by category.
Pillow's decompression-bomb limit stays on (some test files are bombs).
"""
import collections
import os
import subprocess
import sys
import warnings

import numpy as np
import torchvision.transforms as T
from PIL import Image

EXTS = (".webp", ".tif", ".tiff", ".gif", ".bmp", ".png", ".jpg", ".jpeg", ".avif", ".heic", ".heif")


def main():
    root, scratch = sys.argv[1], sys.argv[2]
    helper = os.path.join(os.path.dirname(__file__), "..", "build", "dump_preprocessed")
    warnings.simplefilter("ignore")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.lower().endswith(EXTS))
    res = {}
    for k in range(0, len(files), 100):
        chunk, od = files[k:k + 100], os.path.join(scratch, str(k))
        os.makedirs(od, exist_ok=True)
        r = subprocess.run([helper, od] + chunk, capture_output=True, text=True, errors="replace", timeout=600)
        if r.returncode or r.stderr:
            print("helper:", r.returncode, r.stderr[-500:])
        for line in r.stdout.splitlines():
            i, st, rest = line.split(" ", 2)
            res[chunk[int(i)]] = (st, rest, os.path.join(od, i))
    tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224)])
    cats = collections.defaultdict(list)
    for f in files:
        rel = os.path.relpath(f, root)
        st, rest, base = res.get(f, ("CRASH", "", ""))
        try:
            im = Image.open(f)
            mode, rgb, perr = im.mode, np.asarray(im.convert("RGB")), None
        except Exception as e:  # noqa: BLE001 (any failure is a category)
            mode, perr = None, f"{type(e).__name__}: {e}"[:100]
        if perr:
            cats["both refuse" if st == "ERR" else "Pillow refuses, clipc reads"].append((rel, perr))
            continue
        if st not in ("OK", "PERR"):
            cats["clipc refuses, Pillow reads"].append((rel, mode, rest[rest.find(": ") + 2:][:100]))
            continue
        w, h = map(int, rest.split()[:2])
        c = np.fromfile(base + ".rgb", np.uint8)
        if rgb.shape != (h, w, 3) or c.size != h * w * 3:
            cats["decoded size differs"].append((rel, mode, rgb.shape, (h, w)))
            continue
        diff = np.abs(c.reshape(h, w, 3).astype(int) - rgb.astype(int))
        if diff.max():
            cats["decoding differs"].append((rel, mode, int(diff.max()), round(float((diff > 0).mean()), 4)))
            continue
        try:
            ref = np.asarray(tf(Image.open(f)).convert("RGB"))
        except Exception as e:  # noqa: BLE001
            cats["decoding exact, OpenAI's preprocessing fails in Pillow"].append((rel, mode, str(e)[:60]))
            continue
        if st == "PERR":
            cats["decoding exact, clipc's preprocessing refuses"].append((rel, mode, rest[:80]))
            continue
        crop = np.fromfile(base + ".crop", np.uint8).reshape(224, 224, 3)
        d = int(np.abs(crop.astype(int) - ref.astype(int)).max())
        cats["decoding exact, preprocessed crop differs" if d else "exact"].append((rel, mode, d))
    print(f"{len(files)} files")
    for k, v in sorted(cats.items()):
        print(f"== {k}: {len(v)}")
        if k != "exact":
            for x in v:
                print("   ", x)
    print("exact by Pillow mode:", dict(collections.Counter(m for _, m, _ in cats["exact"])))


if __name__ == "__main__":
    main()
