#!/usr/bin/python3
"""Second, independent oracle for trak's CLIP tokenizer (internal/tokenizer).

Runs CLIP's reference text pipeline, as CLIP's Python tokenizer defines it,
except its first step (the ftfy library's fix_text, not installable here):

    html.unescape twice, str.strip, every run of regex \\s -> " ", str.strip,
    str.lower, split with the open_clip pattern (`regex` module, IGNORECASE),
    UTF-8 bytes -> byte symbols -> BPE by merge rank.

It writes internal/tokenizer/testdata/python_reference.json with
  ids       the ids of every corpus string;
  unescape  [input, html.unescape(input)] for every HTML5 entity name and
            a set of corner cases;
  lower     str.lower of every code point whose lowercase differs from it.

Usage (from the repository root; needs Debian's python3-regex):
    /usr/bin/python3 scripts/tokenizer/reference.py
"""

import gzip
import html
import html.entities
import json
import pathlib
import sys
import unicodedata

import regex

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "internal" / "tokenizer"
NUM_MERGES = 49408 - 2 * 256 - 2
START, END = "<start_of_text>", "<end_of_text>"


def byte_symbols():
    """Byte -> one-character symbol, and the bytes in vocabulary order."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    rest = [b for b in range(256) if b not in printable]
    sym = {b: chr(b) for b in printable}
    for n, b in enumerate(rest):
        sym[b] = chr(0x100 + n)
    return sym, printable + rest


def load_vocab():
    lines = gzip.decompress((PKG / "bpe_simple_vocab_16e6.txt.gz").read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split(" ")) for line in lines[1 : 1 + NUM_MERGES]]
    sym, order = byte_symbols()
    tokens = [sym[b] for b in order] + [sym[b] + "</w>" for b in order]
    tokens += ["".join(m) for m in merges] + [START, END]
    assert len(tokens) == 49408
    return sym, {t: i for i, t in enumerate(tokens)}, {m: r for r, m in enumerate(merges)}


SYM, IDS, RANKS = load_vocab()
PATTERN = regex.compile(
    r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


def clean(text):
    text = html.unescape(html.unescape(text)).strip()
    text = regex.sub(r"\s+", " ", text).strip()
    return text.lower()


def bpe(piece):
    word = [SYM[b] for b in piece.encode("utf-8")]
    word[-1] += "</w>"
    while len(word) > 1:
        ranked = [(RANKS.get(p, None), i) for i, p in enumerate(zip(word, word[1:]))]
        ranked = [(r, i) for r, i in ranked if r is not None]
        if not ranked:
            break
        # The lowest-ranked adjacent pair; all its occurrences are merged.
        _, at = min(ranked)
        pair = word[at], word[at + 1]
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return [IDS[t] for t in word]


def encode(text):
    ids = []
    for piece in PATTERN.findall(clean(text)):
        if piece == START:
            ids.append(IDS[START])
        elif piece == END:
            ids.append(IDS[END])
        else:
            ids.extend(bpe(piece))
    return ids


def unescape_cases():
    names = sorted(html.entities.html5)
    cases = ["&" + n for n in names]
    cases += ["&" + n + "zz;" for n in names if not n.endswith(";")]
    cases += [
        "&#0;", "&#13;", "&#128;", "&#129;", "&#159;", "&#160;", "&#1;", "&#11;", "&#12;", "&#31;", "&#127;",
        "&#xD800;", "&#xDFFF;", "&#x10FFFF;", "&#x110000;", "&#99999999999999999999;", "&#xFDD0;", "&#xFDEF;",
        "&#xFFFE;", "&#x1FFFF;", "&#x10FFFE;", "&#65", "&#65abc", "&#x41", "&#X41;", "&#x;", "&#;", "&#", "&",
        "&&amp;", "&amp;&amp", "&;", "& amp;", "&am", "&a", "&ampé", "&amp\r;", "&amp\x0b;", "&notin", "&notin;",
        "&notit;", "&noti", "&" + "a" * 40, "&not" + "x" * 40, "&CounterClockwiseContourIntegral;",
        "&CounterClockwiseContourIntegralX;", "&hellip", "&copy2020", "&Amp;", "&lt;&gt;", "&#x3c;", "&#0065;",
        "&#x0000041;", "&#56320;", "&#x1F600;", "&#128512", "&eacute&eacute;", "&quot\"", "&amp#38;",
    ]
    return [[c, html.unescape(c)] for c in cases]


def lower_table():
    table = {}
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF or c == 0x03A3:
            continue
        ch = chr(c)
        if ch.lower() != ch:
            table[str(c)] = ch.lower()
    return table


def main():
    corpus = json.loads((PKG / "testdata" / "corpus.json").read_text("utf-8"))
    out = {
        "oracle": "CLIP reference pipeline without ftfy (Python %s, regex %s, Unicode %s)"
        % (sys.version.split()[0], regex.__version__, unicodedata.unidata_version),
        "ids": [encode(s) for s in corpus],
        "unescape": unescape_cases(),
        "lower": lower_table(),
    }
    path = PKG / "testdata" / "python_reference.json"
    with path.open("w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(' "oracle": %s,\n' % json.dumps(out["oracle"]))
        f.write(' "ids": [\n' + ",\n".join("  " + json.dumps(a) for a in out["ids"]) + "\n ],\n")
        f.write(' "unescape": [\n' + ",\n".join("  " + json.dumps(p) for p in out["unescape"]) + "\n ],\n")
        f.write(' "lower": ' + json.dumps(out["lower"], sort_keys=True) + "\n}\n")
    print("wrote %s (%d corpus strings)" % (path.relative_to(ROOT), len(corpus)))


if __name__ == "__main__":
    main()
