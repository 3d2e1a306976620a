"""The trained test speech model (models/stt-test/) really hears words, through the production engine.

espeak-ng speech (tests/support/speech.py) goes through ``FasterWhisperSTT`` (faster-whisper,
CTranslate2, int8) choosing among en/et/ru, exactly as a production model is loaded; the words and
the language must come back, at 16 kHz and from an 8 kHz telephone line. The corpus's booking
dialogues must also complete a booking with the rule-based brain, so voice tests built on them
exercise a whole booking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.support.stt_corpus import (
    BOOKING_DIALOGUES,
    LANGUAGES,
    held_out_phrases,
    spoken_parts,
    training_phrases,
    words,
    written,
)
from tests.support.trained_stt import TRAINED_STT, as_written, narrowband, punctuates, trained_stt, trained_stt_path

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # Tuesday


@pytest.fixture(scope="module")
def stt():
    engine = trained_stt(threads=2)
    engine.load()
    return engine


def _speech(text: str, language: str) -> bytes:
    from tests.support.speech import speech

    return speech(text, language)


def test_the_model_is_committed_small_and_complete() -> None:
    folder = trained_stt_path()
    names = {p.name for p in folder.iterdir()}
    assert {"model.bin", "config.json", "vocabulary.json", "tokenizer.json", "preprocessor_config.json"} <= names
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 15 * 1024 * 1024
    training = json.loads((folder / "TRAINING.json").read_text())
    assert training["recipe"] == "scripts/train_test_stt.py" and training["wall_s"] > 0


def test_the_corpus_is_deterministic_and_held_out_words_are_known() -> None:
    train = training_phrases()
    assert len(train) >= 600 and train == training_phrases()
    known = {(p.language, w) for p in train for w in words(p.text)}
    held = held_out_phrases()
    assert held and not {(p.language, p.text) for p in held} & {(p.language, p.text) for p in train}
    assert all((p.language, w) in known for p in held for w in words(p.text))
    texts = {(p.language, p.text) for p in train}
    assert all((lang, u) in texts for lang in LANGUAGES for d in BOOKING_DIALOGUES[lang] for u in d)


def _heard(stt, text: str, language: str, band: str):
    pcm, rate = _speech(text, language), 16000
    if band == "8k":
        pcm, rate = narrowband(pcm), 8000
    return stt.transcribe_sync(pcm, rate)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("band", ["16k", "8k"])
def test_the_language_of_every_utterance_of_a_second_or_more_is_heard(stt, language: str, band: str) -> None:
    for dialogue in BOOKING_DIALOGUES[language]:
        for text in dialogue:
            got = _heard(stt, text, language, band)
            if got.duration >= 1.0:
                assert got.language == language, (band, text, got)


def test_the_engine_may_write_a_plus_sign_and_no_other_non_speech_symbol(stt) -> None:
    """faster-whisper's default suppresses "+" too, so "+372 5123 4567" could never be written."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    from appliance.engines.stt import suppressed_tokens

    tok = stt.model.hf_tokenizer
    plus = {tok.token_to_id("+"), tok.token_to_id("Ġ+")}
    default = set(get_suppressed_tokens(Tokenizer(tok, True, task="transcribe", language="en"), [-1]))
    ours = suppressed_tokens(stt.model)
    assert plus <= default and not plus & set(ours) and set(ours) == default - plus
    assert suppressed_tokens(stt.model) == ours  # a fresh list each time, as faster-whisper extends it
    pcm = _speech("+372 5123 4567", "ru")
    assert stt.transcribe_sync(pcm, 16000).text == as_written("+372 5123 4567")


# Every line, "+372 5123 4567" too (the engine lets faster-whisper write "+": suppressed_tokens).
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("band", ["16k", "8k"])
def test_booking_dialogues_are_heard_word_for_word(stt, language: str, band: str) -> None:
    for dialogue in BOOKING_DIALOGUES[language]:
        for text in dialogue:
            got = _heard(stt, text, language, band)
            assert words(got.text) == words(text), (band, text, got)
            assert got.language == language, (band, text, got)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("band", ["16k", "8k"])
def test_a_finished_sentence_is_written_with_its_closing_mark(stt, language: str, band: str) -> None:
    """The model writes the final full stop Whisper writes ("Next weekend.", "Jah."), so the voice
    path ends a finished statement after a short silence (voice/endpointing.py) rather than 0.5 s."""
    assert punctuates()
    for dialogue in BOOKING_DIALOGUES[language]:
        for text in dialogue:
            got = _heard(stt, text, language, band)
            assert got.text == written(text), (band, text, got)


def _first_pieces(language: str) -> list[str]:
    """The first pieces of the training sentences with a comma, said alone with it ("Tere,")."""
    return sorted({spoken_parts(p.text)[0] for p in training_phrases(language) if "," in p.text})


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("band", ["16k", "8k"])
def test_a_greeting_before_a_pause_waits_the_normal_silence(stt, language: str, band: str) -> None:
    """A caller who pauses after "Tere," / "Здравствуйте," / "Hello," is not answered yet: the model
    writes a comma there (English) or a full stop (it writes "Tere." and "Здравствуйте."), and the
    end-of-turn rules wait the normal silence after a greeting either way (rule 4)."""
    from appliance.voice.endpointing import GREETINGS, TurnVerdict, turn_verdict

    greetings = {g for phrases in GREETINGS.values() for g in phrases}
    pieces = [p for p in _first_pieces(language) if words(p) and " ".join(words(p)) in greetings]
    assert len(pieces) >= 2, pieces
    for piece in pieces:
        got = _heard(stt, piece, language, band)
        assert words(got.text) == words(piece), (band, piece, got)
        assert turn_verdict(got.text, language) is TurnVerdict.UNFINISHED, (band, piece, got)


@pytest.mark.parametrize("band", ["16k", "8k"])
def test_an_english_piece_said_with_a_comma_is_written_with_it(stt, band: str) -> None:
    """The comma's rising tone is heard: "No," "Sorry," "Actually a week," keep their comma, so a
    pause there never ends the turn (rule 2). (In Estonian and Russian the model writes a full stop
    after such a piece - "Minu nimi on Mari Tamm." - and a pause there may end the turn early;
    docs/BENCHMARKS.md, "Stage 9".)"""
    from appliance.voice.endpointing import TurnVerdict, turn_verdict

    pieces = _first_pieces("en")
    assert len(pieces) >= 4, pieces
    for piece in pieces:
        got = _heard(stt, piece, "en", band)
        assert got.text == piece and turn_verdict(got.text, "en") is TurnVerdict.UNFINISHED, (band, piece, got)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "I need a room for my cat Luna from the 10th to the 15th"),
        ("et", "Tere, soovin broneerida koha koerale Muri"),
        ("ru", "Здравствуйте, хочу забронировать место для кошки"),
    ],
)
def test_detect_language_gives_probabilities_for_the_three_languages(stt, language: str, text: str) -> None:
    """One encoder pass (faster-whisper's detect_language) ranks the spoken language first."""
    from appliance.engines.base import pcm16_to_float32

    _, _, probs = stt.model.detect_language(pcm16_to_float32(_speech(text, language)))
    ours = {code: p for code, p in probs if code in LANGUAGES}
    assert set(ours) == set(LANGUAGES)
    assert max(ours, key=ours.__getitem__) == language and ours[language] > 0.9, ours


def test_silence_is_not_heard_as_words(stt) -> None:
    pcm = (np.random.default_rng(0).standard_normal(16000) * 30).astype("<i2").tobytes()
    got = stt.transcribe_sync(pcm)
    assert len(words(got.text)) <= 3, got  # a tiny model may guess a word; it must not ramble


# --- the dialogues complete a booking with the rule-based brain (text in, SQLite row out) ---


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("punctuated", [False, True], ids=["as-said", "as-written"])
def test_booking_dialogues_book_with_the_rule_based_brain(tmp_path: Path, language: str, punctuated: bool) -> None:
    from appliance.brain.factory import build_brain
    from appliance.core.clock import fixed_clock
    from appliance.core.config import load_config
    from appliance.core.messages import Channel, Utterance

    for n, dialogue in enumerate(BOOKING_DIALOGUES[language]):
        data = tmp_path / f"d{n}"
        cfg = load_config(
            environ={}, use_system=False, overrides={"store": {"data_dir": str(data)}, "llm": {"mode": "off"}}
        )
        loop = asyncio.new_event_loop()
        brain = loop.run_until_complete(build_brain(cfg, clock=fixed_clock(NOW), llm=None))
        try:
            reply = None
            for said in dialogue:
                text = written(said) if punctuated else said  # "Mari Tamm." as the model writes it
                reply = loop.run_until_complete(brain.handle(Utterance(f"s-stt-{n}", Channel.VOICE, text)))
                assert reply.language == language, (text, reply.text)
            assert reply is not None and reply.booking_id, (dialogue, reply)
        finally:
            loop.run_until_complete(brain.aclose())
            loop.close()
        con = sqlite3.connect(f"file:{cfg.db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT pet_name, pet_type, start_date, owner_name, owner_phone, status FROM bookings")
            (pet_name, pet_type, start, owner, phone, status), *rest = rows.fetchall()
        finally:
            con.close()
        assert not rest and status == "confirmed"
        assert pet_name and pet_type in ("dog", "cat") and start and owner and phone == "+37251234567"


def test_model_folder_is_where_the_helper_says() -> None:
    assert TRAINED_STT == Path(__file__).resolve().parents[2] / "models" / "stt-test"
