"""Errors, warnings, the shared tokenizer and array helpers used by the rest
of the package."""

import ctypes
import os
import threading
import warnings

import numpy as np

from . import _lib
from ._lib import lib


class Error(Exception):
    """An error reported by libclipc.

    ``str(e)`` is the library's one-line message (clipc_last_error: it names
    the file, tensor or line concerned); ``e.status`` the status code and
    ``e.kind`` its name ("io", "format", "invalid", "nomem", "unsupported",
    "range")."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status
        self.kind = lib.clipc_status_name(status).decode() if status else "invalid"


class ClipcWarning(UserWarning):
    """A warning from libclipc (a guessed head count, bf16 unavailable, a
    truncated text ...)."""


def check(status):
    """Raises Error with the thread's last library message unless status == 0."""
    if status:
        raise Error(lib.clipc_last_error().decode("utf-8", "replace"), status)


def _warn(msg, _ud):
    warnings.warn(msg.decode("utf-8", "replace"), ClipcWarning, stacklevel=3)


# One C callback for the process: ctypes needs the object kept alive.
WARN = _lib.WARN_FN(_warn)


def fspath(p):
    """A path (str, bytes or os.PathLike) as the bytes the C library takes."""
    p = os.fspath(p)
    return p if isinstance(p, bytes) else os.fsencode(p)


def text_bytes(t):
    """A text as UTF-8 bytes; a NUL would cut the C string short, so it is refused."""
    if not isinstance(t, str):
        raise TypeError(f"expected a str, got {type(t).__name__}")
    b = t.encode("utf-8", "surrogatepass")
    if b"\0" in b:
        raise Error("a NUL character in the text; remove it", 3)
    return b


def fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def iptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


_tok = None
_tok_lock = threading.Lock()


def tokenizer():
    """The tokenizer with the vocabulary built into the library, loaded once
    (a clipc_tokenizer may be shared between threads)."""
    global _tok
    with _tok_lock:
        if _tok is None:
            h = ctypes.c_void_p()
            check(lib.clipc_tokenizer_load(None, ctypes.byref(h)))
            _tok = h
        return _tok


def tokenize(texts, context_length=77, truncate=False):
    """clip.tokenize(): each text as SOT + BPE ids + EOT, zero-padded.

    ``texts`` is a str or a list of str; returns an int32 array
    [len(texts), context_length].  A text with more than context_length - 2
    ids raises Error (kind "range") unless ``truncate`` is true, which keeps
    the first ids and puts EOT last, as OpenAI's truncate=True."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    out = np.zeros((len(texts), context_length), dtype=np.int32)
    tok = tokenizer()
    for i, t in enumerate(texts):
        b = text_bytes(t)
        check(lib.clipc_tokenize_context(tok, b, len(b), context_length, 1 if truncate else 0, iptr(out[i])))
    return out


_threads = None  # the set_threads value, None = the library's default
_tls = threading.local()


def set_threads(n):
    """Threads of the library's OpenMP regions and BLAS (0 = all cores), for
    every Python thread.  Results are deterministic for a given thread count;
    when several Python threads call the library at once, set_threads(1)
    gives each call the bits of a sequential run with one thread."""
    global _threads
    _threads = int(n)
    apply_threads()


def apply_threads():
    """Applies set_threads' value in the calling thread.  clipc_set_threads
    sets OpenMP's thread count of the calling OS thread only (an OpenMP
    per-thread setting), so each Python thread must apply it once itself;
    every call into the library that computes goes through here."""
    if _threads is not None and getattr(_tls, "threads", None) != _threads:
        lib.clipc_set_threads(_threads)
        _tls.threads = _threads


def get_threads():
    """The library threads calls from this thread use."""
    apply_threads()
    return lib.clipc_get_threads()


_EXIF = {"apply": 0, "ignore": 1}


def set_exif(mode):
    """Whether a JPEG's EXIF orientation is applied when images are decoded:
    "apply" (the default: photos upright) or "ignore" (OpenAI's pipeline,
    which does not apply it).  Process-wide; set it before encoding."""
    if mode not in _EXIF:
        raise ValueError(f"exif mode must be 'apply' or 'ignore', not {mode!r}")
    lib.clipc_image_set_exif(_EXIF[mode])


def get_exif():
    return "ignore" if lib.clipc_image_get_exif() == 1 else "apply"


def load_image(path):
    """Decodes an image file (JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF; by
    content) to a uint8 array [height, width, channels] with 1 (grey), 2
    (grey + alpha), 3 (RGB) or 4 (RGBA) channels, the pixels Pillow's
    Image.open holds."""
    im = _lib.Image()
    check(lib.clipc_image_load(fspath(path), ctypes.byref(im)))
    try:
        n = im.width * im.height * im.channels
        buf = ctypes.string_at(im.data, n)
        return np.frombuffer(buf, dtype=np.uint8).reshape(im.height, im.width, im.channels).copy()
    finally:
        lib.clipc_image_free(ctypes.byref(im))


def image_struct(a):
    """A clipc_image viewing the uint8 array a ([H, W] or [H, W, C], C in
    1..4), without copying when a is C-contiguous.  Keep a alive while the
    struct is used; never pass it to clipc_image_free."""
    if a.dtype != np.uint8:
        raise TypeError(f"an image array must be uint8, not {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or not 1 <= a.shape[2] <= 4 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"an image array must be [height, width] or [height, width, 1..4], not {list(a.shape)}")
    a = np.ascontiguousarray(a)
    im = _lib.Image(a.shape[1], a.shape[0], a.shape[2], a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), 0)
    return im, a


def preprocess(image, size):
    """OpenAI's CLIP preprocessing (bicubic resize of the short side, center
    crop, RGB, normalisation), bit-exact with Pillow.  ``image`` is a path or
    a uint8 array as load_image gives; returns float32 [3, size, size].
    A model's own transform (the tutorial's model: ImageNet's mean/std) is
    Model.preprocess."""
    out = np.empty((3, size, size), dtype=np.float32)
    if isinstance(image, np.ndarray):
        im, keep = image_struct(image)
        check(lib.clipc_preprocess(ctypes.byref(im), size, fptr(out), None))
        del keep
        return out
    im = _lib.Image()
    check(lib.clipc_image_load(fspath(image), ctypes.byref(im)))
    try:
        st = lib.clipc_preprocess(ctypes.byref(im), size, fptr(out), None)
        if st:
            raise Error(f"{os.fsdecode(fspath(image))}: " + lib.clipc_last_error().decode("utf-8", "replace"), st)
    finally:
        lib.clipc_image_free(ctypes.byref(im))
    return out


def templates(name):
    """A built-in set of prompt templates as a list of str: "imagenet"
    (OpenAI's 80 ImageNet templates, in their notebook's order) or
    "default" (["a photo of a {}."])."""
    n = ctypes.c_int()
    tp = lib.clipc_prompt_templates(name.encode(), ctypes.byref(n))
    if not tp:
        raise ValueError(f"unknown template set {name!r} (known: {lib.clipc_prompt_template_names().decode()})")
    return [tp[i].decode("utf-8") for i in range(n.value)]
