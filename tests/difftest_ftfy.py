#!/usr/bin/python3
"""The Python half of tests/difftest_ftfy.sh: generates N random strings,
runs them through the C driver and through the real ftfy.fix_text, and
reports every difference (the first 15 in full).  Exit status 1 on any.

  difftest_ftfy.py FTFY_SRC DRIVER N SEED
"""
import random
import subprocess
import sys

sys.path.insert(0, sys.argv[1])
import ftfy  # noqa: E402
from ftfy import badness, chardata  # noqa: E402

DRIVER, N, SEED = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(SEED)
ENCS = chardata.CHARMAP_ENCODINGS + ["windows-1252", "windows-1251", "utf-8"]
WORDS = ("café naïve Größe señor piñata Příliš žluťoučký кошка собака ελληνικά 日本語 中文 한국어 🐶 😀 "
         "“quoted” ‘single’ — … € £ ¥ © ® ™ ° ± µ ½ ß æ œ ø å Ø Å ñ ç İ ş ğ ı ă ț ș ő ű "
         "a the dog at & &amp; &eacute; &EACUTE; &#x2019; &lt; < > \r\n \n \r \t \u2028 \x85 \x1b[31m "
         "ﬁ ﬂ Ĳ ＡＢＣ ｶﾀｶﾅ e\u0301 \u3000 \xa0 \ufeff \x00 \x7f \x93 \x80 \x9d Ã Â Ð Ñ").split(" ")
ALPHA = sorted(set("".join(badness.MOJIBAKE_CATEGORIES.values()) + "".join(chardata.UTF8_CLUES.values())))
ALPHA = [c for c in ALPHA if c != "-"]


def mojibake(s, enc):
    try:
        return s.encode("utf-8").decode(enc)
    except UnicodeDecodeError:
        return s


def one():
    k = rng.random()
    if k < 0.1:  # random code points, including combining marks and astral ones
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x3000), rng.randrange(0xFB00, 0xFFFF),
                                       rng.randrange(0x300, 0x370), rng.randrange(0x1F300, 0x1F700),
                                       rng.randrange(0, 0x100)])) for _ in range(rng.randrange(1, 20)))
    if k < 0.4:  # words, mojibaked 0..2 times, maybe with A0 -> space and an odd character
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 8)))
        for _ in range(rng.randrange(0, 3)):
            s = mojibake(s, rng.choice(ENCS))
        if rng.random() < 0.3:
            s = s.replace("\xa0", " ")
        if rng.random() < 0.2:
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice(ALPHA + ["?", "\ufffd", " "]) + s[i:]
        return s
    if k < 0.7:  # random mixes of mojibake characters
        return "".join(rng.choice(ALPHA + list("ab ?\ufffd")) for _ in range(rng.randrange(1, 12)))
    ws = [rng.choice(WORDS) for _ in range(rng.randrange(2, 7))]  # one word broken
    j = rng.randrange(len(ws))
    ws[j] = mojibake(ws[j], rng.choice(ENCS))
    return " ".join(ws)


cases = [one() for _ in range(N)]
inp = "".join(c.encode("utf-8").hex() + "\n" for c in cases)
out = subprocess.run([DRIVER], input=inp.encode(), capture_output=True, check=True).stdout.decode().split("\n")
bad = 0
for c, o in zip(cases, out):
    want = ftfy.fix_text(c)
    got = bytes.fromhex(o).decode("utf-8") if o != "ERR" else "ERR"
    if got != want:
        bad += 1
        if bad <= 15:
            print(repr(c), "\n   got ", repr(got), "\n   want", repr(want))
print("ftfy difftest: %d strings, %d differences" % (N, bad))
sys.exit(1 if bad else 0)
