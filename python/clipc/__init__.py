"""clipc: CLIP (contrastive image-text models) from Python, over the C
library libclipc.so (ctypes; numpy arrays in and out).

    import clipc
    m = clipc.load("model.safetensors")
    img = m.encode_image(["cat.jpg", "dog.png"], normalize=True)   # float32 [2, E]
    txt = m.encode_text(["a cat", "a dog"], normalize=True)        # float32 [2, E]
    probs = m.classify(["cat.jpg"], ["cat", "dog"], templates="imagenet")
    hits = clipc.Index("pics.db").search("a red car", k=5)        # .paths, .scores

Every library error raises clipc.Error with the library's message; library
warnings are ClipcWarning.  See docs/python.md.
"""

from ._core import (ClipcWarning, Error, get_exif, get_threads, load_image, preprocess, set_exif,
                    set_threads, templates, tokenize)
from ._index import Index, SearchResults
from ._lib import lib as _lib
from ._model import Model, create, load

for _c in (ClipcWarning, Error, Index, Model, SearchResults):
    _c.__module__ = "clipc"  # tracebacks say clipc.Error, not clipc._core.Error

__version__ = "0.1.0"
library_path = _lib.path  # the libclipc.so in use

__all__ = ["ClipcWarning", "Error", "Index", "Model", "SearchResults", "create", "get_exif", "get_threads",
           "load", "load_image", "preprocess", "set_exif", "set_threads", "templates", "tokenize", "library_path"]
