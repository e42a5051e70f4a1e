"""Finding libclipc.so and declaring the C functions the package calls.

The package is pure Python: it talks to the C library through ctypes, so
installing it needs no compiler.  The library is looked up, in this order:

1. ``CLIPC_LIBRARY``: an explicit path (a development build, the sanitizer
   build); it wins over everything so that a test can choose the library;
2. ``libclipc.so`` bundled inside the package (copied there by
   ``pip install ./python`` when the checkout has ``build/libclipc.so``);
3. the system loader (``libclipc.so`` on the library path, e.g. after
   ``make install``).

The structs below mirror include/clipc.h and include/clipc_index.h field for
field; a change there must be made here too (tests/test_python.c runs the
package's tests, which fail loudly on a mismatch).
"""

import ctypes
import ctypes.util
import os

c_int = ctypes.c_int
c_float = ctypes.c_float
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
P = ctypes.POINTER

WARN_FN = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)


class Config(ctypes.Structure):
    """clipc_config (include/clipc.h)."""
    _fields_ = [
        ("embed_dim", c_int), ("image_resolution", c_int), ("vision_layers", c_int),
        ("vision_width", c_int), ("vision_patch_size", c_int), ("vision_heads", c_int),
        ("context_length", c_int), ("vocab_size", c_int), ("transformer_width", c_int),
        ("transformer_heads", c_int), ("transformer_layers", c_int), ("act", c_int),
        ("vision_arch", c_int), ("vision_blocks", c_int * 4), ("text_arch", c_int),
        ("head", c_int), ("text_positions", c_int),
    ]


class LoadOpts(ctypes.Structure):
    """clipc_load_opts (include/clipc.h)."""
    _fields_ = [
        ("vision_heads", c_int), ("text_heads", c_int), ("act_given", c_int), ("act", c_int),
        ("copy", c_int), ("warn", WARN_FN), ("warn_ud", c_void_p), ("precision", c_int),
        ("allow_nonfinite", c_int),
    ]


class Image(ctypes.Structure):
    """clipc_image (include/clipc.h): interleaved 8-bit samples."""
    _fields_ = [("width", c_int), ("height", c_int), ("channels", c_int),
                ("data", P(ctypes.c_uint8)), ("nearest", c_int)]


class Transform(ctypes.Structure):
    """clipc_transform (include/clipc.h): a model's image transform."""
    _fields_ = [("size", c_int), ("resize", c_int), ("mean", ctypes.c_float * 3), ("std", ctypes.c_float * 3),
                ("rgb_first", c_int)]


class SearchOpts(ctypes.Structure):
    """clipc_search_opts (include/clipc_index.h)."""
    _fields_ = [("mode", c_int), ("threads", c_int), ("cand", c_int), ("effort", c_int), ("rerank", c_int)]


class SearchInfo(ctypes.Structure):
    """clipc_search_info (include/clipc_index.h)."""
    _fields_ = [("used", c_int), ("ann_stale", c_int), ("ann_kind", ctypes.c_char * 16),
                ("ann_error", ctypes.c_char * 256)]


# name: (restype, argtypes).  Status-returning functions have restype c_int.
_PROTOTYPES = {
    "clipc_last_error": (c_char_p, []),
    "clipc_status_name": (c_char_p, [c_int]),
    "clipc_config_named": (c_int, [c_char_p, P(Config)]),
    "clipc_config_validate": (c_int, [P(Config)]),
    "clipc_set_threads": (None, [c_int]),
    "clipc_get_threads": (c_int, []),
    "clipc_image_set_exif": (None, [c_int]),
    "clipc_image_get_exif": (c_int, []),
    "clipc_image_load": (c_int, [c_char_p, P(Image)]),
    "clipc_image_free": (None, [P(Image)]),
    "clipc_preprocess": (c_int, [P(Image), c_int, P(c_float), P(ctypes.c_uint8)]),
    "clipc_preprocess_transform": (c_int, [P(Image), P(Transform), P(c_float), P(ctypes.c_uint8)]),
    "clipc_model_transform": (None, [c_void_p, P(Transform)]),
    "clipc_model_tokenizer": (c_int, [c_void_p, P(c_void_p)]),
    "clipc_tokenizer_is_wordpiece": (c_int, [c_void_p]),
    "clipc_tokenizer_load": (c_int, [c_char_p, P(c_void_p)]),
    "clipc_tokenizer_free": (None, [c_void_p]),
    "clipc_tokenize_context": (c_int, [c_void_p, c_char_p, c_size_t, c_int, c_int, P(ctypes.c_int32)]),
    "clipc_model_load": (c_int, [c_char_p, P(LoadOpts), P(c_void_p)]),
    "clipc_model_create": (c_int, [P(Config), ctypes.c_uint64, P(c_void_p)]),
    "clipc_model_save": (c_int, [c_void_p, c_char_p]),
    "clipc_model_free": (None, [c_void_p]),
    "clipc_model_config": (P(Config), [c_void_p]),
    "clipc_model_set_precision": (c_int, [c_void_p, c_int, WARN_FN, c_void_p]),
    "clipc_model_precision": (c_int, [c_void_p]),
    "clipc_precision_name": (c_char_p, [c_int]),
    "clipc_precision_parse": (c_int, [c_char_p, P(c_int)]),
    "clipc_model_logit_scale": (c_float, [c_void_p]),
    "clipc_encode_image": (c_int, [c_void_p, P(c_float), c_int, P(c_float)]),
    "clipc_encode_text": (c_int, [c_void_p, P(ctypes.c_int32), c_int, P(c_float)]),
    "clipc_l2_normalize": (None, [P(c_float), c_int, c_int]),
    "clipc_embed_image_file": (c_int, [c_void_p, c_char_p, P(c_float)]),
    "clipc_zeroshot_weights": (c_int, [c_void_p, c_void_p, P(c_char_p), c_int, P(c_char_p), c_int, P(c_float)]),
    "clipc_prompt_templates": (P(c_char_p), [c_char_p, P(c_int)]),
    "clipc_prompt_template_names": (c_char_p, []),
    "clipc_classify": (c_int, [P(c_float), c_int, P(c_float), c_int, c_int, c_float, P(c_float), P(c_float)]),
    "clipc_index_open": (c_int, [c_char_p, P(c_void_p)]),
    "clipc_index_close": (None, [c_void_p]),
    "clipc_index_meta": (c_int, [c_void_p, c_char_p, P(c_void_p)]),
    "clipc_index_check_model": (c_int, [c_void_p, c_char_p]),
    "clipc_index_search_with": (c_int, [c_void_p, P(c_float), c_int, c_int, P(SearchOpts), P(c_float),
                                        P(c_void_p), P(c_int), P(SearchInfo)]),
}


def _candidates():
    env = os.environ.get("CLIPC_LIBRARY")
    if env:
        return [env]
    out = []
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libclipc.so")
    if os.path.isfile(bundled):
        out.append(bundled)
    out.append(ctypes.util.find_library("clipc") or "libclipc.so")
    return out


def _open():
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        for name, (res, args) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        lib.path = path
        return lib
    raise ImportError("clipc: cannot load libclipc.so (" + "; ".join(tried) + "). Build it with `make shared` "
                      "and set CLIPC_LIBRARY=path/to/libclipc.so, or reinstall the package from a checkout "
                      "with build/libclipc.so (docs/python.md)")


lib = _open()
# OpenBLAS chose its kernels when libclipc loaded it, from OPENBLAS_CORETYPE
# or the CPU's model number; Debian 12's OpenBLAS gives CPUs newer than
# itself SSE3 kernels, 3-4x slower.  A process cannot change that any more
# (the clipc program restarts itself); say what to set.
for _fn in (lib.clipc_blas_core_override, lib.clipc_blas_core_name):
    _fn.restype, _fn.argtypes = c_char_p, []
_better = lib.clipc_blas_core_override()
if _better:
    import warnings
    warnings.warn("clipc: OpenBLAS runs its %s kernels on this CPU; start Python with OPENBLAS_CORETYPE=%s "
                  "for about 3x faster training and ResNet encoding (docs/python.md)" %
                  (lib.clipc_blas_core_name().decode(), _better.decode()), RuntimeWarning, stacklevel=2)
# The C library's strings (index paths, meta values) are malloc'ed; the C API
# says to release them with free().  The process's libc is the one libclipc
# links to, so its free is the right one.
_libc = ctypes.CDLL(None)
libc_free = _libc.free
libc_free.restype = None
libc_free.argtypes = [c_void_p]
