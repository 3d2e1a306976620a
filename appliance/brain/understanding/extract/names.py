"""Pet types, pet names and owner names."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

from appliance.brain.understanding.extract.lexicon import NEVER_NAMES, PET_WORDS, WORD_RE

_NEG_WORDS = frozenset({"not", "mitte", "не"})
_PET_ALT = "|".join(sorted((re.escape(w) for w in PET_WORDS), key=len, reverse=True))

# Strong cues: whatever follows is a name (validated). Patterns run on the normalised (lowercase) text.
_PET_CUES = [
    re.compile(p)
    for p in (
        r"\b(?:his|her|its|their)\s+name\s+is\s+",
        r"\b(?:dog|cat|puppy|kitten|pet)(?:'s)?\s+name\s+is\s+",
        r"\b(?:he|she|it)(?:'s|\s+is)\s+called\s+",
        r"\b(?:called|named)\s+",
        r"\b(?:tema|ta|selle|koera|kassi|looma|lemmiku|lemmiklooma|kutsika)\s+nimi\s+on\s+",
        r"\bnimega\s+",
        r"\b(?:teda|seda)\s+kutsutakse\s+",
        r"\b(?:его|ее|её|собаку|кошку|кота|пса|щенка|котенка|питомца|песика)\s+зовут\s+",
        r"\bпо\s+кличке\s+",
        r"\bкличка\s+(?:у\s+(?:него|нее)\s+)?(?:[-—:]\s*)?",
        r"\b(?:его|ее)\s+имя\s+",
    )
]
# Weak cues: the next word must be capitalised in the original text.
_PET_WEAK = [
    re.compile(p)
    for p in (
        rf"\b(?:my|our|the|a|minu|mu|meie|мой|моя|моего|мою|наш|наша)\s+(?:{_PET_ALT})\s+",
        rf"(?:^|[\s,.;!?])(?:{_PET_ALT})\s+",
        r"\bfor\s+",
        r"\b(?:book|board|bring|drop\s+off|broneerida|broneerin|tuua|toon|забронировать|оставить|оставлю|привезу)\s+",
        r"\b(?:toa|tuba)\s+",  # "broneerida toa Pätule"
        r"\bдля\s+",  # "номер для Барсика"
    )
]
_PET_AFTER = re.compile(r"\s+(?:the|is\s+(?:my|a|an|our))\s+(?:dog|cat|puppy|kitten)\b")

_OWNER_CUES = [
    re.compile(p)
    for p in (
        r"\bmy\s+name\s+is\s+",
        r"\bmy\s+name's\s+",
        r"\bcall\s+me\s+",
        r"\b(?:minu|mu)\s+nimi\s+on\s+",
        r"\bменя\s+зовут\s+",
        r"\b(?:мое|моё)\s+имя\s+",
        r"\bмоя\s+фамилия\s+",
        r"\bна\s+имя\s+",  # "бронь на имя Ивановой Марии"
        r"\b(?:nimele|nime\s+peale)\s+",  # "broneering Mari Tamme nimele" is after; "nimele Mari Tamm"
    )
]
_OWNER_WEAK = [
    re.compile(p)
    for p in (
        r"\bi'm\s+",
        r"\bi\s+am\s+",
        r"\bthis\s+is\s+",
        r"\b(?:mina\s+)?olen\s+",
        r"\bsiin\s+(?:on\s+)?",
        r"(?:^|[\s,.;!?])я\s+",
        r"(?:^|[\s,.;!?])это\s+",
    )
]

# Fillers stripped from a short answer to "what is the name?".
_FILLER_RE = re.compile(
    r"^(?:(?:well|um+|uh+|oh|so|okay|ok|yes|yeah|jah|nii|да|ну|так|ээ+)[\s,]+)*"
    r"(?:(?:it's|it\s+is|its|he's|she's|he\s+is|she\s+is|that's|this\s+is|i'm|i\s+am|"
    r"(?:his|her|its|my|the)\s+name\s+is|my\s+name's|name\s+is|it's\s+called|they\s+call\s+(?:him|her)|"
    r"call\s+me|see\s+on|ta\s+on|tema\s+on|tema\s+nimi\s+on|ta\s+nimi\s+on|minu\s+nimi\s+on|mu\s+nimi\s+on|"
    r"nimi\s+on|olen|mina\s+olen|это|его\s+зовут|ее\s+зовут|зовут|меня\s+зовут|кличка|я)\s+)?",
)
_TRAIL_RE = re.compile(r"[\s,.!?;:]*(?:please|palun|пожалуйста|thanks|aitäh|спасибо)?[\s,.!?;:]*$")


def _is_name_word(word: str) -> bool:
    low = word.lower().replace("ё", "е")
    return len(low) >= 2 and low not in NEVER_NAMES and not low.isdigit()


def _cap(word: str) -> str:
    if word.islower():
        return "-".join(p[:1].upper() + p[1:] for p in word.split("-"))
    return word


def _take_name(text: str, pos: int, max_words: int, need_capital: bool) -> tuple[str, int, int] | None:
    """Up to ``max_words`` name words starting at ``pos`` (stopping at punctuation or a non-name)."""
    words: list[str] = []
    start = end = -1
    i = pos
    for _ in range(max_words):
        m = WORD_RE.match(text, i)
        if m is None:
            break
        w = m.group(0)
        if not _is_name_word(w):
            break
        if (need_capital or words) and not w[:1].isupper():
            # later words must be capitalised unless the whole name is typed in lowercase
            if need_capital or not words[0].islower():
                break
        words.append(w)
        if start < 0:
            start = m.start()
        end = m.end()
        gap = re.match(r"[ \t]+", text[end:])
        if gap is None:
            break
        i = end + gap.end()
    if not words:
        return None
    return " ".join(_cap(w) for w in words), start, end


def pet_type(norm: str, pet_types: Sequence[str]) -> tuple[str, tuple[int, int]] | None:
    """The first pet type mentioned that is not negated ("not a dog, a cat" -> cat)."""
    extra = _extra_pet_re(tuple(pet_types))
    best: tuple[int, str, tuple[int, int]] | None = None
    for m in WORD_RE.finditer(norm):
        w = m.group(0)
        canon = PET_WORDS.get(w)
        if canon is None or canon not in pet_types:
            continue
        if _negated(norm, m.start()):
            continue
        best = (m.start(), canon, m.span())
        break
    if extra is not None:
        for m in extra.finditer(norm):
            if _negated(norm, m.start()):
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), _canon_extra(m.group(0), pet_types), m.span())
            break
    if best is None:
        return None
    return best[1], best[2]


@lru_cache(maxsize=32)
def _extra_pet_re(pet_types: tuple[str, ...]) -> re.Pattern[str] | None:
    extra = [p.lower() for p in pet_types if p.lower() not in ("dog", "cat")]
    if not extra:
        return None
    alt = "|".join(re.escape(p) for p in sorted(extra, key=len, reverse=True))
    return re.compile(rf"\b(?:{alt})(?:s|es)?\b")


def _canon_extra(word: str, pet_types: Sequence[str]) -> str:
    for p in pet_types:
        pl = p.lower()
        if word in (pl, pl + "s", pl + "es"):
            return p
    return word


def _negated(norm: str, pos: int) -> bool:
    before = norm[max(0, pos - 12) : pos].replace(",", " ").split()
    return any(w in _NEG_WORDS for w in before[-2:])


def pet_name(
    text: str, norm: str, awaiting: str | None, exclude: str | None = None
) -> tuple[str, tuple[int, int]] | None:
    """The pet's name; ``exclude`` is the owner's name found in the same turn (never both)."""
    for got in _pet_names(text, norm, awaiting):
        if got[0] != exclude:
            return got
    return None


def _pet_names(text: str, norm: str, awaiting: str | None) -> Iterator[tuple[str, tuple[int, int]]]:
    if awaiting == "pet_name":
        short = short_answer(text, 2)
        if short is not None:
            yield short
    for rx in _PET_CUES:
        for m in rx.finditer(norm):
            if norm[max(0, m.start() - 5) : m.start()].endswith(("меня ", "my ")) and "name" not in m.group(0):
                continue
            got = _take_name(text, m.end(), 2, need_capital=False)
            if got:
                yield got[0], (got[1], got[2])
    for rx in _PET_WEAK:
        for m in rx.finditer(norm):
            got = _take_name(text, m.end(), 2, need_capital=True)
            if got:
                yield got[0], (got[1], got[2])
    for m in WORD_RE.finditer(text):  # "Max the dog", "Rex is my dog"
        if _PET_AFTER.match(norm, m.end()) and m.group(0)[:1].isupper() and _is_name_word(m.group(0)):
            yield _cap(m.group(0)), m.span()


def owner_name(text: str, norm: str, awaiting: str | None) -> tuple[str, tuple[int, int]] | None:
    if awaiting == "owner_name":
        short = short_answer(text, 3)
        if short is not None:
            return short
    for rx in _OWNER_CUES:
        m = rx.search(norm)
        if m:
            got = _take_name(text, m.end(), 3, need_capital=False)
            if got:
                return got[0], (got[1], got[2])
    for rx in _OWNER_WEAK if awaiting != "pet_name" else ():
        for m in rx.finditer(norm):
            got = _take_name(text, m.end(), 3, need_capital=True)
            if got:
                return got[0], (got[1], got[2])
    return None


def short_answer(text: str, max_words: int) -> tuple[str, tuple[int, int]] | None:
    """A one-to-``max_words`` word answer, fillers stripped: "It's Max." -> "Max"."""
    low = text.lower().replace("ё", "е")
    lead = len(low) - len(low.lstrip())
    m = _FILLER_RE.match(low, lead)
    pos = m.end() if m else lead
    tail = _TRAIL_RE.search(low, pos)
    stop = tail.start() if tail else len(text)
    body = text[pos:stop]
    words = WORD_RE.findall(body)
    if not words or len(words) > max_words or re.search(r"[\d@]", body):
        return None
    if not all(_is_name_word(w) for w in words):
        return None
    rest = re.sub(r"[\s,.'’\-]+", "", body)
    if rest != "".join(w.replace("'", "").replace("’", "").replace("-", "") for w in words):
        return None
    first = re.search(re.escape(words[0]), text[pos:]).start() + pos  # type: ignore[union-attr]
    return " ".join(_cap(w) for w in words), (first, stop)
