"""The clipc Python package on the tutorial's model (seed 002: ResNet +
DistilBERT + projection heads) against the clipc program.

Every entry point must use what the model file says: its WordPiece
vocabulary (not OpenAI's BPE) for text, and its image transform (timm's
resnet50: ImageNet's mean/std, resize to floor(size / 0.95) before the crop)
for images.  The model file is made by tests/test_python.c (the tutorial
model cannot be created from Python) and named by CLIPC_TUTORIAL_MODEL.

    CLIPC_TUTORIAL_MODEL=m.safetensors CLIPC_LIBRARY=build/libclipc.so CLIPC_EXE=build/clipc \\
        /usr/bin/python3 python/tests/test_tutorial.py
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if os.environ.get("CLIPC_INSTALLED") != "1":
    sys.path.insert(0, os.path.dirname(HERE))
import clipc  # noqa: E402

sys.path.insert(0, HERE)
from test_clipc import IMAGE_FILES, bits, run_cli  # noqa: E402

MODEL = os.environ.get("CLIPC_TUTORIAL_MODEL")
TEXTS = ["a dog runs", "Héllo, WORLD!", "东京 tower", "x", "word " * 40]  # the last: over the 32-token context


class TutorialTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MODEL or not os.path.isfile(MODEL):
            raise AssertionError("CLIPC_TUTORIAL_MODEL must name a tutorial model file (tests/test_python.c makes one)")
        cls.tmp = tempfile.mkdtemp(prefix="clipc-py-tutorial-")
        cls.m = clipc.load(MODEL)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        shutil.rmtree(cls.tmp)

    def cli_encode(self, *args):
        out = run_cli("encode", "--model", MODEL, *args).stdout
        rows = [json.loads(line) for line in out.splitlines()]
        return np.array([r["embedding"] for r in rows], dtype=np.float64).astype(np.float32)

    def test_texts_use_the_models_wordpiece(self):
        ids = self.m.tokenize(TEXTS)
        self.assertEqual(ids.shape, (len(TEXTS), 32))
        self.assertTrue((ids[:, 0] == 2).all())  # [CLS] of the test vocabulary, not BPE's 49406
        self.assertTrue((ids < 233).all())  # inside the model's 233-token vocabulary
        self.assertEqual(ids[4, 31], 3)  # truncated, [SEP] kept last
        self.assertFalse(np.array_equal(ids[:1], clipc.tokenize(TEXTS[:1], 32)))
        for t, row in zip(TEXTS, ids):
            out = run_cli("tokenize", "--model", MODEL, "--context-length", "32",
                          stdin=json.dumps({"text": t}) + "\n").stdout
            self.assertEqual(json.loads(out)["context"], row.tolist())
        # encode_text equals `clipc encode --model --text`, bit for bit, raw and normalised
        args = [a for t in TEXTS for a in ("--text", t)]
        np.testing.assert_array_equal(bits(self.m.encode_text(TEXTS)), bits(self.cli_encode(*args)))
        np.testing.assert_array_equal(bits(self.m.encode_text(TEXTS, normalize=True)),
                                      bits(self.cli_encode("--normalize", *args)))
        np.testing.assert_array_equal(bits(self.m.encode_text(ids)), bits(self.m.encode_text(TEXTS)))

    def test_images_use_the_models_transform(self):
        t = self.m.transform
        self.assertEqual((t["size"], t["resize"]), (32, 33))  # floor(32 / 0.95)
        np.testing.assert_array_equal(np.float32(t["mean"]), np.float32([0.485, 0.456, 0.406]))
        np.testing.assert_array_equal(np.float32(t["std"]), np.float32([0.229, 0.224, 0.225]))
        args = [a for f in IMAGE_FILES for a in ("--image", f)]
        want = self.cli_encode(*args)
        np.testing.assert_array_equal(bits(self.m.encode_image(IMAGE_FILES)), bits(want))
        # arrays and the model's own preprocessing give the file's bits (batch 1: a batch
        # of another size may round differently); OpenAI's pixels do not
        one = self.cli_encode("--image", IMAGE_FILES[0])
        np.testing.assert_array_equal(bits(self.m.encode_image(IMAGE_FILES[0])), bits(one))
        u8 = clipc.load_image(IMAGE_FILES[0])
        np.testing.assert_array_equal(bits(self.m.encode_image(u8)), bits(one))
        px = self.m.preprocess(IMAGE_FILES[0])
        np.testing.assert_array_equal(bits(px), bits(self.m.preprocess(u8)))
        np.testing.assert_array_equal(bits(self.m.encode_image(px)), bits(one))
        self.assertFalse(np.array_equal(px, clipc.preprocess(IMAGE_FILES[0], 32)))

    def test_classify_equals_cli(self):
        labels = ["dog", "cat", "red car"]
        out = run_cli("classify", "--model", MODEL, "--json", "--labels", ",".join(labels), "--top", "3",
                      *IMAGE_FILES[:3]).stdout
        probs = self.m.classify(IMAGE_FILES[:3], labels)
        for line, p in zip(out.splitlines(), probs):
            row = json.loads(line)
            order = sorted(range(len(labels)), key=lambda c: (-p[c], c))
            self.assertEqual([x["label"] for x in row["top"]], [labels[c] for c in order])
            self.assertEqual(["%.6f" % x["prob"] for x in row["top"]], ["%.6f" % p[c] for c in order])

    def test_search_equals_cli(self):
        pics = os.path.join(self.tmp, "pics")
        os.makedirs(pics)
        for f in IMAGE_FILES[:6]:
            shutil.copy(f, pics)
        db = os.path.join(self.tmp, "pics.db")
        run_cli("index", pics, "--model", MODEL, "--db", db)
        with clipc.Index(db) as ix:
            for q in ("a dog runs", "Héllo"):
                want = json.loads(run_cli("search", "--db", db, "--json", "--top", "4", q).stdout)["results"]
                got = ix.search(q, k=4)
                self.assertEqual(got.paths, [r["path"] for r in want])
                self.assertEqual(["%.6f" % s for s in got.scores], ["%.6f" % r["score"] for r in want])
            img = os.path.join(pics, os.path.basename(IMAGE_FILES[1]))
            got = ix.search(image=img, k=2)
            self.assertEqual(got.paths[0], img)  # indexed with the same transform: finds itself
            self.assertAlmostEqual(float(got.scores[0]), 1.0, places=5)


if __name__ == "__main__":
    unittest.main()
