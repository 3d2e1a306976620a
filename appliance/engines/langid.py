"""Spoken language ID per utterance: which language to transcribe a caller's utterance in.

The session language (what the appliance last spoke) is a *prior*, never forced on Whisper.
Each utterance gets one language-detection pass (Whisper's language token probabilities,
restricted to the tenant's languages and renormalised), then :func:`decide`:

* the session language wins, or nothing else is ahead                -> KEEP (reason ``prior``)
* another language wins *clearly* (probability, margin over the session language) on an
  utterance long enough to judge                                      -> SWITCH (``clear``)
* another language barely ahead (probability or lead too small)       -> KEEP (``weak``)
* another language is ahead but not clearly, or the utterance is short -> CHECK: transcribe in
  that language and ask the text side (the brain's lexicons + lingua on the transcript);
  :func:`confirm` switches when both agree (``agree``), else keeps the session (``disagree``)
  and the utterance is transcribed again in the session language.

Before the caller has been answered once the session language is only the tenant default, so
the thresholds are lower (:data:`UNDECIDED`): the first words decide. Afterwards
(:data:`DECIDED`) the text check needs several content words, so "OK", names and numbers
never flip a language (the brain's :class:`~appliance.brain.understanding.language.LanguageTracker` applies
the same rule to the reply language). Pure functions with numbers; no I/O, no models.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any


class LangIdAction(enum.StrEnum):
    KEEP = "keep"
    SWITCH = "switch"
    CHECK = "check"  # transcribe in the candidate, then confirm() with the text's language


class LangIdReason(enum.StrEnum):
    SINGLE = "single"  # one configured language: nothing to decide
    NO_DETECTOR = "no_detector"  # the engine reported no probabilities
    PRIOR = "prior"  # the session language is (still) the most likely
    WEAK = "weak"  # another language is ahead, but too weakly to look twice
    CLEAR = "clear"  # another language wins clearly on a long enough utterance
    UNCLEAR = "unclear"  # another language is ahead: the transcript decides (CHECK)
    AGREE = "agree"  # detector and text agree on the other language: switch
    DISAGREE = "disagree"  # the text does not confirm the detector: keep the session


@dataclass(frozen=True, slots=True)
class LangIdParams:
    """Thresholds of :func:`decide` and :func:`confirm` (probabilities are over the allowed set)."""

    min_switch_s: float = 1.0  # shorter utterances never switch on the detector alone
    switch_probability: float = 0.8  # the other language's probability for a clear win
    switch_margin: float = 0.5  # ... and its lead over the session language
    check_probability: float = 0.4  # below this the other language is not worth a second pass
    check_margin: float = 0.1  # ... nor when it leads the session language by less than this
    text_confidence: float = 0.85  # the text side's confidence needed to agree
    text_min_words: int = 3  # content words the text needs to agree ("OK", names, numbers: fewer)


DECIDED = LangIdParams()
# The first utterance of a call: the session language is only the tenant default.
UNDECIDED = LangIdParams(
    min_switch_s=0.3,  # a first "Tere," (the reply language is still the brain tracker's call)
    switch_probability=0.6,
    switch_margin=0.25,
    check_probability=0.3,
    check_margin=0.0,
    text_confidence=0.7,  # both signals agree and the session language is only the default
    text_min_words=1,
)


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    """The decision for one utterance, as logged in the turn's timeline."""

    language: str  # transcribe (and hint the brain) in this language
    session: str  # the prior
    action: LangIdAction
    reason: LangIdReason
    detected: str | None = None  # the detector's best allowed language
    p_detected: float | None = None
    p_session: float | None = None
    duration_s: float = 0.0
    text_language: str | None = None  # CHECK: the transcript's language per the text side
    text_confidence: float | None = None
    text_words: int | None = None
    detect_ms: float | None = None  # the detection pass (filled by the caller that timed it)

    @property
    def switched(self) -> bool:
        return self.language != self.session

    @property
    def probability(self) -> float | None:
        """The detector's probability of the chosen language (the brain's hint weight)."""
        if self.language == self.detected:
            return self.p_detected
        if self.language == self.session:
            return self.p_session
        return None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["action"], out["reason"] = str(self.action), str(self.reason)
        for key in ("p_detected", "p_session", "text_confidence"):
            if out[key] is not None:
                out[key] = round(out[key], 4)
        out["duration_s"] = round(self.duration_s, 3)
        return out


def restrict(probs: Mapping[str, float] | list[tuple[str, float]], allowed: tuple[str, ...]) -> dict[str, float]:
    """Whisper's language probabilities restricted to ``allowed`` and renormalised (empty when
    none of them has any mass)."""
    items = probs.items() if isinstance(probs, Mapping) else probs
    kept = {lang: max(0.0, float(p)) for lang, p in items if lang in allowed}
    total = sum(kept.values())
    return {lang: p / total for lang, p in kept.items()} if total > 0 else {}


def decide(
    session: str,
    probs: Mapping[str, float],
    duration_s: float,
    params: LangIdParams = DECIDED,
    *,
    languages: tuple[str, ...] | None = None,
) -> LanguageChoice:
    """Choose the transcription language for one utterance from the detector's probabilities
    (already restricted to the allowed languages)."""
    base = LanguageChoice(session, session, LangIdAction.KEEP, LangIdReason.PRIOR, duration_s=duration_s)
    if languages is not None and len(languages) <= 1:
        return replace(base, reason=LangIdReason.SINGLE)
    if not probs:
        return replace(base, reason=LangIdReason.NO_DETECTOR)
    detected, p_top = max(probs.items(), key=lambda kv: (kv[1], kv[0] == session))
    p_session = probs.get(session, 0.0)
    base = replace(base, detected=detected, p_detected=p_top, p_session=p_session)
    if detected == session:
        return base
    clear = p_top >= params.switch_probability and p_top - p_session >= params.switch_margin
    if clear and duration_s >= params.min_switch_s:
        return replace(base, language=detected, action=LangIdAction.SWITCH, reason=LangIdReason.CLEAR)
    if p_top < params.check_probability or p_top - p_session < params.check_margin:
        return replace(base, reason=LangIdReason.WEAK)
    return replace(base, language=detected, action=LangIdAction.CHECK, reason=LangIdReason.UNCLEAR)


def confirm(
    choice: LanguageChoice,
    text_language: str | None,
    text_confidence: float,
    content_words: int,
    params: LangIdParams = DECIDED,
) -> LanguageChoice:
    """After a CHECK: switch only when the transcript (in the candidate language) is confidently
    that language with enough content words; otherwise keep the session language."""
    if choice.action is not LangIdAction.CHECK:
        return choice
    seen = replace(choice, text_language=text_language, text_confidence=text_confidence, text_words=content_words)
    agree = (
        text_language == choice.detected
        and text_confidence >= params.text_confidence
        and content_words >= params.text_min_words
    )
    if agree:
        return replace(seen, action=LangIdAction.SWITCH, reason=LangIdReason.AGREE)
    return replace(seen, language=choice.session, action=LangIdAction.KEEP, reason=LangIdReason.DISAGREE)


__all__ = [
    "DECIDED",
    "UNDECIDED",
    "LangIdAction",
    "LangIdParams",
    "LangIdReason",
    "LanguageChoice",
    "confirm",
    "decide",
    "restrict",
]
