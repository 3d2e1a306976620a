"""Language identification and the per-session tracker, with lingua's real models (shipped in the wheel)."""

from __future__ import annotations

import json

import pytest

from appliance.brain.understanding.language import (
    LanguageIdentifier,
    LanguageTracker,
    UnsupportedLanguage,
    detect,
    is_language,
    validate_languages,
)
from appliance.core.errors import ConfigError

LANGS = ("en", "et", "ru")


def tracker(default: str = "en", **kw: object) -> LanguageTracker:
    return LanguageTracker(LANGS, default, **kw)  # type: ignore[arg-type]


# --- first words decide ----------------------------------------------------------------

FIRST_UTTERANCES = [
    ("en", "Hi, I'd like to book a room for my dog next weekend."),
    ("en", "Do you have any free rooms for a cat from Friday?"),
    ("en", "How much does it cost per night?"),
    ("et", "Tere, ma sooviksin oma koerale toa broneerida."),
    ("et", "Kas teil on järgmisel nädalavahetusel vaba kassituba?"),
    ("et", "Kui palju üks öö maksab?"),
    ("ru", "Здравствуйте, я хочу забронировать номер для собаки."),
    ("ru", "У вас есть свободные места для кошки на выходные?"),
    ("ru", "Сколько стоит одна ночь?"),
]


@pytest.mark.parametrize(("lang", "text"), FIRST_UTTERANCES)
@pytest.mark.parametrize("default", LANGS)
def test_first_sentence_decides(lang: str, text: str, default: str) -> None:
    d = tracker(default).observe(text)
    assert (d.language, d.decided, d.switched) == (lang, True, False)
    assert d.confidence >= 0.85


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("Tere", "et", "greeting"),
        ("Tere!", "et", "greeting"),
        ("Hello", "en", "greeting"),
        ("Здравствуйте", "ru", "script"),
        ("Алло", "ru", "script"),
        ("Tere päevast", "et", "greeting"),
        ("Good morning", "en", "greeting"),
    ],
)
@pytest.mark.parametrize("default", LANGS)
def test_greeting_sets_first_language(text: str, lang: str, reason: str, default: str) -> None:
    d = tracker(default).observe(text)
    assert (d.language, d.decided, d.reason) == (lang, True, reason)


@pytest.mark.parametrize("token", ["OK", "Max", "12", "okay", "...", "Mhm"])
def test_neutral_first_token_keeps_default_and_waits(token: str) -> None:
    t = tracker("et")
    d = t.observe(token)
    assert (d.language, d.decided, d.reason) == ("et", False, "default")


def test_words_are_buffered_until_confident() -> None:
    t = tracker("en")
    assert not t.observe("Max").decided
    d = t.observe("Jaan Tamm, koerale")  # buffer now has enough Estonian evidence
    assert (d.language, d.decided) == ("et", True)


def test_word_budget_forces_a_decision() -> None:
    t = tracker("en", confidence=0.999, word_budget=4)
    d1 = t.observe("Max Rex")
    assert not d1.decided
    d2 = t.observe("Bella Luna")
    assert d2.decided and d2.reason == "budget"
    assert d2.language in LANGS


# --- short tokens never flip; confident switches do -------------------------------------------


SHORT = [
    "OK",
    "ok",
    "Tere",
    "Здравствуйте",
    "Max",
    "12",
    "da",
    "да",
    "jah",
    "ja",
    "Ei",
    "нет",
    "yes",
    "Aitäh",
    "Спасибо",
    "Okei, aitäh",
    "Да, да",
    "Bella 12",
]


@pytest.mark.parametrize("start", FIRST_UTTERANCES[::3])
def test_short_tokens_never_flip(start: tuple[str, str]) -> None:
    lang, text = start
    t = tracker()
    assert t.observe(text).language == lang
    for token in SHORT:
        d = t.observe(token)
        assert (d.language, d.switched) == (lang, False), token


SWITCH_TO = {
    "en": "Sorry, could you please tell me the price in English?",
    "et": "Vabandust, kas te saaksite mulle hinna öelda?",
    "ru": "Извините, а можно узнать цену ещё раз?",
}


@pytest.mark.parametrize("src", LANGS)
@pytest.mark.parametrize("dst", LANGS)
def test_confident_switch_mid_session(src: str, dst: str) -> None:
    t = tracker()
    start = next(text for lang, text in FIRST_UTTERANCES if lang == src)
    assert t.observe(start).language == src
    d = t.observe(SWITCH_TO[dst])
    assert d.language == dst
    assert d.switched == (src != dst)
    assert t.observe("OK").language == dst  # and stays


def test_two_words_are_not_enough_to_switch() -> None:
    t = tracker()
    t.observe("Hello, I want to book a room for my dog")
    assert t.observe("Да, хорошо").language == "en"
    assert t.observe("Jah, sobib").language == "en"
    assert t.observe("Да, хорошо, спасибо большое").language == "ru"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("in English, please", "en"),
        ("Можно по-русски?", "ru"),
        ("Kas saab eesti keeles?", "et"),
        ("Räägite vene keeles?", "ru"),
    ],
)
def test_explicit_request_switches_even_when_short(text: str, lang: str) -> None:
    t = tracker()
    start = next(text for code, text in FIRST_UTTERANCES if code != lang)
    t.observe(start)
    d = t.observe(text)
    assert (d.language, d.reason) == (lang, "requested")


# --- hints from speech recognition ---------------------------------------------------------------


def test_hint_combines_with_text() -> None:
    ident = LanguageIdentifier(LANGS)
    text = "Halloo Tamm"  # ambiguous on its own
    alone = dict(ident.evidence(text).scores)
    with_et = dict(ident.evidence(text, "et", 0.95).scores)
    with_en = dict(ident.evidence(text, "en", 0.95).scores)
    assert with_et["et"] > alone["et"]
    assert with_en["en"] > alone["en"]


def test_hint_cannot_override_confident_text() -> None:
    t = tracker()
    d = t.observe("Hello, I would like to book a room for my cat", hint="ru", hint_probability=0.99)
    assert d.language == "en"
    d = tracker().observe("Tere, ma sooviksin oma koerale toa broneerida.", hint="en", hint_probability=0.99)
    assert d.language == "et"


@pytest.mark.parametrize(("hint", "prob"), [("ru", 0.3), ("fi", 0.99), ("xx", 0.99), ("ru", None), (None, 0.9)])
def test_unsure_or_unconfigured_hints_are_ignored(hint: str | None, prob: float | None) -> None:
    ident = LanguageIdentifier(LANGS)
    text = "Halloo Tamm"
    assert dict(ident.evidence(text, hint, prob).scores) == pytest.approx(dict(ident.evidence(text).scores))


def test_hint_tips_an_undecided_buffer() -> None:
    # Two Estonian-looking names: not decisive as text, but with a confident Whisper hint it is.
    plain = tracker(confidence=0.9).observe("Halloo Tamm")
    hinted = tracker(confidence=0.9).observe("Halloo Tamm", hint="et", hint_probability=0.95)
    assert hinted.language == "et"
    assert hinted.confidence > plain.confidence or plain.language != "et"


def test_hint_alone_does_not_flip_a_decided_session() -> None:
    t = tracker()
    t.observe("Hello, I want to book a room for my dog")
    assert t.observe("Max", hint="et", hint_probability=0.99).language == "en"


# --- mixed-language input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Tere, I want to book a room for my dog", "en"),  # Estonian greeting, English request
        ("Hello, ma tahaksin broneerida toa oma koerale", "et"),
        ("Hi, мне нужен номер для собаки", "ru"),
        ("Здравствуйте, my dog Max needs a room for three nights", "en"),
    ],
)
def test_mixed_language_goes_with_the_content(text: str, lang: str) -> None:
    assert tracker().observe(text).language == lang


def test_mixed_short_reply_keeps_session() -> None:
    t = tracker()
    t.observe("Tere, kas teil on vaba tuba homseks?")
    assert t.observe("OK, thanks").language == "et"
    assert t.observe("Max, 12 kg").language == "et"


# --- persistence ----------------------------------------------------------------------------------


def test_serialisation_round_trip() -> None:
    t = tracker()
    t.observe("Max")  # undecided, buffered
    data = json.loads(json.dumps(t.to_dict()))
    t2 = LanguageTracker.from_dict(data, LANGS, "en")
    assert t2.to_dict() == t.to_dict()
    d = t2.observe("Jaan Tamm, koerale")
    assert (d.language, d.decided) == ("et", True)
    t3 = LanguageTracker.from_dict(json.loads(json.dumps(t2.to_dict())), LANGS, "en")
    assert (t3.language, t3.decided) == ("et", True)
    assert t3.observe("OK").language == "et"


def test_from_dict_with_language_no_longer_configured_starts_afresh() -> None:
    t = LanguageTracker.from_dict({"version": 1, "language": "ru", "decided": True}, ("en", "et"), "et")
    assert (t.language, t.decided) == ("et", False)
    assert LanguageTracker.from_dict({}, LANGS, "en").language == "en"


# --- configuration ---------------------------------------------------------------------------------


def test_other_supported_languages_work() -> None:
    t = LanguageTracker(("fi", "sv", "en"), "en")
    assert t.observe("Hyvää päivää, haluaisin varata huoneen koiralleni").language == "fi"
    assert t.observe("God dag, jag skulle vilja boka ett rum för min hund").language == "sv"


@pytest.mark.parametrize("code", ["xx", "EN", "eng", ""])
def test_unsupported_language_is_a_config_error(code: str) -> None:
    with pytest.raises(UnsupportedLanguage) as exc:
        validate_languages(["en", code])
    assert isinstance(exc.value, ConfigError) and isinstance(exc.value, ValueError)
    assert repr(code) in str(exc.value)


def test_default_must_be_configured() -> None:
    with pytest.raises(UnsupportedLanguage):
        LanguageTracker(LANGS, "fi")


def test_single_language_tenant_is_always_decided() -> None:
    t = LanguageTracker(("et",), "et")
    assert t.observe("Hello, I want to book a room").language == "et"


# --- detect / is_language -------------------------------------------------------------------------


def test_detect_ranks_configured_languages() -> None:
    ranked = detect("Kui palju see maksab?")
    assert ranked[0][0] == "et" and ranked[0][1] >= 0.85
    assert {lang for lang, _ in ranked} == set(LANGS)
    assert detect("12 ... !") == []


@pytest.mark.parametrize(
    ("text", "lang", "ok"),
    [
        ("Your booking for Max is confirmed.", "en", True),
        ("Your booking for Max is confirmed.", "et", False),
        ("Broneering Maxile on kinnitatud.", "et", True),
        ("Broneering Maxile on kinnitatud.", "en", False),
        ("Ваше бронирование подтверждено.", "ru", True),
        ("Ваше бронирование подтверждено.", "en", False),
        ("Your booking is confirmed.", "ru", False),
        ("Max", "ru", True),  # names and numbers pass in any language
        ("48213", "et", True),
        ("OK", "en", True),
    ],
)
def test_is_language(text: str, lang: str, ok: bool) -> None:
    assert is_language(text, lang) is ok


def test_tracker_is_language_uses_session_language() -> None:
    t = tracker()
    t.observe("Здравствуйте, я хочу забронировать номер для собаки.")
    assert t.is_language("Конечно, на какие даты?")
    assert not t.is_language("Of course, which dates would you like?")
