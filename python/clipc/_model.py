"""clipc.Model: a loaded CLIP model and what it computes (embeddings of
images and texts, zero-shot classification)."""

import ctypes
import os
import threading
import warnings

import numpy as np

from . import _lib
from ._core import (WARN, ClipcWarning, Error, apply_threads, check, fptr, fspath, image_struct, iptr,
                    text_bytes, tokenizer)
from ._lib import lib

_ACTS = {"quickgelu": 0, "gelu": 1}


def _precision(name):
    p = ctypes.c_int()
    if lib.clipc_precision_parse(name.encode(), ctypes.byref(p)) != 0:
        raise ValueError(f"precision must be 'f32' or 'bf16', not {name!r}")
    return p.value


def load(path, precision="f32", *, act=None, vision_heads=0, text_heads=0, copy=False, allow_nonfinite=False):
    """Loads a CLIP model: a safetensors file, a PyTorch zip checkpoint or a
    TorchScript archive with OpenAI's, open_clip's or Hugging Face's names
    (the same files `clipc encode --model` takes).

    precision: "f32" or "bf16" (bf16 needs AVX512_BF16; elsewhere the model
    stays f32 with a ClipcWarning).  act ("quickgelu"/"gelu"), vision_heads
    and text_heads are for files that do not record them (--act,
    --vision-heads, --text-heads).  The weights are memory-mapped unless
    copy is true.  Raises clipc.Error with the library's message."""
    o = _lib.LoadOpts()
    o.vision_heads = vision_heads
    o.text_heads = text_heads
    if act is not None:
        if act not in _ACTS:
            raise ValueError(f"act must be 'quickgelu' or 'gelu', not {act!r}")
        o.act_given, o.act = 1, _ACTS[act]
    o.copy = 1 if copy else 0
    o.warn = WARN
    o.precision = _precision(precision)
    o.allow_nonfinite = 1 if allow_nonfinite else 0
    h = ctypes.c_void_p()
    check(lib.clipc_model_load(fspath(path), ctypes.byref(o), ctypes.byref(h)))
    return Model(h, os.fspath(path))


def create(config="tiny", seed=0, **fields):
    """A freshly initialised model (deterministic for a seed) of a named
    config ("tiny", "emoji", "small", "b32", "ViT-B-16", ...), with any
    clipc_config field overridden by keyword (embed_dim=..., ...)."""
    c = _lib.Config()
    check(lib.clipc_config_named(config.encode(), ctypes.byref(c)))
    names = {f[0] for f in _lib.Config._fields_}
    for k, v in fields.items():
        if k not in names:
            raise TypeError(f"create(): unknown config field {k!r}")
        if k == "vision_blocks":
            c.vision_blocks[:] = list(v)
        else:
            setattr(c, k, v)
    check(lib.clipc_config_validate(ctypes.byref(c)))
    h = ctypes.c_void_p()
    check(lib.clipc_model_create(ctypes.byref(c), seed, ctypes.byref(h)))
    return Model(h, None)


def _is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def _is_pixels(x):
    """Whether x is preprocessed pixels (a floating-point array)."""
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _image_list(images):
    """images (not preprocessed) as a list of paths and uint8 arrays: one path,
    one image [H, W(, C)], a batch [N, H, W, C] or a sequence of them."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(f"image arrays must be uint8 pixels or float32 preprocessed pixels, not {images.dtype}")
        return list(images) if images.ndim == 4 else [images]
    if _is_path(images):
        return [images]
    return list(images)


class Model:
    """A CLIP model (from clipc.load or clipc.create).  Read-only: one Model
    may be used from several threads at once (the library releases the GIL
    while it computes).  Free it early with close() or a with block."""

    def __init__(self, handle, path):
        self._h = handle
        self.path = path
        c = lib.clipc_model_config(handle).contents
        self.config = {name: (list(getattr(c, name)) if name == "vision_blocks" else getattr(c, name))
                       for name, _ in _lib.Config._fields_}
        self.embed_dim = c.embed_dim
        self.image_resolution = c.image_resolution
        self.context_length = c.context_length
        self._tf = _lib.Transform()
        lib.clipc_model_transform(handle, ctypes.byref(self._tf))
        # The tutorial's DistilBERT reads WordPiece ids from the vocabulary
        # the model carries; OpenAI's text tower the shared BPE tokenizer.
        self._wordpiece = c.text_arch == 1  # CLIPC_TEXT_DISTILBERT
        self._tok = None
        self._tok_lock = threading.Lock()

    def _handle(self):
        if not self._h:
            raise Error("the model is closed", 3)
        apply_threads()
        return self._h

    def close(self):
        """Frees the model (its weights are unmapped)."""
        if self._tok:
            lib.clipc_tokenizer_free(self._tok)
            self._tok = None
        if self._h:
            lib.clipc_model_free(self._h)
            self._h = None

    def _tokenizer(self):
        """The tokenizer of this model's text tower: the library's BPE
        (shared), or the WordPiece over the tutorial model's own vocabulary
        (made once per model, freed by close())."""
        if not self._wordpiece:
            return tokenizer()
        h = self._handle()
        with self._tok_lock:
            if self._tok is None:
                t = ctypes.c_void_p()
                check(lib.clipc_model_tokenizer(h, ctypes.byref(t)))
                self._tok = t
            return self._tok

    @property
    def transform(self):
        """The image transform the model expects, as a dict: size (the
        crop), resize (the short side before it), mean and std (per R, G,
        B).  OpenAI's for OpenAI's models; the tutorial's ResNet-50 model:
        timm's resnet50 (resize 235 for 224, ImageNet's mean/std)."""
        t = self._tf
        return {"size": t.size, "resize": t.resize, "mean": [float(x) for x in t.mean],
                "std": [float(x) for x in t.std], "rgb_first": bool(t.rgb_first)}

    def preprocess(self, image):
        """One image (a path or a uint8 array as load_image gives) as this
        model's float32 input [3, R, R], with its transform (the pixels
        `clipc encode --model` feeds it)."""
        R = self.image_resolution
        out = np.empty((3, R, R), dtype=np.float32)
        self._preprocess_into(image, out)
        return out

    def _preprocess_into(self, x, out):
        if isinstance(x, np.ndarray):
            im, keep = image_struct(x)
            check(lib.clipc_preprocess_transform(ctypes.byref(im), ctypes.byref(self._tf), fptr(out), None))
            del keep
            return
        if not _is_path(x):
            raise TypeError(f"an image must be a path or a uint8 array, not {type(x).__name__}")
        im = _lib.Image()
        check(lib.clipc_image_load(fspath(x), ctypes.byref(im)))
        try:
            st = lib.clipc_preprocess_transform(ctypes.byref(im), ctypes.byref(self._tf), fptr(out), None)
            if st:
                raise Error(f"{os.fsdecode(fspath(x))}: " + lib.clipc_last_error().decode("utf-8", "replace"), st)
        finally:
            lib.clipc_image_free(ctypes.byref(im))

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<clipc.Model {self.path or 'created'} embed_dim={self.embed_dim} precision={self.precision}>"

    @property
    def precision(self):
        """"f32" or "bf16": the arithmetic in effect."""
        return lib.clipc_precision_name(lib.clipc_model_precision(self._handle())).decode()

    @property
    def logit_scale(self):
        """exp(logit_scale): the model's own temperature's inverse."""
        return float(lib.clipc_model_logit_scale(self._handle()))

    def save(self, path):
        """Writes the model as safetensors (OpenAI names, config in the
        metadata), atomically."""
        check(lib.clipc_model_save(self._handle(), fspath(path)))

    # ---------------------------------------------------------------- images
    def _pixels(self, images):
        """The images as preprocessed float32 [n, 3, R, R], without a copy
        when they already are (C-contiguous float32)."""
        R = self.image_resolution
        if _is_pixels(images):
            a = np.ascontiguousarray(images, dtype=np.float32)
            if a.ndim == 3:
                a = a[None]
            if a.ndim != 4 or a.shape[1:] != (3, R, R):
                raise ValueError(f"preprocessed images must be float32 [n, 3, {R}, {R}], not {list(images.shape)}")
            return a
        images = _image_list(images)
        px = np.empty((len(images), 3, R, R), dtype=np.float32)
        for i, x in enumerate(images):
            self._preprocess_into(x, px[i])
        return px

    def encode_image(self, images, normalize=False, batch_size=64):
        """Image embeddings, float32 [n, embed_dim].

        images: a path, a list of paths, a uint8 array [H, W] / [H, W, C]
        (grey, grey + alpha, RGB, RGBA: decoded pixels, as load_image gives),
        a batch [N, H, W, C] or a list of them, or float32 pixels already preprocessed
        ([n, 3, R, R] or [3, R, R], passed to the encoder without a copy).
        The raw encoder output (as `clipc encode`) unless normalize; encoded
        batch_size images at a time (`clipc encode` uses 64, and so the same
        images give the same bits)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        h = self._handle()
        if _is_pixels(images):
            px = self._pixels(images)  # preprocessed: encoded in place
            out = np.empty((px.shape[0], self.embed_dim), dtype=np.float32)
            for s in range(0, px.shape[0], batch_size):
                cnt = min(batch_size, px.shape[0] - s)
                check(lib.clipc_encode_image(h, fptr(px[s:]), cnt, fptr(out[s:])))
        else:
            images = _image_list(images)
            out = np.empty((len(images), self.embed_dim), dtype=np.float32)
            for s in range(0, len(images), batch_size):
                px = self._pixels(images[s:s + batch_size])
                check(lib.clipc_encode_image(h, fptr(px), px.shape[0], fptr(out[s:])))
        if normalize:
            lib.clipc_l2_normalize(fptr(out), out.shape[0], self.embed_dim)
        return out

    # ----------------------------------------------------------------- texts
    def tokenize(self, texts, truncate=True):
        """Token ids [n, context_length] for this model's context; a text too
        long for it is truncated with a ClipcWarning (as `clipc encode`),
        or raises Error when truncate is false."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        ctx = self.context_length
        ids = np.zeros((len(texts), ctx), dtype=np.int32)
        tok = self._tokenizer()
        for i, t in enumerate(texts):
            b = text_bytes(t)
            st = lib.clipc_tokenize_context(tok, b, len(b), ctx, 0, iptr(ids[i]))
            if st == 6 and truncate:  # CLIPC_ERR_RANGE: longer than the context
                warnings.warn(f"text {i + 1} is longer than the model's {ctx}-token context; truncated",
                              ClipcWarning, stacklevel=3)
                st = lib.clipc_tokenize_context(tok, b, len(b), ctx, 1, iptr(ids[i]))
            check(st)
        return ids

    def encode_text(self, texts, normalize=False, truncate=True):
        """Text embeddings, float32 [n, embed_dim], of a str or a list of str
        (or of token ids: an int32 array [n, context_length]).  The raw
        encoder output (as `clipc encode --text`) unless normalize."""
        if isinstance(texts, np.ndarray):
            ids = np.ascontiguousarray(texts, dtype=np.int32)
            if ids.ndim == 1:
                ids = ids[None]
            if ids.ndim != 2 or ids.shape[1] != self.context_length:
                raise ValueError(f"token ids must be [n, {self.context_length}], not {list(texts.shape)}")
        else:
            ids = self.tokenize(texts, truncate)
        out = np.empty((ids.shape[0], self.embed_dim), dtype=np.float32)
        if ids.shape[0]:
            check(lib.clipc_encode_text(self._handle(), iptr(ids), ids.shape[0], fptr(out)))
        if normalize:
            lib.clipc_l2_normalize(fptr(out), out.shape[0], self.embed_dim)
        return out

    # ------------------------------------------------------------- zero-shot
    def zeroshot_weights(self, labels, templates=None):
        """Zero-shot classifier weights [n_labels, embed_dim] with OpenAI's
        prompt ensembling: each template ("a photo of a {}.") filled with
        the label, the unit text embeddings averaged and renormalised.
        templates: None ("a photo of a {}."), a list of templates, or the
        name of a built-in set ("imagenet": OpenAI's 80)."""
        if isinstance(labels, str):
            labels = [labels]
        labels = [text_bytes(x) for x in labels]
        if not labels:
            raise ValueError("no labels given")
        if isinstance(templates, str):
            n = ctypes.c_int()
            tp = lib.clipc_prompt_templates(templates.encode(), ctypes.byref(n))
            if not tp:
                raise ValueError(f"unknown template set {templates!r} (known: "
                                 f"{lib.clipc_prompt_template_names().decode()})")
            tarr, nt = tp, n.value
        else:
            tl = [text_bytes(t) for t in (templates or [])]
            tarr, nt = (ctypes.c_char_p * max(1, len(tl)))(*tl), len(tl)
        larr = (ctypes.c_char_p * len(labels))(*labels)
        out = np.empty((len(labels), self.embed_dim), dtype=np.float32)
        check(lib.clipc_zeroshot_weights(self._handle(), self._tokenizer(), larr, len(labels), tarr, nt, fptr(out)))
        return out

    def classify(self, images, labels, templates=None, scale=100.0):
        """Zero-shot class probabilities, float32 [n_images, n_labels]:
        softmax(scale * cosine(image, label weights)), as `clipc classify`.
        images as for encode_image (each image file is embedded on its own,
        as `clipc classify` does); labels a list of str; templates as for
        zeroshot_weights; scale a number (OpenAI's 100) or "model" (the
        model's exp(logit_scale))."""
        w = self.zeroshot_weights(labels, templates)
        if isinstance(scale, str):
            if scale != "model":
                raise ValueError(f"scale must be a number or 'model', not {scale!r}")
            scale = self.logit_scale
        h = self._handle()
        E = self.embed_dim
        if _is_pixels(images):
            emb = self.encode_image(images, normalize=True)
        else:
            images = _image_list(images)
            emb = np.empty((len(images), E), dtype=np.float32)
            for i, x in enumerate(images):
                if _is_path(x):
                    check(lib.clipc_embed_image_file(h, fspath(x), fptr(emb[i])))
                else:
                    emb[i] = self.encode_image(x, normalize=True)[0]
        probs = np.empty((emb.shape[0], w.shape[0]), dtype=np.float32)
        # One image per call, as `clipc classify`: the similarity is one sgemm,
        # and BLAS may round a 1-row product differently from an n-row one.
        for i in range(emb.shape[0]):
            check(lib.clipc_classify(fptr(emb[i]), 1, fptr(w), w.shape[0], E, float(scale), fptr(probs[i]), None))
        return probs
