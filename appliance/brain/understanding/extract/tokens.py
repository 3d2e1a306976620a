"""Tokenizer: lowercased text -> classified tokens with character offsets.

Offsets index the *original* text (normalisation keeps the length), so every
slot can be grounded in the words it came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from appliance.brain.understanding.extract.lexicon import (
    LEXICONS,
    MAX_PHRASE,
    NUM,
    OTHER,
    PHRASES,
    Lex,
)

DATE = "date"  # a numeric date token: "10.12", "10.12.2026", "2026-12-10"; val = (day, month, year|None)
YEAR = "year"  # a four-digit year 1900..2099
DASH = "dash"

_TOKEN_RE = re.compile(
    r"""
    (?P<iso>(?<!\d)\d{4}-\d{1,2}-\d{1,2}(?!\d))
   |(?P<dmy>(?<![\d.])\d{1,2}[./]\d{1,2}(?:[./](?:\d{4}|\d{2}))?(?![\d/]|\.\d))\.?
   |(?P<num>\d+)(?:(?P<suf>st|nd|rd|th)\b|-?(?P<rsuf>го|ого|е|ое)\b)?(?P<dot>\.(?!\d))?
   |(?P<word>[^\W\d_]+(?:['’-][^\W\d_]+)*)
   |(?P<dash>[-–—])
    """,
    re.X,
)


class Tok:
    """One token. Mutable and slotted: built and consumed inside one extract() call."""

    __slots__ = ("kind", "val", "role", "strength", "tens", "implied", "start", "end", "text")

    def __init__(self, kind: str, val: object, start: int, end: int, text: str, lex: Lex | None = None) -> None:
        self.kind = kind
        self.val = val
        self.start = start
        self.end = end
        self.text = text
        self.role = lex.role if lex else None
        self.strength = lex.strength if lex else 0
        self.tens = lex.tens if lex else False
        self.implied = lex.implied if lex else 0

    def __repr__(self) -> str:  # debugging aid
        return f"Tok({self.kind}, {self.val!r}, {self.text!r})"


def normalize(text: str) -> str:
    """Lowercase and fold "ё" -> "е", keeping the length (offsets stay valid)."""
    low = text.lower()
    if len(low) != len(text):  # e.g. "İ" lowercases to two characters
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.replace("ё", "е").replace("’", "'")


def _lookup(word: str, langs: Sequence[str]) -> Lex | None:
    for lang in langs:
        lex = LEXICONS[lang].get(word)
        if lex is not None:
            return lex
    return None


def tokenize(norm: str, langs: Sequence[str]) -> list[Tok]:
    """Split ``norm`` (from :func:`normalize`) into classified tokens, session language first."""
    raw: list[Tok] = []
    for m in _TOKEN_RE.finditer(norm):
        s, e = m.span()
        g = m.lastgroup
        if g == "word":
            raw.append(Tok(OTHER, None, s, e, m.group("word")))
        elif g == "num" or m.group("num") is not None:
            digits = m.group("num")
            v = int(digits)
            if len(digits) == 4 and 1900 <= v <= 2099:
                raw.append(Tok(YEAR, v, s, e, m.group(0)))
                continue
            t = Tok(NUM, v, s, e, m.group(0))
            if len(digits) > 2:
                t.strength = -1  # never a day
            elif m.group("suf") or m.group("rsuf"):
                t.strength = 2
            elif m.group("dot"):
                t.strength = 1
            raw.append(t)
        elif m.group("iso"):
            y, mo, d = (int(x) for x in m.group("iso").split("-"))
            raw.append(Tok(DATE, (d, mo, y), s, e, m.group(0)))
        elif m.group("dmy"):
            parts = [int(x) for x in re.split(r"[./]", m.group("dmy"))]
            year = parts[2] if len(parts) == 3 else None
            if year is not None and year < 100:
                year += 2000
            raw.append(Tok(DATE, (parts[0], parts[1], year), s, e, m.group(0)))
        else:
            raw.append(Tok(DASH, None, s, e, m.group(0)))
    # classify words: phrases first, then single words in the languages' order
    out: list[Tok] = []
    i, n = 0, len(raw)
    while i < n:
        t = raw[i]
        if t.kind != OTHER:
            out.append(t)
            i += 1
            continue
        matched = False
        for size in range(min(MAX_PHRASE, n - i), 1, -1):
            key = tuple(x.text for x in raw[i : i + size])
            lex = PHRASES.get(key)
            if lex is not None:
                last = raw[i + size - 1]
                out.append(Tok(lex.kind, lex.val, t.start, last.end, " ".join(key), lex))
                i += size
                matched = True
                break
        if matched:
            continue
        lex = _lookup(t.text, langs)
        if lex is not None:
            nt = Tok(lex.kind, lex.val, t.start, t.end, t.text, lex)
            out.append(nt)
        else:
            out.append(t)
        i += 1
    return _merge_compounds(out)


def _merge_compounds(toks: list[Tok]) -> list[Tok]:
    """Join "twenty one" / "двадцать первого" / "kahekümne üheks" into one number token."""
    if len(toks) < 2:
        return toks
    out: list[Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if (
            t.kind == NUM
            and t.tens
            and i + 1 < len(toks)
            and toks[i + 1].kind == NUM
            and not toks[i + 1].tens
            and isinstance(toks[i + 1].val, int)
            and 1 <= toks[i + 1].val <= 9  # type: ignore[operator]
            and toks[i + 1].text.isalpha()
        ):
            u = toks[i + 1]
            merged = Tok(NUM, int(t.val) + int(u.val), t.start, u.end, f"{t.text} {u.text}")  # type: ignore[call-overload]
            merged.strength, merged.role, merged.implied = u.strength, u.role, u.implied
            out.append(merged)
            i += 2
            continue
        out.append(t)
        i += 1
    return out
