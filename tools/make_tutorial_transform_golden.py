#!/usr/bin/python3
"""make_tutorial_transform_golden.py -- what seed 002's image pipeline makes
of test images, for the tutorial model's preprocessing test
(tests/test_tutorial_transform.c).

Seed 002 opens each image with Image.open(path).convert("RGB") (its
Flickr8kCaptions dataset) and applies timm's eval transform for resnet50
(timm.data.resolve_model_data_config + create_transform(is_training=False)):
    Resize(floor(size / crop_pct), BICUBIC)  crop_pct 0.95, the short side
    CenterCrop(size)
    ToTensor()
    Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
timm is not a Debian package; its transform is these four torchvision
transforms, written out here with Debian's python3-torchvision and Pillow.

Run from the repository root:
    /usr/bin/python3 tools/make_tutorial_transform_golden.py
Writes tests/data/goldens/tutorial_transform.safetensors: for each image
file F (from tests/data/images) F.pixels, F32 [3, 32, 32].
"""
import json
import math
import os
import struct

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

OUT = "tests/data/goldens/tutorial_transform.safetensors"
IMAGES = "tests/data/images"
SIZE, CROP_PCT = 32, 0.95  # tutorial-tiny's 32 px; floor(32 / 0.95) = 33
FILES = ["rgb_53x37.png", "rgb_97x61.png", "rgb_11x7.png", "grey_29x41.png", "pal_40x30.png", "rgba_45x31.png",
         "la_33x50.png", "cmyk_26x18.jpg", "ycc420_37x23.jpg", "rgb_1x40.png"]


def write_st(path, tensors, meta):
    keys = sorted(tensors)
    head, off, blobs = {"__metadata__": meta}, 0, []
    for k in keys:
        a = np.ascontiguousarray(tensors[k], dtype=np.float32)
        b = a.tobytes()
        head[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def main():
    tf = transforms.Compose([
        transforms.Resize(math.floor(SIZE / CROP_PCT), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(SIZE),
        transforms.ToTensor(),
        transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])
    out = {}
    for name in FILES:
        im = Image.open(os.path.join(IMAGES, name)).convert("RGB")
        x = tf(im)
        assert x.dtype == torch.float32 and tuple(x.shape) == (3, SIZE, SIZE)
        out[name + ".pixels"] = x.numpy()
    write_st(OUT, out, {"source": "tools/make_tutorial_transform_golden.py", "torch": torch.__version__,
                        "size": str(SIZE), "resize": str(math.floor(SIZE / CROP_PCT))})
    print(f"{OUT}: {len(FILES)} images")


if __name__ == "__main__":
    main()
