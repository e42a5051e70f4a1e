#!/usr/bin/python3
"""Makes tests/data/imgfmt/: small images in each format and mode clipc decodes,
with the RGB pixels Debian's Pillow 9.4 gives for them.

Run with Debian's /usr/bin/python3 (python3-pil 9.4, built with libwebp,
libtiff, giflib-free GIF code, its own BMP reader) and libheif (through
ctypes: Pillow cannot open HEIC/AVIF here, so their reference is libheif's
own decoding of the file, which is what clipc calls too).

  /usr/bin/python3 tools/make_image_goldens.py tests/data/imgfmt

Writes, for each case NAME:
  NAME.EXT              the image file (made by Pillow, by hand for the
                        layouts Pillow does not write, by libheif for HEIF)
  expected/NAME.png     Image.open(NAME.EXT).convert("RGB") (8-bit RGB PNG)
  manifest.txt          one line per case: file, Pillow's mode after open
                        (or "heif"), width, height
The committed files are the test data of tests/test_image_formats.c.
"""
import ctypes
import io
import os
import random
import struct
import sys
import zlib

from PIL import Image

W, H = 17, 11


def base_rgb(seed=1):
    rng = random.Random(seed)
    im = Image.new("RGB", (W, H))
    im.putdata([((x * 15 + rng.randrange(40)) % 256, (y * 23 + rng.randrange(40)) % 256,
                 (x * y * 3 + rng.randrange(60)) % 256) for y in range(H) for x in range(W)])
    return im


def base_rgba(seed=2):
    im = base_rgb(seed).convert("RGBA")
    im.putalpha(Image.frombytes("L", (W, H), bytes((x * 16 + y * 7) % 256 for y in range(H) for x in range(W))))
    return im


def base_l(seed=3):
    return base_rgb(seed).convert("L")


# ------------------------------------------------------------------ BMP by hand

def bmp(pixels_rows, bits, w, h, palette=None, header=40, compression=0, masks=None, topdown=False,
        pal_entry=4, colors_used=0):
    """A BMP file from already-packed rows (top row first)."""
    stride = ((w * bits + 31) >> 3) & ~3
    rows = [r + b"\0" * (stride - len(r)) for r in pixels_rows]
    if not topdown:
        rows = rows[::-1]
    data = b"".join(rows)
    pal = b""
    if palette:
        pal = b"".join(bytes((b, g, r)) + (b"\0" if pal_entry == 4 else b"") for r, g, b in palette)
    extra = b""
    if header == 12:
        hdr = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        hdr = struct.pack("<IiiHHIIiiII", header, w, -h if topdown else h, 1, bits, compression,
                          len(data), 2835, 2835, colors_used, 0)
        if header > 40:
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            hdr += struct.pack("<IIII", *m[:4])
            hdr += b"\0" * (header - len(hdr))
        elif masks:
            extra = struct.pack("<III", *masks[:3])
    off = 14 + len(hdr) + len(extra) + len(pal)
    return b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + hdr + extra + pal + data


def pack_bits(vals, bits):
    out, acc, n = bytearray(), 0, 0
    for v in vals:
        acc = (acc << bits) | v
        n += bits
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def bmp_cases():
    rgb = base_rgb(5)
    px = list(rgb.getdata())
    rows = lambda f: [b"".join(f(px[y * W + x]) for x in range(W)) for y in range(H)]
    rng = random.Random(7)
    c = {}
    c["bmp_rgb24"] = rgb  # Pillow writes these
    c["bmp_l8"] = base_l(6)
    c["bmp_p8"] = rgb.quantize(50)
    c["bmp_bilevel"] = base_l(8).point(lambda v: 255 if v > 120 else 0).convert("1")
    c["bmp_rgba32"] = base_rgba(9)  # written BI_RGB 32-bit: Pillow reads it back RGB
    # By hand: layouts Pillow reads but does not write.
    c["bmp_topdown24"] = bmp(rows(lambda p: bytes((p[2], p[1], p[0]))), 24, W, H, topdown=True)
    c["bmp_rgb555"] = bmp(rows(lambda p: struct.pack("<H", (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | p[2] >> 3)),
                          16, W, H)
    c["bmp_bf565"] = bmp(rows(lambda p: struct.pack("<H", (p[0] >> 3) << 11 | (p[1] >> 2) << 5 | p[2] >> 3)),
                         16, W, H, compression=3, masks=(0xF800, 0x7E0, 0x1F))
    c["bmp_bf555_v5"] = bmp(rows(lambda p: struct.pack("<H", (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | p[2] >> 3)),
                            16, W, H, header=124, compression=3, masks=(0x7C00, 0x3E0, 0x1F, 0))
    c["bmp_bgrx_junk"] = bmp(rows(lambda p: bytes((p[2], p[1], p[0], rng.randrange(256)))), 32, W, H)
    c["bmp_bf_bgra_v4"] = bmp(rows(lambda p: bytes((p[2], p[1], p[0], (p[0] * 7) % 256))), 32, W, H, header=108,
                              compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
    c["bmp_bf_xbgr"] = bmp(rows(lambda p: bytes((0, p[2], p[1], p[0]))), 32, W, H, compression=3,
                           masks=(0xFF000000, 0xFF0000, 0xFF00))
    pal16 = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16)]
    idx = [[(x * 3 + y * 5 + rng.randrange(3)) % 16 for x in range(W)] for y in range(H)]
    c["bmp_p4"] = bmp([pack_bits(r, 4) for r in idx], 4, W, H, palette=pal16)
    pal12 = pal16[:12]  # clrUsed 12: indices 12..15 are past the palette
    c["bmp_p4_short_pal"] = bmp([pack_bits(r, 4) for r in idx], 4, W, H, palette=pal12, colors_used=12)
    pal2 = [(200, 30, 40), (10, 220, 90)]
    c["bmp_p1_colour"] = bmp([pack_bits([(x + y) % 2 ^ (x // 5) % 2 for x in range(W)], 1) for y in range(H)],
                             1, W, H, palette=pal2)
    c["bmp_os2_p8"] = bmp([bytes(r) for r in ([(v * 13) % 256 for v in rr] for rr in idx)], 8, W, H,
                          palette=[(i, 255 - i, (i * 5) % 256) for i in range(256)], header=12, pal_entry=3)
    return c


# ------------------------------------------------------------------ PNG 16 by hand

def png16(mode_ct, samples_rows, w, h, channels):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + b"".join(struct.pack(">%dH" % channels, *s) for s in r) for r in samples_rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, mode_ct, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png16_cases():
    rng = random.Random(11)
    g = [[((rng.randrange(600) if (x + y) % 3 else rng.randrange(65536)),) for x in range(W)] for y in range(H)]
    return {"png_grey16": png16(0, g, W, H, 1)}


# ------------------------------------------------------------------ TIFF by hand

def tiff_le(w, h, spp, bps, photometric, samples, tile=None, planar=False):
    """Uncompressed little-endian TIFF from samples (row-major, chunky); one
    strip (one per sample when planar), or tile x tile tiles (edge tiles
    padded)."""
    fmt = "<%dH" % (w * h * spp) if bps == 16 else None
    data = struct.pack(fmt, *samples) if fmt else bytes(samples)
    pb = spp * bps // 8
    chunks = []
    if tile:
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                t = bytearray(tile * tile * pb)
                for y in range(min(tile, h - y0)):
                    n = min(tile, w - x0) * pb
                    src = ((y0 + y) * w + x0) * pb
                    t[y * tile * pb:y * tile * pb + n] = data[src:src + n]
                chunks.append(bytes(t))
    elif planar:
        b = bps // 8
        chunks = [b"".join(data[(i * spp + c) * b:(i * spp + c + 1) * b] for i in range(w * h)) for c in range(spp)]
    else:
        chunks = [data]
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, spp, None), (259, 3, 1, 1), (262, 3, 1, photometric),
               (277, 3, 1, spp), (284, 3, 1, 2 if planar else 1)]
    if tile:
        entries += [(322, 3, 1, tile), (323, 3, 1, tile), (324, 4, len(chunks), None), (325, 4, len(chunks), None)]
    else:
        entries += [(273, 4, len(chunks), None), (278, 4, 1, h), (279, 4, len(chunks), None)]
    entries.sort()
    ifd_off = 8
    extra_off = ifd_off + 2 + 12 * len(entries) + 4
    bps_off = extra_off
    extra = struct.pack("<%dH" % spp, *([bps] * spp))
    offs_off = bps_off + len(extra)
    data_off = offs_off + 8 * len(chunks)
    offsets, pos = [], data_off
    for c in chunks:
        offsets.append(pos)
        pos += len(c)
    extra += struct.pack("<%dI" % len(chunks), *offsets) + struct.pack("<%dI" % len(chunks), *map(len, chunks))
    ifd = struct.pack("<H", len(entries))
    for tag, typ, cnt, val in entries:
        if tag == 258:
            v = struct.pack("<I", bps_off) if spp > 2 else struct.pack("<HH", bps, bps if spp == 2 else 0)
        elif tag in (273, 324):
            v = struct.pack("<I", offs_off if len(chunks) > 1 else offsets[0])
        elif tag in (279, 325):
            v = struct.pack("<I", offs_off + 4 * len(chunks) if len(chunks) > 1 else len(chunks[0]))
        elif typ == 3:
            v = struct.pack("<HH", val, 0)
        else:
            v = struct.pack("<I", val)
        ifd += struct.pack("<HHI", tag, typ, cnt) + v
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", ifd_off) + ifd + extra + b"".join(chunks)


def tiff_cases():
    rng = random.Random(13)
    rgb16 = [rng.randrange(65536) for _ in range(W * H * 3)]
    rgb = list(base_rgb(14).tobytes())
    return {"tiff_rgb16": tiff_le(W, H, 3, 16, 2, rgb16), "tiff_tiled": tiff_le(W, H, 3, 8, 2, rgb, tile=16),
            # (no planar 16-bit case: Pillow 9.4 reads uncompressed planar 16-bit
            # samples as two 8-bit ones, a Pillow bug clipc does not copy)
            "tiff_planar_rgb8": tiff_le(W, H, 3, 8, 2, rgb, planar=True)}


# ------------------------------------------------------------------ HEIF via libheif

class HeifError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


def heif_lib():
    lib = ctypes.CDLL("libheif.so.1")
    for f in ("heif_context_get_encoder_for_format", "heif_image_create", "heif_image_add_plane",
              "heif_context_encode_image", "heif_context_write_to_file", "heif_encoder_set_lossy_quality",
              "heif_context_read_from_file", "heif_context_get_primary_image_handle", "heif_decode_image",
              "heif_encoder_set_lossless"):
        getattr(lib, f).restype = HeifError
    lib.heif_context_alloc.restype = ctypes.c_void_p
    lib.heif_image_get_plane.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.heif_image_get_plane_readonly.restype = ctypes.POINTER(ctypes.c_uint8)
    for f in ("heif_image_get_plane", "heif_image_get_plane_readonly", "heif_image_get_width",
              "heif_image_get_height", "heif_image_handle_has_alpha_channel", "heif_image_release",
              "heif_image_handle_release", "heif_context_free", "heif_encoder_release",
              "heif_encoder_set_lossy_quality", "heif_encoder_set_lossless", "heif_context_encode_image",
              "heif_context_write_to_file", "heif_context_read_from_file",
              "heif_context_get_primary_image_handle", "heif_decode_image", "heif_image_add_plane",
              "heif_context_get_encoder_for_format"):
        getattr(lib, f).argtypes = None
    return lib


def ok(e):
    if e.code:
        raise RuntimeError(e.message.decode())


def heif_encode(lib, im, path, compression):
    ctx = ctypes.c_void_p(lib.heif_context_alloc())
    enc = ctypes.c_void_p()
    ok(lib.heif_context_get_encoder_for_format(ctx, compression, ctypes.byref(enc)))
    ok(lib.heif_encoder_set_lossy_quality(enc, 90))
    ch = len(im.mode)
    img = ctypes.c_void_p()
    ok(lib.heif_image_create(im.width, im.height, 1, 11 if ch == 4 else 10, ctypes.byref(img)))
    ok(lib.heif_image_add_plane(img, 10, im.width, im.height, 8))
    stride = ctypes.c_int()
    p = lib.heif_image_get_plane(img, 10, ctypes.byref(stride))
    data = im.tobytes()
    for y in range(im.height):
        ctypes.memmove(ctypes.addressof(p.contents) + y * stride.value, data[y * im.width * ch:], im.width * ch)
    ok(lib.heif_context_encode_image(ctx, img, enc, None, None))
    ok(lib.heif_context_write_to_file(ctx, path.encode()))
    lib.heif_image_release(img)
    lib.heif_encoder_release(enc)
    lib.heif_context_free(ctx)


def heif_decode(lib, path):
    ctx = ctypes.c_void_p(lib.heif_context_alloc())
    ok(lib.heif_context_read_from_file(ctx, path.encode(), None))
    h = ctypes.c_void_p()
    ok(lib.heif_context_get_primary_image_handle(ctx, ctypes.byref(h)))
    alpha = lib.heif_image_handle_has_alpha_channel(h)
    img = ctypes.c_void_p()
    ok(lib.heif_decode_image(h, ctypes.byref(img), 1, 11 if alpha else 10, None))
    w, hh = lib.heif_image_get_width(img, 10), lib.heif_image_get_height(img, 10)
    stride = ctypes.c_int()
    p = lib.heif_image_get_plane_readonly(img, 10, ctypes.byref(stride))
    ch = 4 if alpha else 3
    rows = [ctypes.string_at(ctypes.addressof(p.contents) + y * stride.value, w * ch) for y in range(hh)]
    lib.heif_image_release(img)
    lib.heif_image_handle_release(h)
    lib.heif_context_free(ctx)
    return Image.frombytes("RGBA" if alpha else "RGB", (w, hh), b"".join(rows)).convert("RGB")


# ------------------------------------------------------------------ the cases

def pillow_cases():
    """(name, ext, image, save kwargs) written with Pillow."""
    rgb, rgba, l = base_rgb(), base_rgba(), base_l()
    p = rgb.quantize(40)
    p_trns = p.copy()
    p_trns.info["transparency"] = 3
    frames = [base_rgb(20 + i) for i in range(3)]
    cmyk = base_rgb(21).convert("CMYK")
    return [
        ("webp_lossy", "webp", rgb, dict(quality=80)),
        ("webp_lossless", "webp", rgb, dict(lossless=True)),
        ("webp_lossy_alpha", "webp", rgba, dict(quality=75)),
        ("webp_lossless_alpha", "webp", rgba, dict(lossless=True)),
        ("webp_anim", "webp", frames[0], dict(save_all=True, append_images=frames[1:], duration=100,
                                               lossless=True)),
        ("tiff_rgb", "tif", rgb, {}),
        ("tiff_rgb_lzw", "tif", rgb, dict(compression="tiff_lzw")),
        ("tiff_rgb_deflate", "tif", rgb, dict(compression="tiff_adobe_deflate")),
        ("tiff_rgb_jpeg", "tif", rgb, dict(compression="jpeg", quality=90)),
        ("tiff_rgba", "tif", rgba, {}),
        ("tiff_l", "tif", l, {}),
        ("tiff_la", "tif", rgba.convert("LA"), {}),
        ("tiff_bilevel", "tif", l.convert("1"), {}),
        ("tiff_bilevel_g4", "tif", l.convert("1"), dict(compression="group4")),
        ("tiff_p", "tif", p, {}),
        ("tiff_cmyk", "tif", cmyk, {}),
        ("tiff_i16", "tif", Image.frombytes("I;16", (W, H), bytes(
            b for i in range(W * H) for b in struct.pack("<H", (i * 977) % 700))), {}),
        ("tiff_orient6", "tif", rgb, dict(tiffinfo={274: 6})),
        ("gif_p", "gif", p, {}),
        ("gif_p_trns", "gif", p_trns, dict(transparency=3)),
        ("gif_l", "gif", l, {}),
        ("gif_anim", "gif", frames[0].quantize(30), dict(save_all=True, append_images=[
            f.quantize(30) for f in frames[1:]], duration=100)),
        ("gif_noninterlaced", "gif", p, dict(interlace=False)),
        ("jpeg_cmyk", "jpg", cmyk, dict(quality=90)),
    ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/imgfmt"
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    manifest = []

    def record(name, ext, data_or_none=None):
        f = f"{name}.{ext}"
        path = os.path.join(out, f)
        if data_or_none is not None:
            with open(path, "wb") as fh:
                fh.write(data_or_none)
        im = Image.open(path)
        mode = im.mode
        rgb = im.convert("RGB")
        rgb.save(os.path.join(out, "expected", name + ".png"))
        manifest.append(f"{f} {mode} {rgb.width} {rgb.height}")

    for name, ext, im, kw in pillow_cases():
        im.save(os.path.join(out, f"{name}.{ext}"), **kw)
        record(name, ext)
    for name, v in bmp_cases().items():
        if isinstance(v, Image.Image):
            v.save(os.path.join(out, name + ".bmp"))
            record(name, "bmp")
        else:
            record(name, "bmp", v)
    for name, data in tiff_cases().items():
        record(name, "tif", data)
    for name, data in png16_cases().items():
        record(name, "png", data)
    lib = heif_lib()
    for name, comp, im in (("heic_rgb", 1, base_rgb(30)), ("avif_rgb", 4, base_rgb(31)),
                           ("avif_rgba", 4, base_rgba(32))):
        path = os.path.join(out, name + (".heic" if comp == 1 else ".avif"))
        heif_encode(lib, im, path, comp)
        rgb = heif_decode(lib, path)
        rgb.save(os.path.join(out, "expected", name + ".png"))
        manifest.append(f"{os.path.basename(path)} heif {rgb.width} {rgb.height}")
    with open(os.path.join(out, "manifest.txt"), "w") as fh:
        fh.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
