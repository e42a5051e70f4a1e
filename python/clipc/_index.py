"""clipc.Index: searching an image index made by `clipc index`."""

import collections
import ctypes
import os
import warnings

import numpy as np

from . import _lib
from ._core import ClipcWarning, Error, apply_threads, check, fptr, fspath
from ._lib import lib, libc_free
from ._model import load

SearchResults = collections.namedtuple("SearchResults", ["paths", "scores"])
SearchResults.__doc__ = """Top-k results, best first: paths (list of str, as the index stores them)
and scores (float32 array of cosine similarities)."""

_MODES = {"auto": 0, "exact": 1, "f32": 2, "ann": 3}


class Index:
    """An index made by `clipc index` (the SQLite database FILE and FILE.vec
    beside it), opened read-only.

    Text and image queries are embedded with the model the index was built
    with (loaded on the first such query, after checking that the file is
    still the one indexed), or with ``model`` when given."""

    def __init__(self, db, model=None, precision="f32"):
        self.db = os.fspath(db)
        if not os.path.exists(self.db):
            raise Error(f"{self.db}: no such index (run clipc index first)", 1)
        h = ctypes.c_void_p()
        check(lib.clipc_index_open(fspath(db), ctypes.byref(h)))
        self._h = h
        self._model = model
        self._precision = precision

    def close(self):
        """Closes the database and unmaps the vectors."""
        if getattr(self, "_h", None):
            lib.clipc_index_close(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise Error("the index is closed", 3)
        apply_threads()
        return self._h

    def meta(self, key):
        """A value the index records (model_path, model_sha256, model_config,
        precision, ...), or None."""
        v = ctypes.c_void_p()
        check(lib.clipc_index_meta(self._handle(), key.encode(), ctypes.byref(v)))
        if not v.value:
            return None
        try:
            return ctypes.string_at(v.value).decode("utf-8", "replace")
        finally:
            libc_free(v)

    @property
    def model(self):
        """The model queries are embedded with (the index's own, loaded once)."""
        if self._model is None:
            path = self.meta("model_path")
            if path is None:
                raise Error(f"{self.db}: no model recorded (run clipc index first)", 2)
            check(lib.clipc_index_check_model(self._handle(), fspath(path)))
            self._model = load(path, precision=self._precision)
            ip = self.meta("precision") or "f32"
            if ip != self._model.precision:
                warnings.warn(f"{self.db} was indexed in {ip}, the query is encoded in {self._model.precision} "
                              f"(scores shift slightly; precision={ip!r} matches the index)", ClipcWarning,
                              stacklevel=3)
        return self._model

    def _query(self, query, image):
        if image is not None:
            if query is not None:
                raise ValueError("give a query or image=, not both")
            m = self.model
            q = np.empty(m.embed_dim, dtype=np.float32)
            check(lib.clipc_embed_image_file(m._handle(), fspath(image), fptr(q)))
            return q
        if isinstance(query, str):
            if not query.strip():
                raise ValueError("the query text is empty; give words to search for")
            m = self.model
            q = m.encode_text([query], normalize=True)[0]
            return q
        q = np.array(query, dtype=np.float32).reshape(-1)  # a copy: normalised below
        lib.clipc_l2_normalize(fptr(q), 1, q.shape[0])
        return q

    def search(self, query=None, k=10, *, image=None, mode="auto"):
        """The k images most similar to query, best first (SearchResults).

        query: a text (embedded with the index's model, as `clipc search
        TEXT`) or an embedding vector (L2-normalised here); or image=PATH to
        search by an image.  mode: "auto" (the ANN index when current, else
        the exact int8 scan with f32 re-rank), "exact", "f32" or "ann", as
        `clipc search --exact/--f32/--ann`."""
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if k < 1:
            raise ValueError("k must be >= 1")
        q = self._query(query, image)
        if not np.all(np.isfinite(q)):
            raise Error("search: the query's embedding holds nan/inf; nothing to rank", 3)
        scores = np.empty(k, dtype=np.float32)
        paths = (ctypes.c_void_p * k)()
        got = ctypes.c_int(0)
        opts = _lib.SearchOpts(_MODES[mode], 0, 0, 0)
        info = _lib.SearchInfo()
        st = lib.clipc_index_search_with(self._handle(), fptr(q), q.shape[0], k, ctypes.byref(opts), fptr(scores),
                                         paths, ctypes.byref(got), ctypes.byref(info))
        out = []
        for i in range(got.value):
            out.append(os.fsdecode(ctypes.string_at(paths[i])))
            libc_free(paths[i])
        check(st)
        if info.ann_stale:
            warnings.warn(info.ann_error.decode("utf-8", "replace") + "; exact search used", ClipcWarning,
                          stacklevel=2)
        return SearchResults(out, scores[:got.value].copy())
