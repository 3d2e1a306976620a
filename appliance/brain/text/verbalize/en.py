"""English number words (British: "one hundred and five")."""

from __future__ import annotations

_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_ORD_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _en_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_EN_UNITS[hundreds]} hundred")
    if rest:
        if rest < 20:
            words = _EN_UNITS[rest]
        else:
            tens, unit = divmod(rest, 10)
            words = _EN_TENS[tens] + (f"-{_EN_UNITS[unit]}" if unit else "")
        parts.append(("and " if hundreds else "") + words)
    return " ".join(parts)


def _en_cardinal(n: int) -> str:
    if n == 0:
        return "zero"
    out = []
    for value, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        big, n = divmod(n, value)
        if big:
            out.append(f"{_en_below_1000(big)} {name}")
    if n:
        below = _en_below_1000(n)
        out.append(("and " + below) if out and n < 100 else below)
    return " ".join(out)


def _en_ordinal(n: int) -> str:
    words = _en_cardinal(n)
    head, sep, last = words.rpartition(" ")
    pre, hyphen, last_word = last.rpartition("-")
    if last_word in _EN_ORD_IRREGULAR:
        ordinal = _EN_ORD_IRREGULAR[last_word]
    elif last_word.endswith("y"):
        ordinal = last_word[:-1] + "ieth"
    else:
        ordinal = last_word + "th"
    return head + sep + pre + hyphen + ordinal


def _en_year(y: int) -> str:
    if 2000 <= y < 2010 or y % 100 == 0:
        return _en_cardinal(y)
    hi, lo = divmod(y, 100)
    return f"{_en_cardinal(hi)} {_en_cardinal(lo) if lo >= 10 else 'oh ' + _en_cardinal(lo)}"
