"""Names to their base form: a pet or owner name said in a case ("для Барсика", "koerale Pätule")
is stored as the name ("Барсик", "Pätu").

Russian uses the pymorphy3 analyser (dictionary plus its guesser for unknown names): each word is
put in the nominative, keeping its gender ("Ивановой" -> "Иванова"). For Estonian no analyser is
light enough here (EstNLTK's Vabamorf wheel pulls pandas, matplotlib and nltk into the appliance;
see docs/EXTRACTION.md), so only a name that agrees in case with the pet word or noun right before
it loses that case ending ("koerale Pätule" -> "Pätu": the allative ``-le`` of both): agreement, not
a guess from the name alone. Its known limit: a name whose stem differs from its nominative keeps
the stem ("Reksile" -> "Reksi", not "Reks"), which only an analyser knows. English names are taken
as said.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# Estonian case endings a noun and the name after it share (longest first): allative, adessive,
# ablative, elative, inessive, comitative, translative, terminative, illative-ish "sse".
_ET_ENDINGS = ("ga", "le", "lt", "st", "ks", "ni", "sse", "l", "s")
# The words before a name whose case the name agrees with: pet words and "tuba" forms.
_ET_HEADS = re.compile(r"^(?:koer|kass|kutsik|kiisu|kutsu|lemmikloom|lemmik|loom|toa|tuba)\w*$", re.IGNORECASE)


@functools.cache
def _morph() -> Any:
    try:
        import pymorphy3

        return pymorphy3.MorphAnalyzer(lang="ru")
    except Exception as exc:  # a missing dictionary must not stop the appliance: names stay as said
        log.warning("pymorphy3 unavailable (%s); Russian names are stored as said", exc)
        return None


def _ru_word(word: str) -> str:
    morph = _morph()
    if morph is None:
        return word
    parses = morph.parse(word)
    # a pet's or person's name: name parses first, then animate ones ("Лайка" is a husky, not the
    # genitive of "лайк"); the likeliest of those decides
    named = (
        [p for p in parses if {"Name", "Surn", "Patr"} & set(p.tag.grammemes)]
        or [p for p in parses if "anim" in p.tag]
        or parses
    )
    best = named[0]
    if best.tag.case == "nomn":
        return word
    form = best.inflect({"nomn", "sing"}) or best.inflect({"nomn"})
    out = form.word if form is not None else best.normal_form
    return out[:1].upper() + out[1:] if word[:1].isupper() else out


def _et_word(word: str, head: str | None) -> str:
    if head is None or not _ET_HEADS.match(head):
        return word
    if head.lower() in ("toa", "tuba") and word.lower().endswith("le") and len(word) >= 4:
        return word[:-2]  # "tuba Pätule": a room for Pätu (the allative says for whom)
    for ending in _ET_ENDINGS:
        if head.lower().endswith(ending) and word.lower().endswith(ending) and len(word) - len(ending) >= 2:
            return word[: -len(ending)]
    return word


def base_name(name: str, *, before: str | None = None) -> str:
    """``name`` in its base form. ``before`` is the word said right before it (Estonian agreement)."""
    words = name.split()
    if _CYRILLIC.search(name):
        return " ".join(_ru_word(w) for w in words)
    if len(words) == 1:
        return _et_word(name, before)
    return name


def word_before(text: str, start: int) -> str | None:
    """The word right before position ``start`` in ``text``."""
    m = re.search(r"([^\W\d_]+)[\s,]*$", text[:start])
    return m.group(1) if m else None
