"""Spoken language ID on a call: the voice side of :mod:`appliance.engines.langid`.

Per caller utterance the STT processor awaits :func:`transcribe_utterance`:
the engine detects the language among the tenant's languages (session language as the prior),
transcribes in the chosen one, and when the detector is unsure the transcript is checked with
the brain's text evidence (:class:`~appliance.brain.understanding.language.LanguageIdentifier`: the common-word
lexicons and lingua), so the same rules that keep "OK", names and numbers from flipping the
reply language also keep them from flipping the transcription language.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.brain.understanding.language import identifier_for
from appliance.engines.langid import DECIDED, UNDECIDED, LangIdParams
from appliance.engines.stt import STTEngine, TextLanguage, Transcript


def text_language(languages: Sequence[str]) -> TextLanguage:
    """(text) -> (language, confidence, content words) from the brain's evidence; a strong cue
    ("Tere", "Здравствуйте") counts as confident."""
    ident = identifier_for(tuple(languages))

    def check(text: str) -> tuple[str | None, float, int]:
        ev = ident.evidence(text)
        lang, conf = ev.top
        if ev.cue is not None and (lang is None or lang == ev.cue):
            return ev.cue, max(conf, 0.95), max(ev.content_words, 1)
        return lang, conf, ev.content_words

    return check


def params_for(decided: bool) -> LangIdParams:
    """The caller's first utterance decides more easily (the session language is only the
    tenant default then); afterwards the session language is a strong prior."""
    return DECIDED if decided else UNDECIDED


async def transcribe_utterance(
    stt: Any,
    pcm16: bytes,
    sample_rate: int,
    session_language: str,
    *,
    decided: bool,
    check: TextLanguage | None,
) -> Transcript:
    """One caller utterance: the engine detects the spoken language (session language as the
    prior) and transcribes in it, off the event loop (a supervised engine under its timeout).
    An engine that is not an :class:`STTEngine` (a narrow test seam) gets no language forced
    on it."""
    if isinstance(stt, STTEngine):
        return await stt.transcribe_choosing_async(
            pcm16, sample_rate, session_language, params=params_for(decided), text_language=check
        )
    result: Transcript = await stt.transcribe(pcm16, sample_rate, None)
    return result


__all__ = ["params_for", "text_language", "transcribe_utterance"]
