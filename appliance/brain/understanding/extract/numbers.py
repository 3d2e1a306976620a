"""Phone numbers and booking numbers (digits typed, spaced, dashed or spoken as words)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

from appliance.brain.understanding.extract.lexicon import DIGIT_WORDS

# A run of digits with light separators; dots are left out so "10.12.2026" is not a number run.
_RUN_RE = re.compile(r"(?<![\w+])(\+|00)?\s?\(?\d(?:[ \t\-()]{0,3}\d)+")
_DATEISH_RE = re.compile(r"(?<![\d.])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?)(?![\d])")
_GROUP_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"[^\W\d_]+|\d+|\+")
_PLUS_WORDS = frozenset({"plus", "pluss", "плюс"})


@dataclass(frozen=True, slots=True)
class NumberResult:
    phone: str | None = None
    phone_span: tuple[int, int] | None = None
    booking_id: str | None = None
    booking_span: tuple[int, int] | None = None


def _spoken_runs(norm: str) -> list[tuple[str, int, int]]:
    """Runs of >= 4 digits spoken as words ("five one two three ..."), as digit strings with spans."""
    out: list[tuple[str, int, int]] = []
    digits = ""
    start = end = -1
    count_words = 0
    for m in _WORD_RE.finditer(norm):
        w = m.group(0)
        d = DIGIT_WORDS.get(w)
        if d is None and w.isdigit() and len(w) <= 4:
            d = w
        if d is None and w in _PLUS_WORDS and not digits:
            d = "+"
        if d is not None:
            if not digits:
                start = m.start()
            digits += d
            end = m.end()
            count_words += not w.isdigit()
            continue
        if count_words >= 2 and sum(c.isdigit() for c in digits) >= 6:
            out.append((digits, start, end))
        digits, count_words = "", 0
    if count_words >= 2 and sum(c.isdigit() for c in digits) >= 6:
        out.append((digits, start, end))
    return out


def _phone(candidate: str, region: str) -> str | None:
    try:
        num = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _is_booking(digits: str) -> bool:
    return len(digits) == 6 and digits[0] != "0"


def find_numbers(
    text: str,
    norm: str,
    region: str,
    awaiting: str | None = None,
    date_spans: Sequence[tuple[int, int]] = (),
) -> NumberResult:
    """The first valid phone (E.164) and the first booking number (6 digits, first 1-9) in the text.

    ``date_spans`` (character ranges the date grammar used) are blanked first, so "dec 10 2026" is
    never read as booking number 102026.
    """
    masked = _DATEISH_RE.sub(lambda m: " " * len(m.group(0)), text)
    for s, e in date_spans:
        masked = masked[:s] + " " * (e - s) + masked[e:]
    runs: list[tuple[str, int, int]] = []
    for m in _RUN_RE.finditer(masked):
        raw = m.group(0).strip()
        runs.append((raw, m.start() + (len(m.group(0)) - len(m.group(0).lstrip())), m.end()))
    if any(w in DIGIT_WORDS for w in norm.split()):
        runs.extend(_spoken_runs(norm))
    phone = booking = None
    phone_span = booking_span = None
    for raw, s, e in runs:
        digits = "".join(_GROUP_RE.findall(raw))
        if booking is None and _is_booking(digits) and not raw.startswith(("+", "00")):
            booking, booking_span = digits, (s, e)
            continue
        if phone is None and len(digits) >= 7:
            p = _phone(raw if raw.startswith("+") else digits, region)
            if p is not None:
                phone, phone_span = p, (s, e)
                continue
            if booking is None:  # "booking 123456 on the 10 ..." glued to another number: try whole groups
                groups = _GROUP_RE.findall(raw)
                for a in range(len(groups)):
                    for b in range(a + 1, len(groups) + 1):
                        cand = "".join(groups[a:b])
                        if _is_booking(cand):
                            booking, booking_span = cand, (s, e)
                            break
                    if booking:
                        break
    if phone is None and awaiting == "owner_phone":
        digits = "".join(_GROUP_RE.findall(masked))
        if len(digits) >= 7:
            p = _phone(digits, region)
            if p is not None:
                phone, phone_span = p, (0, len(text))
    return NumberResult(phone, phone_span, booking, booking_span)
