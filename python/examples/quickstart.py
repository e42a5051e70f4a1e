"""clipc from Python in a dozen cells: embed, compare, classify, search.

Run from a clipc checkout after `make` (or with the package installed):
    /usr/bin/python3 python/examples/quickstart.py [MODEL.safetensors]
Without a model file it makes a small random one, so every cell runs (its
answers are then meaningless; use ViT-B/32, docs/models.md, for real ones).
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # python/ of the checkout (harmless when installed)
if "CLIPC_LIBRARY" not in os.environ and os.path.exists(os.path.join(ROOT, "build", "libclipc.so")):
    os.environ["CLIPC_LIBRARY"] = os.path.join(ROOT, "build", "libclipc.so")

import numpy as np  # noqa: E402

import clipc  # noqa: E402

tmp = tempfile.mkdtemp(prefix="clipc-quickstart-")

# %% A model: a file (safetensors, PyTorch .pt, Hugging Face), or a random one.
if len(sys.argv) > 1:
    model_path = sys.argv[1]
else:
    model_path = os.path.join(tmp, "model.safetensors")
    clipc.create("tiny", seed=0).save(model_path)
m = clipc.load(model_path)  # precision="bf16" on AVX512_BF16 CPUs
print(m)

# %% Images in: paths, decoded uint8 arrays [H, W, C], or preprocessed float32 [n, 3, R, R].
images = [os.path.join(ROOT, "tests", "data", "images", f) for f in ("rgb_97x61.png", "pal_40x30.png")]
img = m.encode_image(images, normalize=True)  # float32 [2, embed_dim]
pixels = clipc.load_image(images[0])          # uint8 [61, 97, 3], Pillow's pixels
same = m.encode_image(pixels, normalize=True)
print("image embeddings", img.shape, img.dtype, "array == file:", np.array_equal(same[0], img[0]))

# %% Texts in: a list of str (or token ids from clipc.tokenize).
txt = m.encode_text(["a red square", "a painting of a tree"], normalize=True)
print("token ids", clipc.tokenize("a red square")[0, :6])
print("cosine similarities (images x texts)\n", img @ txt.T)

# %% Zero-shot classification with OpenAI's 80 ImageNet prompt templates.
probs = m.classify(images, ["square", "tree", "dog"], templates="imagenet")
print("P(label | image)\n", probs)

# %% Search a folder: `clipc index` builds the index, clipc.Index searches it.
clipc_exe = os.path.join(ROOT, "build", "clipc")
db = os.path.join(tmp, "pics.db")
subprocess.run([clipc_exe, "index", os.path.join(ROOT, "tests", "data", "images"), "--model", model_path,
                "--db", db], check=True, capture_output=True)
with clipc.Index(db) as ix:
    hits = ix.search("a red square", k=3)    # a text, embedded with the index's model
    for path, score in zip(hits.paths, hits.scores):
        print(f"{score:.4f}  {os.path.basename(path)}")
    print(ix.search(img[0], k=1).paths)       # or a vector

# %% Errors carry the library's message.
try:
    clipc.load("no-such-model.safetensors")
except clipc.Error as e:
    print("clipc.Error:", e, f"(kind {e.kind})")

m.close()
import shutil  # noqa: E402

shutil.rmtree(tmp)
