#!/usr/bin/python3
"""Generates tests/data/images/: small PNG/JPEG files and what Pillow 9.4 +
OpenAI's _transform(n) make of them (expected.safetensors), for
tests/test_image.c.  Reference data only: clipc never runs Python.

Run from the repository root with Debian's python3-pil (Pillow 9.4.0):
    /usr/bin/python3 tools/gen_image_testdata.py

For each image file F the output holds
    F.decoded  U8 [H, W, C]  what clipc_image_load must return
    F.rgb_u8   U8 [n, n, 3]  OpenAI transform before normalisation (n from the shape)
    F.pixels   F32 [3, n, n] after normalisation (numpy float32, same ops as torch)
    F.resized  U8 [h, w, C]  (some files) Image.resize((w, h), BICUBIC) directly
EXIF-rotated JPEGs are compared after ImageOps.exif_transpose (clipc applies
the orientation; OpenAI's code does not).
"""
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = "tests/data/images"
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
rng = np.random.default_rng(1234)
tensors = {}


def smooth(h, w, c):
    """Smooth random content (gradients + blobs + a little noise) so that
    resampling errors show up as real differences."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, c))
    for k in range(c):
        a, b, p = rng.uniform(0.05, 0.5, 3)
        out[..., k] = 127 + 100 * np.sin(a * x + p) * np.cos(b * y - p)
    out += rng.normal(0, 12, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def transform(im, n):
    """OpenAI clip._transform(n) with Pillow (torchvision semantics)."""
    w, h = im.size
    if w <= h:
        size = (n, int(n * h / w))
    else:
        size = (int(n * w / h), n)
    if size != im.size:
        im = im.resize(size, Image.BICUBIC)
    w, h = im.size
    left, top = int(round((w - n) / 2.0)), int(round((h - n) / 2.0))
    im = im.crop((left, top, left + n, top + n)).convert("RGB")
    u8 = np.asarray(im, np.uint8)
    x = u8.astype(np.float32) / np.float32(255)
    x = (x - MEAN) / STD
    return u8, np.ascontiguousarray(x.transpose(2, 0, 1).astype(np.float32))


def add(fname, n, decoded, im=None, resize_to=None):
    path = os.path.join(OUT, fname)
    if im is None:
        im = Image.open(path)
        if fname.endswith(".jpg"):
            im = ImageOps.exif_transpose(im)
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    tensors[fname + ".decoded"] = decoded
    u8, px = transform(im, n)
    tensors[fname + ".rgb_u8"] = u8
    tensors[fname + ".pixels"] = px
    if resize_to:
        r = np.asarray(im.resize(resize_to, Image.BICUBIC))
        tensors[fname + ".resized"] = r[..., None] if r.ndim == 2 else r


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def write_png(path, w, h, depth, ctype, raw_rows, extra=b""):
    """A minimal PNG writer for what Pillow cannot save (16-bit RGB/GA/RGBA,
    2/4-bit grey)."""
    data = b"".join(b"\0" + r for r in raw_rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
                png_chunk(b"IDAT", zlib.compress(data)) + png_chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    # RGB, downscale by non-integer factors; also one-direction resizes.
    a = smooth(37, 53, 3)
    Image.fromarray(a).save(f"{OUT}/rgb_53x37.png")
    add("rgb_53x37.png", 16, a, resize_to=(53, 20))
    # RGB upscale.
    a = smooth(7, 11, 3)
    Image.fromarray(a).save(f"{OUT}/rgb_11x7.png")
    add("rgb_11x7.png", 24, a, resize_to=(30, 7))
    # 1 pixel wide / high.
    a = smooth(40, 1, 3)
    Image.fromarray(a).save(f"{OUT}/rgb_1x40.png")
    add("rgb_1x40.png", 8, a)
    a = smooth(1, 33, 3)
    Image.fromarray(a).save(f"{OUT}/rgb_33x1.png")
    add("rgb_33x1.png", 5, a)
    # Crop offset with a .5 (round half to even) and a large downscale.
    a = smooth(61, 97, 3)
    Image.fromarray(a).save(f"{OUT}/rgb_97x61.png")
    add("rgb_97x61.png", 9, a)
    # Grey L.
    a = smooth(41, 29, 1)[..., 0]
    Image.fromarray(a, "L").save(f"{OUT}/grey_29x41.png")
    add("grey_29x41.png", 16, a, resize_to=(29, 50))
    # RGBA with alpha from 0 to 255 (incl. exact 0 and 255 regions).
    a = smooth(31, 45, 4)
    a[..., 3] = np.clip(np.linspace(-40, 300, 45)[None, :] + rng.normal(0, 20, (31, 45)), 0, 255)
    Image.fromarray(a, "RGBA").save(f"{OUT}/rgba_45x31.png")
    add("rgba_45x31.png", 16, a, resize_to=(20, 31))
    # RGBA of the output size: no resize, alpha just dropped.
    a = smooth(20, 16, 4)
    Image.fromarray(a, "RGBA").save(f"{OUT}/rgba_16x20.png")
    add("rgba_16x20.png", 16, a)
    # Grey + alpha.
    a = smooth(50, 33, 2)
    a[:10, :, 1] = 0
    Image.fromarray(a, "LA").save(f"{OUT}/la_33x50.png")
    add("la_33x50.png", 20, a)
    # Palette (NEAREST in Pillow's resize).
    rgb = Image.fromarray(smooth(30, 40, 3))
    p = rgb.quantize(colors=37, method=Image.Quantize.MEDIANCUT)
    p.save(f"{OUT}/pal_40x30.png")
    add("pal_40x30.png", 16, np.asarray(p.convert("RGB")))
    # Palette with tRNS, upscaled.
    p = Image.fromarray(smooth(13, 17, 3)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    p.save(f"{OUT}/pal_trns_17x13.png", transparency=bytes(range(0, 256, 16)))
    im = Image.open(f"{OUT}/pal_trns_17x13.png")
    assert im.mode == "P" and "transparency" in im.info
    add("pal_trns_17x13.png", 28, np.asarray(im.convert("RGBA")))
    # Bilevel "1" (NEAREST too).
    b = Image.fromarray(smooth(22, 30, 1)[..., 0], "L").convert("1")
    b.save(f"{OUT}/bilevel_30x22.png")
    assert Image.open(f"{OUT}/bilevel_30x22.png").mode == "1"
    add("bilevel_30x22.png", 10, np.asarray(b.convert("L")))
    # 16-bit RGB / GA / RGBA and 2/4-bit grey: hand-written PNGs.
    a16 = (smooth(19, 23, 3).astype(np.uint16) * 257 + rng.integers(0, 256, (19, 23, 3))).astype(">u2")
    write_png(f"{OUT}/rgb16_23x19.png", 23, 19, 16, 2, [r.tobytes() for r in a16])
    im = Image.open(f"{OUT}/rgb16_23x19.png")
    assert im.mode == "RGB"
    add("rgb16_23x19.png", 12, np.asarray(im))
    a16 = (smooth(21, 18, 2).astype(np.uint16) * 257).astype(">u2")
    write_png(f"{OUT}/ga16_18x21.png", 18, 21, 16, 4, [r.tobytes() for r in a16])
    im = Image.open(f"{OUT}/ga16_18x21.png")
    assert im.mode == "RGBA"  # Pillow 9.4: "LA;16B" -> RGBA
    add("ga16_18x21.png", 12, np.asarray(im)[..., [0, 3]])
    a16 = (smooth(15, 26, 4).astype(np.uint16) * 257 + 255).astype(">u2")
    write_png(f"{OUT}/rgba16_26x15.png", 26, 15, 16, 6, [r.tobytes() for r in a16])
    add("rgba16_26x15.png", 10, np.asarray(Image.open(f"{OUT}/rgba16_26x15.png")))
    g = smooth(9, 12, 1)[..., 0] >> 6  # 2-bit
    rows = [bytes(np.packbits(np.unpackbits(r[:, None].astype(np.uint8), axis=1)[:, 6:].reshape(-1)))
            for r in g]
    write_png(f"{OUT}/grey2_12x9.png", 12, 9, 2, 0, rows)
    add("grey2_12x9.png", 7, np.asarray(Image.open(f"{OUT}/grey2_12x9.png")))
    g = smooth(9, 13, 1)[..., 0] >> 4  # 4-bit, odd width
    rows = [bytes(np.packbits(np.unpackbits(r[:, None].astype(np.uint8), axis=1)[:, 4:].reshape(-1)))
            for r in g]
    write_png(f"{OUT}/grey4_13x9.png", 13, 9, 4, 0, rows)
    add("grey4_13x9.png", 7, np.asarray(Image.open(f"{OUT}/grey4_13x9.png")))
    # 16-bit grey: refused by clipc (no expectations).
    write_png(f"{OUT}/grey16_8x8.png", 8, 8, 16, 0, [bytes(16)] * 8)

    # JPEGs.
    a = smooth(23, 37, 3)
    Image.fromarray(a).save(f"{OUT}/ycc420_37x23.jpg", quality=85, subsampling=2)
    add("ycc420_37x23.jpg", 16, np.asarray(Image.open(f"{OUT}/ycc420_37x23.jpg")))
    Image.fromarray(a).save(f"{OUT}/ycc444_prog_37x23.jpg", quality=92, subsampling=0,
                            progressive=True)
    add("ycc444_prog_37x23.jpg", 16, np.asarray(Image.open(f"{OUT}/ycc444_prog_37x23.jpg")))
    Image.fromarray(smooth(30, 20, 1)[..., 0], "L").save(f"{OUT}/grey_20x30.jpg", quality=90)
    add("grey_20x30.jpg", 12, np.asarray(Image.open(f"{OUT}/grey_20x30.jpg")))
    Image.fromarray(smooth(18, 26, 4), "CMYK").save(f"{OUT}/cmyk_26x18.jpg", quality=90)
    im = Image.open(f"{OUT}/cmyk_26x18.jpg")
    assert im.mode == "CMYK"
    # clipc converts CMYK to RGB while decoding; Pillow resizes in CMYK and
    # converts after the crop.  Expect exactness only without a resize (n = 18).
    add("cmyk_26x18.jpg", 18, np.asarray(im.convert("RGB")))
    # EXIF orientations 1..8 on a non-square image.
    a = smooth(16, 24, 3)
    base = Image.fromarray(a)
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        fn = f"exif{o}_24x16.jpg"
        base.save(f"{OUT}/{fn}", quality=95, exif=ex.tobytes())
        im = ImageOps.exif_transpose(Image.open(f"{OUT}/{fn}"))
        add(fn, 12, np.asarray(im))

    write_safetensors(f"{OUT}/expected.safetensors", tensors)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total} bytes")


def write_safetensors(path, ts):
    dt = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}
    hdr, blobs, off = {}, [], 0
    for k in sorted(ts):
        a = np.ascontiguousarray(ts[k])
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        hdr[k] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hdr["__metadata__"] = {"generator": "tools/gen_image_testdata.py", "pillow": Image.__version__}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main()
