#!/usr/bin/python3
"""Goldens for clipc's WordPiece tokenizer (src/text/wordpiece.c, bert_basic.c).

An independent Python implementation of BERT's uncased tokenizer, written
from its published description (Google's tokenization.py / Hugging Face's
BertTokenizer: BasicTokenizer with do_lower_case, then WordpieceTokenizer):

  clean (drop U+0000, U+FFFD, category C* except \\t \\n \\r; whitespace ->
  " "), spaces around CJK ideographs, str.split(), per word str.lower(),
  NFD, drop Mn, split off punctuation (ASCII 33-47, 58-64, 91-96, 123-126
  and category P*), then greedy longest-match-first with "##"
  continuations, a word over 100 characters or with no match -> [UNK];
  [CLS] ... [SEP], truncated to max_len keeping [SEP], padded with 0.

Writes tests/data/wordpiece/vocab.txt (a small vocabulary: specials,
punctuation, letters and their ## forms, whole words, accent-stripped
words, CJK characters, ## pieces) and tests/data/wordpiece/cases.json
([{"text", "max_len", "ids"}]: hand-picked cases plus random strings from a
pool of tricky characters, fixed seed; Python 3.11, Unicode 14).
Usage: /usr/bin/python3 tools/make_wordpiece_goldens.py
"""
import json
import random
import unicodedata

DIR = "tests/data/wordpiece"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """a an the of and in on with at to is are was two three man woman men women dog dogs cat
child children girl boy people person street water red blue green white black small large big
playing play ##ing ##ed ##s ##er ##ly ##able un ##believ ##happy happy run ##ning runs jump
cafe resume naive uber facade creme brulee senor nino zurich ##e ##es hello world don t u s
photo of picture riding bike horse beach ball grass field running sitting standing next front
straße οδος σας ος σ ς ο δ α istanbul i ##i 2024 20 ##24 5 3 2 ##0 ##00 x y z
中 国 人 我 爱 日 本 大 学 こ ##ん ##に ##ち ##は 한 ##국 ##어""".split()


def build_vocab():
    v = list(SPECIAL)
    for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
        v.append(c)
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        v.append(c)
        v.append("##" + c)
    v += ["—", "–", "“", "”", "。", "，", "！", "¿", "¡", "«", "»", "…", "·"]
    for w in WORDS:
        if w not in v:
            v.append(w)
    return v


def is_ws(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_ctrl(c):
    return c not in "\t\n\r" and unicodedata.category(c)[0] == "C"


def is_punct(c):
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(c)[0] == "P"


CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_cjk(c):
    return any(lo <= ord(c) <= hi for lo, hi in CJK)


def basic_tokens(text):
    buf = []
    for c in text:
        if c in "\x00\ufffd" or is_ctrl(c):
            continue
        if is_ws(c):
            buf.append(" ")
        elif is_cjk(c):
            buf += [" ", c, " "]
        else:
            buf.append(c)
    out = []
    for word in "".join(buf).split():
        word = "".join(ch for ch in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(ch) != "Mn")
        cur = []
        for ch in word:
            if is_punct(ch):
                if cur:
                    out.append("".join(cur))
                cur = []
                out.append(ch)
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
    return out


def wordpiece(word, vocab):
    if len(word) > 100:
        return [vocab["[UNK]"]]
    pieces, i = [], 0
    while i < len(word):
        for j in range(len(word), i, -1):
            sub = ("##" if i else "") + word[i:j]
            if sub in vocab:
                pieces.append(vocab[sub])
                i = j
                break
        else:
            return [vocab["[UNK]"]]
    return pieces


def encode(text, vocab, max_len):
    ids = [vocab["[CLS]"]]
    for w in basic_tokens(text):
        ids += wordpiece(w, vocab)
    ids = ids[:max_len - 1] + [vocab["[SEP]"]]
    return ids + [0] * (max_len - len(ids))


HAND = [
    "", "   \t\n ", "Hello, world!", "A man riding a horse on the beach.",
    "Café Über naïve RÉSUMÉ façade crème brûlée señor niño Zürich", "e\u0301 cafe\u0301",
    "我爱中国人", "中国people大学", "日本の大学", "こんにちは 한국어", "Straße ΟΔΟΣ ΣΑΣ σας İstanbul",
    "$5 + 3^2 = `x` ~y~ {z} [a] (b) <c> |d| @e #f %g &h *i _j", "don't U.S.A. 2024-20 20,000",
    "“Quoted” — dash – «guillemets» ¿qué? ¡sí! … ·", "full！width。comma，", "xyzzy qwrt unbelievable unhappy",
    "a" * 100, "a" * 101, "b" * 150 + " dog", "dogs" + "s" * 96 + " cat",
    "a\x01b\x07c\x7f d\u200be\u00adf \u0085g\u2028h\u2029i", "tab\tnew\nline\rcr\u00a0nbsp\u3000ideo",
    "replacement \ufffd char", "emoji 😀 dog 🐶", "math ∑ ≠ ∞ °C", "Ⅻ ﬁ ㎏ ½", "ǅ ǈ", "\u0130\u0307",
    "playing played plays player happily runs running", "children's children", "...!!!???",
]


def random_text(rng):
    pool = (list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,!?'\"-()[]$^`~#")
            + list("éÉèüÜñçßøåÅæœıİΣσςΟΔ中国人我日本こんに한국\u0301\u0308\u0327\t\n\r\u00a0\u3000\u200b\u00ad"
                   "\x01\x1f\x7f\u2028—“”。！…😀∞ﬁ½\ufffd"))
    words = WORDS + ["the", "dog", "playing", "café", "NAÏVE", "中国"]
    parts = []
    for _ in range(rng.randint(0, 12)):
        if rng.random() < 0.5:
            parts.append(rng.choice(words).replace("##", ""))
        else:
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
    return rng.choice(["", " ", "\t"]).join(parts) if rng.random() < 0.2 else " ".join(parts)


def main():
    vocab_list = build_vocab()
    vocab = {t: i for i, t in enumerate(vocab_list)}
    assert len(vocab) == len(vocab_list)
    with open(DIR + "/vocab.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(vocab_list) + "\n")
    cases = []
    for t in HAND:
        for ml in (32, 8):
            cases.append({"text": t, "max_len": ml, "ids": encode(t, vocab, ml)})
    cases.append({"text": "two dogs", "max_len": 2, "ids": encode("two dogs", vocab, 2)})
    cases.append({"text": "two dogs", "max_len": 3, "ids": encode("two dogs", vocab, 3)})
    rng = random.Random(20)
    for _ in range(400):
        t = random_text(rng)
        cases.append({"text": t, "max_len": rng.choice([6, 16, 64]), "ids": None})
        cases[-1]["ids"] = encode(t, vocab, cases[-1]["max_len"])
    with open(DIR + "/cases.json", "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=True) for c in cases) + "\n]\n")  # one case a line
    print(len(vocab_list), "tokens,", len(cases), "cases")


if __name__ == "__main__":
    main()
