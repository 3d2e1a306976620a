"""Spoken language ID per utterance: the pure decision (appliance.engines.langid), with numbers."""

from __future__ import annotations

import pytest

from appliance.engines.langid import (
    DECIDED,
    UNDECIDED,
    LangIdAction,
    LangIdReason,
    confirm,
    decide,
    restrict,
)
from appliance.engines.stt import ScriptedSTT, Transcript

K, S, C = LangIdAction.KEEP, LangIdAction.SWITCH, LangIdAction.CHECK

# session, {lang: p}, duration_s, params, -> action, language, reason
DECIDE_CASES = [
    # the session language wins: keep, whatever the duration
    ("en", {"en": 0.9, "et": 0.07, "ru": 0.03}, 2.0, DECIDED, K, "en", LangIdReason.PRIOR),
    ("en", {"en": 0.4, "et": 0.35, "ru": 0.25}, 0.3, DECIDED, K, "en", LangIdReason.PRIOR),
    # an Estonian caller on an English line, long enough and clear: switch on the detector alone
    ("en", {"en": 0.05, "et": 0.93, "ru": 0.02}, 1.8, DECIDED, S, "et", LangIdReason.CLEAR),
    ("en", {"en": 0.1, "et": 0.1, "ru": 0.8}, 1.0, DECIDED, S, "ru", LangIdReason.CLEAR),
    # clear but too short to judge ("OK", a name): the transcript must agree first
    ("en", {"en": 0.05, "et": 0.93, "ru": 0.02}, 0.7, DECIDED, C, "et", LangIdReason.UNCLEAR),
    # long but not clear (margin 0.7-0.3 < 0.5): check
    ("en", {"en": 0.3, "et": 0.7, "ru": 0.0}, 2.5, DECIDED, C, "et", LangIdReason.UNCLEAR),
    # another language barely ahead of nothing: not worth a second pass
    ("en", {"en": 0.32, "et": 0.35, "ru": 0.33}, 2.5, DECIDED, K, "en", LangIdReason.WEAK),
    # ... or ahead by less than 0.1 of the session language: a near tie keeps the session language
    ("en", {"en": 0.38, "et": 0.45, "ru": 0.17}, 2.5, DECIDED, K, "en", LangIdReason.WEAK),
    ("en", {"en": 0.38, "et": 0.45, "ru": 0.17}, 2.5, UNDECIDED, C, "et", LangIdReason.UNCLEAR),
    # the first utterance of a call: lower bars (0.6 s, p 0.6, margin 0.25)
    ("en", {"en": 0.2, "et": 0.75, "ru": 0.05}, 0.8, UNDECIDED, S, "et", LangIdReason.CLEAR),
    ("en", {"en": 0.2, "et": 0.75, "ru": 0.05}, 0.8, DECIDED, C, "et", LangIdReason.UNCLEAR),
    ("en", {"en": 0.05, "et": 0.05, "ru": 0.9}, 0.2, UNDECIDED, C, "ru", LangIdReason.UNCLEAR),
    ("en", {"en": 0.04, "et": 0.96, "ru": 0.0}, 0.38, UNDECIDED, S, "et", LangIdReason.CLEAR),  # a first "Tere,"
    # no detector (scripted seam, single-language engine): the session language
    ("et", {}, 2.0, DECIDED, K, "et", LangIdReason.NO_DETECTOR),
]


@pytest.mark.parametrize(("session", "probs", "duration", "params", "action", "language", "reason"), DECIDE_CASES)
def test_decide(session, probs, duration, params, action, language, reason) -> None:
    choice = decide(session, probs, duration, params)
    assert (choice.action, choice.language, choice.reason) == (action, language, reason)
    assert choice.session == session
    if probs:
        assert choice.p_session == pytest.approx(probs.get(session, 0.0))
        assert choice.p_detected == pytest.approx(max(probs.values()))


def test_single_language_tenant_never_detects() -> None:
    choice = decide("et", {"et": 0.1, "en": 0.9}, 3.0, languages=("et",))
    assert (choice.action, choice.language, choice.reason) == (K, "et", LangIdReason.SINGLE)


def test_a_tie_goes_to_the_session_language() -> None:
    assert decide("ru", {"en": 0.5, "ru": 0.5}, 2.0).language == "ru"


# detector choice (session en, candidate et), text (language, confidence, words), params -> action, language
CONFIRM_CASES = [
    (("et", 0.97, 5), DECIDED, S, "et", LangIdReason.AGREE),
    (("et", 0.97, 2), DECIDED, K, "en", LangIdReason.DISAGREE),  # a name: "Mari Tamm"
    (("et", 0.97, 0), DECIDED, K, "en", LangIdReason.DISAGREE),  # "OK", "12"
    (("et", 0.6, 5), DECIDED, K, "en", LangIdReason.DISAGREE),  # lingua unsure
    (("en", 0.99, 6), DECIDED, K, "en", LangIdReason.DISAGREE),  # Whisper kept English words
    ((None, 0.0, 0), DECIDED, K, "en", LangIdReason.DISAGREE),  # empty transcript
    (("et", 0.95, 1), UNDECIDED, S, "et", LangIdReason.AGREE),  # a first "Tere"
    (("et", 0.75, 2), UNDECIDED, S, "et", LangIdReason.AGREE),  # first words: a lower bar for the text
    (("et", 0.6, 2), UNDECIDED, K, "en", LangIdReason.DISAGREE),
]


@pytest.mark.parametrize(("text", "params", "action", "language", "reason"), CONFIRM_CASES)
def test_confirm(text, params, action, language, reason) -> None:
    checking = decide("en", {"en": 0.3, "et": 0.7}, 0.25, params)  # too short for a clear win
    assert checking.action is C
    done = confirm(checking, *text, params)
    assert (done.action, done.language, done.reason) == (action, language, reason)
    assert done.text_language == text[0] and done.text_words == text[2]


def test_confirm_leaves_a_final_choice_alone() -> None:
    kept = decide("en", {"en": 0.9, "et": 0.1}, 2.0)
    assert confirm(kept, "et", 1.0, 9) is kept


def test_restrict_renormalises_over_the_allowed_languages() -> None:
    probs = restrict([("de", 0.5), ("en", 0.3), ("et", 0.1), ("ru", 0.1)], ("en", "et", "ru"))
    assert probs == pytest.approx({"en": 0.6, "et": 0.2, "ru": 0.2})
    assert restrict({"de": 1.0}, ("en", "et")) == {}


def test_the_choice_is_logged_with_both_probabilities() -> None:
    d = decide("en", {"en": 0.05, "et": 0.93, "ru": 0.02}, 1.8).to_dict()
    assert d["session"] == "en" and d["detected"] == "et" and d["action"] == "switch"
    assert d["p_detected"] == 0.93 and d["p_session"] == 0.05 and d["duration_s"] == 1.8


# --- the engine-level flow with the scripted seam ----------------------------------------


def _pcm(seconds: float) -> bytes:
    """A tone: the decision judges seconds of sound, not of silence."""
    import numpy as np

    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 200 * t) * 32767).astype("<i2").tobytes()


def test_language_id_judges_the_speech_not_the_padding() -> None:
    from appliance.engines.base import voiced_seconds

    padded = bytes(16000) + _pcm(0.4) + bytes(32000)  # 0.5 s pre-roll, 0.4 s of sound, 1 s of silence
    assert voiced_seconds(padded, 16000) == pytest.approx(0.4, abs=0.03)
    assert voiced_seconds(bytes(3200), 16000) == 0.0


def _agree(text: str) -> tuple[str | None, float, int]:
    words = text.split()
    return ("et" if "tere" in text.lower() or "soovin" in text else "en"), 0.97, len(words)


def test_engine_switches_transcribes_in_the_chosen_language_and_reports_it() -> None:
    stt = ScriptedSTT([Transcript("Tere, ma soovin tuba", "et", 0.95, 0.0)], language=None)
    out = stt.transcribe_choosing(_pcm(1.5), 16000, "en", params=DECIDED, text_language=_agree)
    assert out.language == "et" and out.probability == pytest.approx(0.95)
    assert out.language_id is not None and out.language_id.reason is LangIdReason.CLEAR
    assert stt.calls[0][2] == "et"  # transcribed in Estonian, not the session's English


def test_engine_checks_a_short_utterance_once_and_keeps_the_session_language() -> None:
    stt = ScriptedSTT([Transcript("Mari Tamm", "et", 0.95, 0.0), "next"], language=None)
    out = stt.transcribe_choosing(_pcm(0.6), 16000, "en", params=DECIDED, text_language=_agree)
    assert out.language == "en" and out.language_id is not None
    assert out.language_id.reason is LangIdReason.DISAGREE
    assert len(stt.calls) == 1  # one scripted item per utterance, even when checked


def test_engine_without_probabilities_keeps_the_session_language() -> None:
    stt = ScriptedSTT(["hello there"], language=None)
    out = stt.transcribe_choosing(_pcm(1.0), 16000, "ru")
    assert out.language == "ru" and out.language_id is not None
    assert out.language_id.reason is LangIdReason.NO_DETECTOR
