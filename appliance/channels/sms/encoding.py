"""How a text travels as SMS: GSM-7 when every character is in the GSM 03.38 alphabet
(the maintained ``gsm0338`` codec decides, escapes such as ``€`` counting two septets),
else UCS-2; and how many segments it takes, known before anything is sent.

One segment holds 160 GSM-7 septets or 70 UCS-2 units; a concatenated message loses room
to its header: 153 septets or 67 units per part. An escape pair and a UTF-16 surrogate pair
are never split across parts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

_CODEC = "gsm03.38"


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


SINGLE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
MULTI = {Encoding.GSM7: 153, Encoding.UCS2: 67}


@dataclass(frozen=True, slots=True)
class SmsPlan:
    """A text as it will go out: its encoding, its parts, and the units (septets or UTF-16 units)."""

    text: str
    encoding: Encoding
    parts: tuple[str, ...]
    units: int

    @property
    def segments(self) -> int:
        return len(self.parts)


def _units(ch: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(ch.encode(_CODEC))  # 2 for the escaped characters (€ [ ] { } ...)
    return len(ch.encode("utf-16-be")) // 2  # 2 for characters outside the BMP


def is_gsm7(text: str) -> bool:
    try:
        text.encode(_CODEC)
    except (UnicodeEncodeError, KeyError):
        return False
    return True


def plan(text: str) -> SmsPlan:
    encoding = Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2
    sizes = [_units(ch, encoding) for ch in text]
    total = sum(sizes)
    if total <= SINGLE[encoding]:
        return SmsPlan(text, encoding, (text,), total)
    room = MULTI[encoding]
    parts: list[str] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        if used + size > room:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return SmsPlan(text, encoding, tuple(parts), total)


def fit(text: str, max_segments: int) -> str:
    """Shorten ``text`` (at a word boundary, with an ellipsis) until it fits ``max_segments``."""
    if plan(text).segments <= max_segments:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(",;:") + "…"
        if plan(candidate).segments <= max_segments:
            return candidate
    p = plan(text + "…")
    return "".join(p.parts[:max_segments])
