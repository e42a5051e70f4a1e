#!/usr/bin/python3
"""Writes tests/data/goldens/ftfy_cases.json: goldens for clipc's ftfy
(src/text/ftfy.c) and for the tokenizer with ftfy, made by the real ftfy.

  /usr/bin/python3 tools/make_ftfy_goldens.py FTFY_SRC_DIR [SHARED_DIR]

FTFY_SRC_DIR holds the ftfy (6.3.1) and wcwidth packages, extracted from their
git repositories (ftfy is not pip-installed here).  Each case has the input,
ftfy.fix_text's output and the ids of OpenAI's tokenizer *with* ftfy
(SimpleTokenizer.encode: ftfy.fix_text, html.unescape twice, whitespace
collapse, lower, the CLIP split regex, BPE).  This Python has no `regex`
module, so the split regex is re-implemented below by hand (letters and
numbers by unicodedata category, the `regex` module's \\s, its one IGNORECASE
oddity U+0345); when SHARED_DIR (default ../shared) has the reference goldens,
the tokenizer here is first checked against all of them (310 cases made with
the real `regex` module, ftfy = identity) and the ftfy_sensitive ones (real
ftfy), and the script stops if any differs.

`is_bad` holds random strings over ftfy's mojibake characters with
ftfy.badness.is_bad's verdict, to test the C heuristic directly.
Deterministic: the same ftfy and Python give the same file.
"""
import gzip
import html
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, sys.argv[1])
import ftfy  # noqa: E402
from ftfy import badness  # noqa: E402

SHARED = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "data", "goldens", "ftfy_cases.json")


# ----------------------------------------------------------- tokenizer

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


WS = set([0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000] + list(range(9, 14)) +
         list(range(0x2000, 0x200B)))  # the `regex` module's \s (White_Space)


def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


LITS = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def split(t):
    """The CLIP split regex (IGNORECASE) on lower-cased text, by hand."""
    out, i = [], 0
    while i < len(t):
        c = t[i]
        if c == "\u0345" or ord(c) in WS:
            i += 1
            continue
        lit = next((x for x in LITS if t[i:i + len(x)].replace("\u017f", "s") == x), None)
        if lit:
            out.append(t[i:i + len(lit)])
            i += len(lit)
            continue
        j = i
        if is_letter(c):
            while j < len(t) and is_letter(t[j]):
                j += 1
        elif is_number(c):
            j = i + 1
        else:
            while j < len(t) and ord(t[j]) not in WS and t[j] != "\u0345" and not is_letter(t[j]) \
                    and not is_number(t[j]):
                j += 1
        out.append(t[i:j])
        i = j
    return out


class Tokenizer:
    def __init__(self, path, fix):
        merges = gzip.open(path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.fix = fix

    def bpe(self, token):
        if token in ("<|startoftext|>", "<|endoftext|>"):
            return [token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    new.append(word[i] + word[i + 1])
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = new
        return word

    def encode(self, text):
        text = self.fix(text)
        text = html.unescape(html.unescape(text)).strip()  # basic_clean
        text = "".join(" " if ord(c) in WS else c for c in text)
        while "  " in text:
            text = text.replace("  ", " ")
        text = text.strip().lower()
        ids = []
        for piece in split(text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids += [self.encoder[p] for p in self.bpe(piece)]
        return ids


def check_tokenizer(vocab):
    path = os.path.join(SHARED, "reference", "tokenizer", "tokenizer_goldens.json")
    if not os.path.exists(path):
        print("warning: %s absent, tokenizer not checked" % path, file=sys.stderr)
        return
    g = json.load(open(path, encoding="utf-8"))
    plain = Tokenizer(vocab, lambda s: s)
    for c in g["cases"]:
        assert plain.encode(c["text"]) == c["ids"], c["id"]
    real = Tokenizer(vocab, ftfy.fix_text)
    for c in g["ftfy_sensitive"]:
        assert real.encode(c["text"]) == c["ids_real_ftfy"], c["text"]
        assert ftfy.fix_text(c["text"]) == c["ftfy_fix_text"], c["text"]
    print("tokenizer agrees with %d + %d shared goldens" % (len(g["cases"]), len(g["ftfy_sensitive"])),
          file=sys.stderr)


# ---------------------------------------------------------------- cases

SENTENCES = [
    "A dog runs on the grass.",
    "El niño comió piña en la mañana, ¿sí?",
    "Él está en el café más pequeño de España.",
    "Ça va très bien, merci; où êtes-vous allés à Noël?",
    "L'hôtel près de la forêt a été rénové.",
    "Größe, Übermaß und Fußgängerzone in München.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Zażółć gęślą jaźń w Łodzi.",
    "Árvíztűrő tükörfúrógép.",
    "São Paulo é a maior cidade do Brasil; às vezes chove.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ελληνικά: η γρήγορη καφέ αλεπού πηδάει.",
    "İstanbul'da çok güzel bir gün, Şükrü.",
    "Ærø og Østersøen er smukke; på Åland.",
    "日本語のテキストです。東京タワー。",
    "中文测试：你好，世界！",
    "한국어 문장입니다.",
    "Emoji: 🐶🐱 and 👍🏽 and 🇫🇷 flags ❤️",
    "The price is 5€ or £4 or ¥600 — roughly.",
    "naïve coöperation résumé façade",
    "Crème brûlée à la carte, s'il vous plaît.",
    "Ñandú y pingüino bajo la lluvia.",
    "Tiếng Việt có dấu đầy đủ.",
    "Latviešu valoda: ķēniņš, ģērbonis.",
    "Lietuvių kalba: ąžuolas, ėriukas.",
    "Română: știință și țară.",
    "a photo of a café with crêpes",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ",
]

FALSE_POSITIVE_GUARDS = [
    "Ãºnico", "Ã", "ÃÃÃ", "Â", "ÂÂ Â", "Ã© la", "Ð¾Ð±", "résumé", "Üben", "100°C",
    "I ♥ NY", "x² + y² = z²", "½ cup", "±5%", "µs", "≈ 3", "√2", "™ ® ©", "«quoted»",
    "¿Qué?", "¡Hola!", "“Hello”", "1–2", "Œuvre", "Œ", "cœur", "Ø", "ØØ", "Ù", "Bjørn", "Ångström",
    "ŞIŞLI", "€100", "A→B", "(╯°□°)╯︵ ┻━┻", "¯\\_(ツ)_/¯", "ಠ_ಠ", "°º¤ø,¸¸,ø¤º°",
    "Ç'est", "Âge", "À bientôt", "MÜNCHEN", "ÉCOLE", "ÑANDÚ", "ESPAÑA — 2020",
    "ä ö ü", "AT&T", "Q&A", "rock & roll", "R&D;", "&", "&;", "a < b & c", "x<y",
]

CURLY = ["\u2018single\u2019", "\u201cdouble\u201d", "it\u2019s", "\u201alow\u201b", "\u201elow\u201f",
         "don\u02bct", "\u201c\u2018nested\u2019\u201d", "\u2019\u2019\u2019"]


def mojibake(s, enc):
    return s.encode("utf-8").decode(enc)


def gen_cases(rng):
    cases = []

    def add(cat, text):
        cases.append((cat, text))

    for s in SENTENCES:
        add("plain", s)
    for s in FALSE_POSITIVE_GUARDS:
        add("guard", s)
    for s in CURLY:
        add("curly_quotes", s)
        add("curly_quotes", "She said " + s + " twice")
    for k in ["Ĳ", "ĳ", "ŉ", "Ǳ", "ǲ", "ǳ", "Ǆ", "ǅ", "ǆ", "Ǉ", "ǈ", "ǉ", "Ǌ", "ǋ", "ǌ",
              "ﬀ", "ﬁ", "ﬂ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "\ufb13", "æ", "œ"]:
        add("ligature", "e" + k + "ect " + k)
    for i in range(0xFF01, 0xFFEF, 3):
        add("width", "x" + chr(i) + chr(i + 1) + "y")
    add("width", "ＬＯＵＤ　ＮＯＩＳＥＳ")
    add("width", "Ｕﾀｰﾝ ｶﾞｷﾞ")
    add("width", "ﾊﾟﾋﾟ  ＡＢＣ１２３！？")
    for s in SENTENCES[:20]:
        add("nfd", unicodedata.normalize("NFD", s))
    add("nfd", "e\u0301\u0327 a\u0323\u0302 \u1100\u1161\u11a8")
    add("nfd", "\u0041\u030a \u212b \u2126 \u0344 \u0958")
    encs = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250", "macroman",
            "cp437", "iso-8859-2", "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257",
            "windows-1252", "windows-1251"]
    for s in SENTENCES:
        for enc in encs:
            try:
                add("mojibake_" + enc, mojibake(s, enc))
            except UnicodeDecodeError:
                pass
    for s in SENTENCES[:18]:
        for enc in ["sloppy-windows-1252", "latin-1", "sloppy-windows-1251"]:
            add("double_mojibake", mojibake(mojibake(s, "sloppy-windows-1252"), enc))
    for s in SENTENCES[:16]:  # one word broken, the rest fine: decode_inconsistent_utf8
        words = s.split(" ")
        k = rng.randrange(len(words))
        words[k] = mojibake(words[k], rng.choice(["sloppy-windows-1252", "latin-1"]))
        add("partial_mojibake", " ".join(words))
    for s in SENTENCES[:16]:  # the no-break space that became a space
        m = mojibake(s, "sloppy-windows-1252")
        add("nbsp_mojibake", m.replace("\xa0", " "))
    for s in ["voilà le travail", "à la mode", "às vezes", "à quel point", "fácil", "Ã la mode", "Ã quele",
              "\u00e0 s", "Ô ô Ø"]:
        add("nbsp_mojibake", mojibake(s, "sloppy-windows-1252").replace("\xa0", " "))
    for s in SENTENCES[:14]:  # lossy: Windows-1252 holes replaced by U+FFFD
        add("lossy_mojibake", s.encode("utf-8").decode("windows-1252", errors="replace"))
    add("lossy_mojibake", "â€œ like this â€\ufffd")
    add("lossy_mojibake", "cafÃ? and cafÃ\ufffd")
    add("cesu8", "\ud83d\ude00 emoji \ud83d\udc36".encode("utf-8", "surrogatepass").decode("sloppy-windows-1252"))
    add("cesu8", "x\xed\xa0\xbd\xed\xb8\x80y")
    add("cesu8", "nul: \xc0\x80 end, Ã©")
    add("cesu8", "Ã\xad\xa0\x80")
    ents = ["&amp;", "&lt;b&gt;", "&eacute;", "&EACUTE;", "&Eacute;", "&NTILDE;", "&nTILDE;", "&SZLIG;",
            "&#x2019;", "&#8217;", "&#X41;", "&#65;", "&#0;", "&#x110000;", "&#xD800;", "&#128;", "&#150;",
            "&hellip;", "&nbsp;", "&amp", "&copy", "&foo;", "&#xZZ;", "&#12a;", "&checkmark;",
            "&Jscr;", "&HilbertSpace;", "&amp;amp;", "&amp;amp;amp;", "&AMP;", "&QUOT;", "&Lt;",
            "&aaaaaaaaaaaaaaaaaaaaaaaaa;", "&FFILIG;", "&fflig;", "&ETH;", "&eth;", "&ETH", "&#x1F600;",
            "&#x00e9;", "&#233", "&&amp;;", "&#;", "&#x;"]
    for e in ents:
        add("html", "P" + e + "rez")
        add("html_with_lt", "<p>P" + e + "rez</p>")
    add("html", "line &eacute;\n<b>&eacute;</b>\n&eacute; again")
    add("html", "&macr;\\_(ã\x83\x84)_/&macr;")
    add("html", "Broken text&hellip; it&#x2019;s ﬂubberiﬁc!")
    for cc in list(range(0, 0x20)) + [0x7F, 0x206A, 0x206F, 0xFEFF, 0xFFF9, 0xFFFC, 0xFFFD, 0x200B, 0x200D,
                                      0x202E, 0xE0061]:
        add("control", "a" + chr(cc) + "b" + chr(cc))
    for cc in range(0x80, 0xA0):
        add("c1", "x" + chr(cc) + "y")
    add("c1", "\x93quoted\x94 and \x85")
    add("c1", "caf\xc3\xa9 \x80")
    add("c1", "\x81\x8d\x8f\x90\x9d")
    for s in ["\x1b[31mred\x1b[0m", "\x1b[1;32mbold green\x1b[m", "\x1b[?25h", "\x1b[٣m", "\x1bx",
              "\x1b[", "\x1b[12;", "a\x1b[2Kb"]:
        add("terminal", s)
    for s in ["a\r\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "a\n\nb\r\n\r\nc", "Ã©\r\nÃ©",
              "line1\nÃ©\nline3\n", "\n", "\r", "x\r\n", "caf\xc3\xa9\u2028ok"]:
        add("line_breaks", s)
    add("segments", "first &amp; line\nsecond <b> &amp;\nthird &amp;")
    add("segments", "Ã©\nplain\nâ€œquotedâ€\x9d\n")
    for s in ["🐶", "👩‍👩‍👧", "🏴\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F", "😀😃😄",
              "漢字かなカナ", "ｶﾀｶﾅ", "零一二三", "🙂 café 🙃"]:
        add("emoji_cjk", s)
    for s in SENTENCES[:12]:
        add("emoji_mojibake", mojibake("🐶 " + s, "sloppy-windows-1252"))
    # Random mixes of mojibake-prone characters: exercise the heuristics.
    alphabet = sorted(set("".join(badness.MOJIBAKE_CATEGORIES.values()) +
                          "ÃÂÎÐØÙàâóÄ€œŠš¢£Ÿž\xa0\xad®©°·»–—´²³√≈‚вЂГўВРСβΒΓΞΟā"))
    alphabet = [c for c in alphabet if c != "-" and not ("\x80" <= c <= "\x9f")]
    for _ in range(160):
        n = rng.randrange(1, 9)
        s = "".join(rng.choice(alphabet + list("ab .'&")) for _ in range(n))
        add("random", s)
    for _ in range(60):
        s = rng.choice(SENTENCES)
        enc = rng.choice(encs[:6])
        try:
            m = mojibake(s, enc)
        except UnicodeDecodeError:
            continue
        i = rng.randrange(len(m))
        add("random_mojibake", m[:i] + rng.choice(alphabet) + m[i:])
    return cases


def gen_is_bad(rng):
    cats = badness.MOJIBAKE_CATEGORIES
    pool = sorted(set(c for v in cats.values() for c in v if c != "-")) + \
        list("ÃÂÎÐØÙàâóÄ€œŠš¢£Ÿž\xa0\xad®©°·»–—´²³√≈‚ìîïòôúùû†π±∂≠™≤≥¥µøвЂГўВРСβΒΓΞΟĀāÆ")
    pool += list("abzAZ .,?!\n\t") + ["\u3000", "\u2003", "_", "1", "\u0661"]
    out = []
    for _ in range(3000):
        s = "".join(rng.choice(pool) for _ in range(rng.randrange(1, 7)))
        out.append([s, bool(badness.is_bad(s))])
    out.append(["ГўВЂВ A", bool(badness.is_bad("ГўВЂВ A"))])
    out.append(["xГўВЂВ\nA", bool(badness.is_bad("xГўВЂВ\nA"))])
    return out


def main():
    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    vocab = os.path.join(ROOT, "data", "bpe_simple_vocab_16e6.txt.gz")
    check_tokenizer(vocab)
    tok = Tokenizer(vocab, ftfy.fix_text)
    rng = random.Random(19)
    cases = []
    for cat, text in gen_cases(rng):
        fixed = ftfy.fix_text(text)
        # The C test reads the hex fields (cJSON strings stop at NUL).
        cases.append({"category": cat, "text": text, "ftfy": fixed,
                      "text_hex": text.encode("utf-8").hex(), "ftfy_hex": fixed.encode("utf-8").hex(),
                      "ids": tok.encode(text),
                      "idempotent": ftfy.fix_text(fixed) == fixed})
    bad = gen_is_bad(rng)
    doc = {
        "format": "clipc ftfy goldens 1",
        "made_by": "tools/make_ftfy_goldens.py",
        "ftfy": ftfy.__version__,
        "python_unicode": unicodedata.unidata_version,
        "fields": {
            "text": "input (text_hex: its UTF-8 in hex)",
            "ftfy": "ftfy.fix_text(text), default TextFixerConfig (ftfy_hex: its UTF-8 in hex)",
            "ids": "OpenAI SimpleTokenizer.encode(text) with the real ftfy (no SOT/EOT)",
            "idempotent": "fix_text(ftfy) == ftfy",
            "is_bad": "[text, ftfy.badness.is_bad(text)]",
        },
        "n_cases": len(cases),
        "cases": cases,
        "is_bad": bad,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    changed = sum(c["text"] != c["ftfy"] for c in cases)
    print("%d cases (%d changed by ftfy), %d is_bad probes -> %s" % (len(cases), changed, len(bad),
                                                                   os.path.relpath(OUT, ROOT)), file=sys.stderr)


if __name__ == "__main__":
    main()
