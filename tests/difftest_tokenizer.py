#!/usr/bin/python3
"""Differential test of clipc's tokenizer against the Python reference BPE in
../shared/bench/torch_train.py (an exact re-implementation of OpenAI's
SimpleTokenizer, ftfy = identity).  Python is used only for this check.

  difftest_tokenizer.py gen N SEED DIR    writes DIR/in.jsonl + DIR/expect.jsonl
                                          (encode) and DIR/dec_in.jsonl +
                                          DIR/dec_expect.jsonl (decode)
  difftest_tokenizer.py cmpdec DIR        compares DIR/dec_got.jsonl (clipc --decode)

Random code points are drawn from characters assigned in Python's Unicode
database (14.0); utf8proc is Unicode 15.0 and the two differ only in the
Case_Ignorable property of 111 Unicode-15 additions (it matters only next to
a capital sigma).  U+0000 is left out: cJSON strings end at NUL.
"""
import html.entities
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, os.environ.get("CLIPC_SHARED", os.path.join(HERE, "..", "..", "shared")) + "/bench")

WORDS = ("a photo of the cat dog man woman two people is are on in with and street red blue "
         "playing standing sitting water beach snow field young girl boy black white group "
         "it's we're they've i'm you'll he'd don't can't won't o'clock rock'n'roll "
         "tokenization antidisestablishmentarianism supercalifragilisticexpialidocious "
         "café naïve résumé façade über straße İstanbul ΟΔΟΣ ΣΟΦΟΣ Σ σς ΑΣ. ΑΣʰ ΑΣ'Β "
         "москва Привет 北京 東京 서울 こんにちは ภาษาไทย हिन्दी العربية עברית ".split())
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028", "\u2029",
          "\u200b", "\u0085", "\x1c", "\x1f", "\u180e", "\u202f", "\x0b", "\x0c"]
PUNCT = list(".,;:!?\"'()[]{}<>/\\|@#$%^&*-_+=~`") + ["...", "--", "—", "–", "“", "”", "‘", "’",
                                                      "«", "»", "¿", "¡", "…", "•", "©", "®", "™"]
BLOCKS = [(0x20, 0x7E), (0xA0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x52F),
          (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F),
          (0x10A0, 0x10FF), (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2070, 0x209F), (0x2100, 0x218F),
          (0x2190, 0x23FF), (0x2460, 0x24FF), (0x2C00, 0x2C7F), (0x3040, 0x30FF), (0x4E00, 0x4FFF),
          (0xAC00, 0xAD00), (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF),
          (0x1F100, 0x1F1FF), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x10400, 0x1044F),
          (0x1E900, 0x1E95F), (0x0660, 0x0669), (0x06F0, 0x06F9), (0x0966, 0x096F)]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "🏳️‍🌈", "✨", "🔥", "🐱", "1️⃣", "©️"]
SPECIAL = ["<|endoftext|>", "<|startoftext|>", "<|ſtartoftext|>", "'ſ", "'S", "'LL", "ſ", "K", "ß",
           "ẞ", "İ", "ı", "ǅ", "ﬁ", "Ⅻ", "ⅻ", "½", "²", "ª", "º", "🄰", "🅐", "ͅ", "\u0345Σ"]
ENT_NAMES = list(html.entities.html5)


def rand_cp(r):
    while True:
        if r.random() < 0.7:
            lo, hi = r.choice(BLOCKS)
            c = r.randint(lo, hi)
        else:
            c = r.randint(1, 0x10FFFF)
        if 0xD800 <= c <= 0xDFFF:
            continue
        if unicodedata.category(chr(c)) == "Cn":
            continue
        return chr(c)


def entity(r):
    k = r.random()
    if k < 0.4:
        n = r.choice(ENT_NAMES)
        s = "&" + n
        if r.random() < 0.3 and n.endswith(";"):
            s = s[:-1]
        if r.random() < 0.2:
            s += r.choice(["x", "abc", ";", "1"])
    elif k < 0.6:
        s = "&#%d%s" % (r.choice([0, 9, 13, 38, 60, 128, 130, 150, 159, 160, 233, 931, 0xD800, 0xFFFE,
                                  0x10FFFF, 0x110000, 99999999999, r.randint(0, 0x1FFFF)]), r.choice([";", "", "x"]))
    elif k < 0.75:
        s = "&#%s%x%s" % (r.choice("xX"), r.choice([0, 0x80, 0x3A3, 0x1F600, 0xDFFF, r.randint(0, 0x10FFFF)]),
                          r.choice([";", "", "g"]))
    elif k < 0.9:
        s = "&amp;" + r.choice(["lt;", "gt", "amp;amp;", "#38;", "nbsp;", "quot;"])
    else:
        s = r.choice(["&", "&#", "&#x", "&;", "& amp;", "&" + "a" * r.randint(1, 40) + ";", "&ampx", "&notit;",
                      "&nGt;", "&NotEqualTilde;"])
    return s


def gen(r):
    parts = []
    for _ in range(r.choice([1, 2, 3, 5, 8, 12, 20])):
        k = r.random()
        if k < 0.35:
            w = r.choice(WORDS)
            if r.random() < 0.2:
                w = w.upper() if r.random() < 0.5 else w.title()
            parts.append(w)
        elif k < 0.45:
            parts.append(r.choice(PUNCT) * r.choice([1, 1, 1, 2, 3]))
        elif k < 0.52:
            parts.append(str(r.randint(0, 10 ** r.randint(1, 12))))
        elif k < 0.67:
            parts.append("".join(rand_cp(r) for _ in range(r.randint(1, 8))))
        elif k < 0.72:
            parts.append(r.choice(EMOJI))
        elif k < 0.77:
            parts.append(r.choice(SPECIAL))
        elif k < 0.85:
            parts.append(entity(r))
        elif k < 0.875:  # long words (Python's BPE is quadratic in their length)
            a = "".join(r.choice("abcdefghijklmnopqrstuvwxyzéß") for _ in range(r.randint(20, 120)))
            parts.append(a)
        elif k < 0.9:
            parts.append(r.choice("aeiouxz!.") * r.randint(10, 200))
        else:
            parts.append(r.choice(SPACES))
        if r.random() < 0.7:
            parts.append(r.choice(SPACES) if r.random() < 0.3 else " ")
    s = "".join(parts)
    return s.replace("\x00", "")


def main():
    if sys.argv[1] == "gen":
        n, seed, d = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        from torch_train import ClipTokenizer
        shared = os.environ.get("CLIPC_SHARED", os.path.join(HERE, "..", "..", "shared"))
        tok = ClipTokenizer(os.path.join(shared, "reference", "tokenizer", "bpe_simple_vocab_16e6.txt.gz"))
        r = random.Random(seed)
        with open(os.path.join(d, "in.jsonl"), "w", encoding="utf-8") as fi, \
                open(os.path.join(d, "expect.jsonl"), "w", encoding="utf-8") as fe:
            for _ in range(n):
                s = gen(r)
                fi.write(json.dumps({"text": s}, ensure_ascii=r.random() < 0.5) + "\n")
                ids = tok.encode(s)
                # tok.context(s, 77, truncate=True) without encoding twice:
                row = [tok.sot_id] + ids + [tok.eot_id]
                if len(row) > 77:
                    row = row[:77]
                    row[-1] = tok.eot_id
                fe.write(json.dumps({"ids": ids, "context": row + [0] * (77 - len(row))}) + "\n")
        with open(os.path.join(d, "dec_in.jsonl"), "w") as fi, \
                open(os.path.join(d, "dec_expect.jsonl"), "w", encoding="utf-8") as fe:
            for _ in range(max(n // 10, 1)):
                ids = [r.choice([r.randint(0, 511), r.randint(0, 49407), r.randint(0, 255)])
                       for _ in range(r.randint(0, 16))]
                fi.write(json.dumps({"ids": ids}) + "\n")
                fe.write(json.dumps({"text": tok.decode(ids)}) + "\n")
    elif sys.argv[1] == "cmpdec":
        d = sys.argv[2]
        bad = n = 0
        with open(os.path.join(d, "dec_expect.jsonl"), encoding="utf-8") as fe, \
                open(os.path.join(d, "dec_got.jsonl"), encoding="utf-8") as fg:
            for n, (a, b) in enumerate(zip(fe, fg), 1):
                if json.loads(a) != json.loads(b):
                    bad += 1
                    if bad <= 5:
                        print("decode diff line %d: want %s got %s" % (n, a.strip(), b.strip()))
        print("decode: %d lines, %d differences" % (n, bad))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
