"""Tests of the clipc Python package against the clipc program.

The package and `clipc` share one library, so the package must give the
CLI's outputs exactly: embeddings bit for bit (float32 bits compared),
token ids, classify's probabilities and search's results as the CLI prints
them, and errors with the library's message.

Run from the repository root:
    CLIPC_LIBRARY=build/libclipc.so CLIPC_EXE=build/clipc /usr/bin/python3 python/tests/test_clipc.py
(tests/test_python.c does this from the C suite).  CLIPC_EXE defaults to
`clipc` on PATH; the package is imported from python/ unless CLIPC_INSTALLED=1
(then from wherever Python finds it: an installed copy).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if os.environ.get("CLIPC_INSTALLED") != "1":
    sys.path.insert(0, os.path.dirname(HERE))
import clipc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGES = os.path.join(ROOT, "tests", "data", "images")
FORMATS = os.path.join(ROOT, "tests", "data", "imgfmt")
CLI = os.environ.get("CLIPC_EXE") or shutil.which("clipc") or "clipc"

# Images of every kind the decoder treats differently: palette (resized with
# NEAREST), CMYK, EXIF-rotated, grey + alpha, 16-bit, 1-pixel-wide, and the
# other formats.
IMAGE_FILES = [os.path.join(IMAGES, f) for f in (
    "rgb_53x37.png", "pal_40x30.png", "cmyk_26x18.jpg", "exif6_24x16.jpg", "la_33x50.png",
    "rgba16_26x15.png", "rgb_1x40.png", "ycc420_37x23.jpg")]
IMAGE_FILES += [os.path.join(FORMATS, f) for f in sorted(os.listdir(FORMATS))
                if f.split(".")[-1] in ("webp", "gif", "tif", "bmp")][:4]
TEXTS = ["a photo of a cat", "A DOG &amp; a cat!", "ünïcödé — 東京 🚀", "x",
         "word " * 40]  # the last one is longer than the context: truncated


SHARED = os.environ.get("CLIPC_SHARED") or os.path.join(ROOT, "..", "shared")


def read_safetensors(path):
    """The tensors of a safetensors file as numpy arrays (F32, I32, I64, U8)."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    head = json.loads(data[8:8 + n])
    types = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8}
    out = {}
    for k, v in head.items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=types[v["dtype"]]).reshape(v["shape"])
    return out


def run_cli(*args, stdin=None, expect=0):
    p = subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True)
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"clipc {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


class ClipcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clipc-py-")
        # A small random model with the real 49,408-token vocabulary.
        with clipc.create("tiny", seed=11, embed_dim=24, image_resolution=32, vision_layers=2, vision_width=32,
                          vision_patch_size=8, vision_heads=2, transformer_width=32, transformer_heads=2,
                          transformer_layers=2) as m:
            cls.model_path = os.path.join(cls.tmp, "model.safetensors")
            m.save(cls.model_path)
        cls.m = clipc.load(cls.model_path)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        shutil.rmtree(cls.tmp)

    def cli_encode(self, *args):
        out = run_cli("encode", "--model", self.model_path, *args).stdout
        rows = [json.loads(line) for line in out.splitlines()]
        return np.array([r["embedding"] for r in rows], dtype=np.float64).astype(np.float32)

    # ------------------------------------------------------------ embeddings
    def test_image_embeddings_equal_cli_bit_for_bit(self):
        args = [a for f in IMAGE_FILES for a in ("--image", f)]
        want = self.cli_encode(*args)
        got = self.m.encode_image(IMAGE_FILES)
        self.assertEqual(got.dtype, np.float32)
        self.assertEqual(got.shape, (len(IMAGE_FILES), 24))
        self.assertTrue(got.flags.c_contiguous)
        np.testing.assert_array_equal(bits(got), bits(want))
        # normalize=True equals --normalize
        want_n = self.cli_encode("--normalize", *args)
        np.testing.assert_array_equal(bits(self.m.encode_image(IMAGE_FILES, normalize=True)), bits(want_n))

    def test_image_arrays_equal_paths(self):
        # Decoded uint8 pixels and preprocessed float32 pixels give the same bits as the file.
        f = IMAGE_FILES[0]
        want = self.m.encode_image(f)
        u8 = clipc.load_image(f)
        self.assertEqual((u8.dtype, u8.shape), (np.uint8, (37, 53, 3)))
        np.testing.assert_array_equal(bits(self.m.encode_image(u8)), bits(want))
        px = np.stack([clipc.preprocess(x, 32) for x in IMAGE_FILES])
        self.assertEqual((px.dtype, px.shape), (np.float32, (len(IMAGE_FILES), 3, 32, 32)))
        np.testing.assert_array_equal(bits(self.m.encode_image(px)), bits(self.m.encode_image(IMAGE_FILES)))
        np.testing.assert_array_equal(bits(clipc.preprocess(u8, 32)), bits(px[0]))
        # A grey [H, W] array and an RGBA one are accepted.
        self.assertEqual(self.m.encode_image(np.full((20, 30), 128, np.uint8)).shape, (1, 24))
        self.assertEqual(self.m.encode_image([np.zeros((9, 9, 4), np.uint8)] * 2).shape, (2, 24))
        # A uint8 batch [N, H, W, C] is N images.
        batch = np.stack([u8, u8[::-1]])
        np.testing.assert_array_equal(bits(self.m.encode_image(batch)),
                                      bits(self.m.encode_image([u8, np.ascontiguousarray(u8[::-1])])))
        with self.assertRaises(TypeError):
            self.m.encode_image(u8.astype(np.int64))  # neither pixels nor preprocessed floats
        # Batches of another size agree to float rounding, not always to the bit: on AVX2 (no
        # AVX-512) oneDNN's f32 kernels block the reduction by the batch's row count.
        np.testing.assert_allclose(self.m.encode_image(IMAGE_FILES, batch_size=3),
                                   self.m.encode_image(IMAGE_FILES), rtol=1e-5, atol=1e-6)

    def test_text_embeddings_equal_cli_bit_for_bit(self):
        args = [a for t in TEXTS for a in ("--text", t)]
        want = self.cli_encode(*args)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got = self.m.encode_text(TEXTS)
        self.assertEqual(got.shape, (len(TEXTS), 24))
        np.testing.assert_array_equal(bits(got), bits(want))
        self.assertEqual([str(x.message) for x in w],
                         ["text 5 is longer than the model's 32-token context; truncated"])
        self.assertTrue(all(issubclass(x.category, clipc.ClipcWarning) for x in w))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(bits(self.m.encode_text(TEXTS, normalize=True)),
                                          bits(self.cli_encode("--normalize", *args)))
        # Token ids in give the same embeddings as the same texts in the same batch (bit for bit),
        # and as the CLI's larger batch to float rounding (see test_image_arrays_equal_paths).
        ids = clipc.tokenize(TEXTS[:4], context_length=32)
        np.testing.assert_array_equal(bits(self.m.encode_text(ids)), bits(self.m.encode_text(TEXTS[:4])))
        np.testing.assert_allclose(self.m.encode_text(ids), want[:4], rtol=1e-5, atol=1e-6)

    def test_mixed_encode_equals_cli(self):
        want = self.cli_encode("--text", "a cat", "--image", IMAGE_FILES[1], "--text", "a dog")
        np.testing.assert_array_equal(bits(self.m.encode_text(["a cat", "a dog"])), bits(want[[0, 2]]))
        np.testing.assert_array_equal(bits(self.m.encode_image([IMAGE_FILES[1]])), bits(want[[1]]))

    def test_bf16_precision_equals_cli(self):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = clipc.load(self.model_path, precision="bf16")
        with m:
            if m.precision == "f32":  # a CPU without AVX512_BF16: the library says so
                self.assertTrue(any("bf16" in str(x.message).lower() for x in w), [str(x.message) for x in w])
            want = self.cli_encode("--precision", "bf16", "--image", IMAGE_FILES[0], "--text", "a cat")
            np.testing.assert_array_equal(bits(m.encode_image(IMAGE_FILES[0])), bits(want[[0]]))
            np.testing.assert_array_equal(bits(m.encode_text("a cat")), bits(want[[1]]))

    def test_one_model_from_several_threads(self):
        # The library releases the GIL and a model is read-only: concurrent
        # calls work and agree with sequential ones.  Not bit for bit: a call
        # that finds the model's attention buffer in use by another thread
        # takes the per-head attention path (src/kernels/onednn.c), which
        # rounds differently.
        import threading
        old = clipc.get_threads()
        clipc.set_threads(1)  # process-wide: applied in every Python thread
        try:
            want_i = self.m.encode_image(IMAGE_FILES)
            want_t = self.m.encode_text(TEXTS[:4])
            got, seen = [None] * 6, [None] * 6

            def work(i):
                seen[i] = clipc.get_threads()
                got[i] = self.m.encode_image(IMAGE_FILES) if i % 2 else self.m.encode_text(TEXTS[:4])
            threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            clipc.set_threads(old)
        self.assertEqual(seen, [1] * 6)
        for i, g in enumerate(got):
            np.testing.assert_allclose(g, want_i if i % 2 else want_t, rtol=1e-5, atol=1e-6)

    def test_openai_reference_models(self):
        # OpenAI-layout models (a PyTorch .pt and a ModifiedResNet) from
        # ../shared: the package equals the CLI bit for bit, and PyTorch's
        # outputs within float32 rounding.
        ref = os.path.join(SHARED, "reference", "openai_clip")
        if not os.path.isdir(ref):
            if os.environ.get("CLIPC_REQUIRE_SHARED") == "1":
                self.fail(f"{ref} is missing (CLIPC_REQUIRE_SHARED=1)")
            self.skipTest("../shared/reference is absent")
        for name, weights in (("vit_tiny", "weights.pt"), ("rn_tiny", "weights.safetensors")):
            d = os.path.join(ref, name)
            with open(os.path.join(d, "inputs", "inputs.json"), encoding="utf-8") as f:
                inputs = json.load(f)
            files = [os.path.join(d, "inputs", im["file"]) for im in inputs["images"]]
            captions = inputs["captions"]
            tin = read_safetensors(os.path.join(d, "inputs", "inputs.safetensors"))
            tout = read_safetensors(os.path.join(d, "outputs", "outputs.safetensors"))
            path = os.path.join(d, weights)
            with clipc.load(path, act="quickgelu") as m:  # OpenAI's activation, recorded nowhere in a .pt
                img, txt = m.encode_image(files), m.encode_text(captions)
                out = run_cli("encode", "--model", path, "--act", "quickgelu", *[a for f in files for a in ("--image", f)],
                              *[a for t in captions for a in ("--text", t)]).stdout
                want = np.array([json.loads(x)["embedding"] for x in out.splitlines()]).astype(np.float32)
                np.testing.assert_array_equal(bits(img), bits(want[:len(files)]), err_msg=name)
                np.testing.assert_array_equal(bits(txt), bits(want[len(files):]), err_msg=name)
                np.testing.assert_array_equal(clipc.tokenize(captions), tin["input_ids"], err_msg=name)
                # PyTorch's embeddings of the same pixels and ids (README: f32 vs f64 differ by <= 1.3e-5).
                np.testing.assert_allclose(m.encode_image(tin["pixel_values"]), tout["image_embeds"], atol=1e-4,
                                           err_msg=name)
                np.testing.assert_allclose(txt, tout["text_embeds"], atol=1e-4, err_msg=name)
                np.testing.assert_allclose(img[:5], tout["image_embeds"][:5], atol=1e-4, err_msg=name)  # PNGs
                np.testing.assert_allclose(m.logit_scale, float(tout["logit_scale_exp"]), rtol=1e-6)

    # -------------------------------------------------------------- tokenize
    def test_tokenize_equals_cli(self):
        texts = TEXTS[:4] + ["", "It's   a <|endoftext|> test", "&lt;b&gt;bold&lt;/b&gt;"]
        out = run_cli("tokenize", "--context-length", "77",
                      stdin="".join(json.dumps({"text": t}) + "\n" for t in texts)).stdout
        want = np.array([json.loads(line)["context"] for line in out.splitlines()], dtype=np.int32)
        got = clipc.tokenize(texts)
        self.assertEqual((got.dtype, got.shape), (np.int32, (len(texts), 77)))
        np.testing.assert_array_equal(got, want)
        self.assertEqual(list(clipc.tokenize("a cat")[0, :4]), [49406, 320, 2368, 49407])
        # Too long: an error without truncate, as the CLI's; truncated rows equal --truncate.
        long = "word " * 100
        p = run_cli("tokenize", "--context-length", "77", stdin=json.dumps({"text": long}) + "\n", expect=1)
        with self.assertRaises(clipc.Error) as cm:
            clipc.tokenize([long])
        self.assertEqual(cm.exception.kind, "range")
        self.assertEqual(str(cm.exception), json.loads(p.stdout)["error"])
        out = run_cli("tokenize", "--context-length", "77", "--truncate", stdin=json.dumps({"text": long}) + "\n")
        np.testing.assert_array_equal(clipc.tokenize(long, truncate=True)[0], json.loads(out.stdout)["context"])

    # -------------------------------------------------------------- classify
    def classify_cli(self, labels, *args):
        out = run_cli("classify", "--model", self.model_path, "--json", "--labels", ",".join(labels),
                      "--top", str(len(labels)), *args, *IMAGE_FILES[:4]).stdout
        return [json.loads(line) for line in out.splitlines()]

    def check_classify(self, want, probs, labels):
        self.assertEqual(probs.shape, (4, len(labels)))
        self.assertEqual(probs.dtype, np.float32)
        for row, p in zip(want, probs):
            order = sorted(range(len(labels)), key=lambda c: (-p[c], c))  # clipc_topk: ties to the lower index
            self.assertEqual([t["label"] for t in row["top"]], [labels[c] for c in order])
            self.assertEqual(["%.6f" % t["prob"] for t in row["top"]], ["%.6f" % p[c] for c in order])

    def test_classify_equals_cli(self):
        labels = ["cat", "dog", "red car", "tree"]
        self.check_classify(self.classify_cli(labels, "--template", "a photo of a {}.", "--template", "art of {}"),
                            self.m.classify(IMAGE_FILES[:4], labels, templates=["a photo of a {}.", "art of {}"]),
                            labels)
        self.check_classify(self.classify_cli(labels, "--templates", "imagenet", "--scale", "model"),
                            self.m.classify(IMAGE_FILES[:4], labels, templates="imagenet", scale="model"), labels)
        self.check_classify(self.classify_cli(labels), self.m.classify(IMAGE_FILES[:4], labels), labels)
        # Probabilities of each image sum to 1.
        p = self.m.classify(IMAGE_FILES[:4], labels)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        # The 80 ImageNet templates by name give the weights of the same 80 passed as a list.
        imagenet = clipc.templates("imagenet")
        self.assertEqual(len(imagenet), 80)
        self.assertEqual(imagenet[0], "a bad photo of a {}.")
        w = self.m.zeroshot_weights(labels, "imagenet")
        self.assertEqual(w.shape, (4, 24))
        np.testing.assert_array_equal(bits(w), bits(self.m.zeroshot_weights(labels, imagenet)))
        np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=1e-5)
        with self.assertRaises(ValueError):
            clipc.templates("nope")

    # ---------------------------------------------------------------- search
    def test_search_equals_cli(self):
        pics = os.path.join(self.tmp, "pics")
        os.makedirs(pics)
        for f in IMAGE_FILES:
            shutil.copy(f, pics)
        db = os.path.join(self.tmp, "pics.db")
        model = os.path.join(self.tmp, "index-model.safetensors")  # a copy: replaced at the end
        shutil.copy(self.model_path, model)
        run_cli("index", pics, "--model", model, "--db", db)
        with clipc.Index(db) as ix:
            self.assertEqual(ix.meta("model_path"), model)
            self.assertIsNone(ix.meta("no such key"))
            for q in ("a photo of a cat", "red"):
                want = json.loads(run_cli("search", "--db", db, "--json", "--top", "5", q).stdout)["results"]
                got = ix.search(q, k=5)
                self.assertEqual(got.paths, [r["path"] for r in want])
                self.assertEqual(["%.6f" % s for s in got.scores], ["%.6f" % r["score"] for r in want])
                self.assertEqual(got.scores.dtype, np.float32)
                # The same query as a vector gives the same ranking.
                vec = self.m.encode_text([q])[0]
                self.assertEqual(ix.search(vec, k=5).paths, got.paths)
                f32 = json.loads(run_cli("search", "--db", db, "--json", "--top", "5", "--f32", q).stdout)
                self.assertEqual(ix.search(q, k=5, mode="f32").paths, [r["path"] for r in f32["results"]])
            img = os.path.join(pics, os.path.basename(IMAGE_FILES[2]))
            want = json.loads(run_cli("search", "--db", db, "--json", "--top", "3", "--image", img).stdout)
            got = ix.search(image=img, k=3)
            self.assertEqual(got.paths, [r["path"] for r in want["results"]])
            self.assertEqual(got.paths[0], img)  # an indexed image finds itself first
            self.assertEqual(["%.6f" % s for s in got.scores], ["%.6f" % r["score"] for r in want["results"]])
            # k over the collection's size gives every image.
            self.assertEqual(len(ix.search("cat", k=100).paths), len(IMAGE_FILES))
        # The index's model file replaced by another model: refused, with the CLI's message.
        with clipc.create("tiny", seed=12, embed_dim=24, image_resolution=32, vision_layers=2, vision_width=32,
                          vision_patch_size=8, vision_heads=2, transformer_width=32, transformer_heads=2,
                          transformer_layers=2) as other:
            other.save(model)
        with clipc.Index(db) as ix:
            with self.assertRaises(clipc.Error) as cm:
                ix.search("cat")
            self.assertEqual(str(cm.exception), self.cli_error("search", "--db", db, "cat"))
            self.assertIn("index-model.safetensors", str(cm.exception))
            # A vector query needs no model.
            self.assertEqual(len(ix.search(np.ones(24, np.float32), k=3).paths), 3)

    # ---------------------------------------------------------------- errors
    def cli_error(self, *args):
        p = run_cli(*args, expect=1)
        prefix = "clipc: error: "
        line = [x for x in p.stderr.splitlines() if x.startswith(prefix)][0]
        return line[len(prefix):]

    def test_errors_raise_clipc_error_with_the_library_message(self):
        missing = os.path.join(self.tmp, "missing.safetensors")
        with self.assertRaises(clipc.Error) as cm:
            clipc.load(missing)
        self.assertEqual(str(cm.exception), self.cli_error("encode", "--model", missing, "--text", "x"))
        self.assertEqual(cm.exception.kind, "io")
        self.assertIn("missing.safetensors", str(cm.exception))
        # A file that is not a model.
        with self.assertRaises(clipc.Error) as cm:
            clipc.load(IMAGE_FILES[0])
        self.assertEqual(str(cm.exception), self.cli_error("encode", "--model", IMAGE_FILES[0], "--text", "x"))
        # An image that is not one: the message names it, as the CLI's.
        bad = os.path.join(self.tmp, "bad.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nnot really")
        with self.assertRaises(clipc.Error) as cm:
            self.m.encode_image([IMAGE_FILES[0], bad])
        self.assertEqual(str(cm.exception), self.cli_error("encode", "--model", self.model_path, "--image", bad))
        self.assertIn("bad.png", str(cm.exception))
        with self.assertRaises(clipc.Error) as cm:
            clipc.Index(os.path.join(self.tmp, "none.db"))
        self.assertIn("none.db: no such index", str(cm.exception))
        # Bad arguments are Python's own errors.
        with self.assertRaises(ValueError):
            clipc.load(self.model_path, precision="f64")
        with self.assertRaises(ValueError):
            self.m.encode_image(np.zeros((2, 3, 31, 31), np.float32))
        with self.assertRaises(clipc.Error) as cm:
            clipc.tokenize("a\0b")
        self.assertIn("NUL", str(cm.exception))
        # A closed model refuses work instead of crashing.
        m = clipc.load(self.model_path)
        m.close()
        with self.assertRaises(clipc.Error):
            m.encode_text("x")


if __name__ == "__main__":
    unittest.main(verbosity=2)
