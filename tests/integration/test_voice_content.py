"""Whole bookings by voice with a speech model that really hears words: ``appliance call`` with
espeak-ng audio, the trained test Whisper (models/stt-test, through the production FasterWhisperSTT
and spoken language ID), Silero VAD and the real brain on SQLite. Only sentences the model was
trained on (tests/support/stt_corpus.py). The tenant's default language is English throughout.
Bookings are compared with the row the same words make when typed (the brain's text path)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.channels.file_transport import write_wav
from tests.support.speech import silence, speech
from tests.support.stt_corpus import BOOKING_DIALOGUES, training_phrases
from tests.support.trained_stt import trained_stt_path

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-12-01T10:00:00+02:00"  # a Tuesday
GAP_S = 12.0  # the caller waits for the whole reply (read-backs are long) before speaking again
BOOKING_COLUMNS = "pet_name, pet_type, start_date, end_date, owner_name, owner_phone, status"


def call(tmp_path: Path, lines: list[tuple[str, str]]) -> tuple[dict, dict]:
    """``lines``: (text, language) the caller says, in order. Returns (summary, timeline); the
    timeline gets ``starts``: where each line begins in the call's audio (seconds)."""
    trained = {(p.language, p.text) for p in training_phrases()}
    assert all((lang, text) in trained for text, lang in lines), "say only what the model was trained on"
    audio, starts = silence(0.5), []
    for text, lang in lines:
        audio += silence(GAP_S)
        starts.append(len(audio) / 2 / 16000)
        audio += speech(text, lang)
    write_wav(tmp_path / "caller.wav", audio + silence(GAP_S))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE")}
    environ.update(APPLIANCE__VOICE__STT_MODEL=str(trained_stt_path()), APPLIANCE__LLM__MODE="off")
    argv = [sys.executable, "-m", "appliance.cli", "call", "--wav", str(tmp_path / "caller.wav")]
    argv += ["--out", str(tmp_path / "out.wav"), "--timeline", str(tmp_path / "timeline.json")]
    argv += ["--data-dir", str(tmp_path / "data"), "--now", NOW, "--session", "voice-1"]
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    timeline = json.loads((tmp_path / "timeline.json").read_text(encoding="utf-8"))
    timeline["starts"] = starts
    return summary, timeline


def reply_languages(tmp_path: Path) -> list[str]:
    with sqlite3.connect(f"file:{tmp_path / 'data' / 'appliance.db'}?mode=ro", uri=True) as c:
        q = "SELECT language FROM turns WHERE session_id = 'voice-1' AND role = 'assistant' ORDER BY seq"
        return [lang for (lang,) in c.execute(q)]


def bookings(db: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return list(c.execute(f"SELECT {BOOKING_COLUMNS} FROM bookings"))


def booked_by_text(tmp_path: Path, lines: list[tuple[str, str]]) -> tuple:
    """The booking row the same words make when typed (the brain's text path), for comparison."""
    from appliance.brain.factory import build_brain
    from appliance.chat_cli import parse_now
    from appliance.core.config import load_config
    from appliance.core.messages import Channel, Utterance

    data = tmp_path / "by-text"
    cfg = load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(data)}, "llm": {"mode": "off"}}
    )

    async def go() -> None:
        brain = await build_brain(cfg, clock=parse_now(NOW), llm=None)
        try:
            for text, _ in lines:
                await brain.handle(Utterance("text-1", Channel.VOICE, text))
        finally:
            await brain.aclose()

    asyncio.run(go())
    (row,) = bookings(cfg.db_path)
    return row


# (The Russian caller says "+372 5123 4567": booked since the engine lets faster-whisper write "+".)
@pytest.mark.parametrize("language", ["en", "et", "ru"])
def test_a_whole_booking_by_voice(tmp_path: Path, language: str) -> None:
    lines = [(text, language) for text in BOOKING_DIALOGUES[language][0]]
    summary, timeline = call(tmp_path, lines)
    # (a pause at a comma may end a turn early: "Tere," then the rest; the brain copes)
    assert summary["errors"] == [] and summary["turns"] >= len(lines), summary
    assert len(summary["booking_ids"]) == 1, summary
    (row,) = bookings(tmp_path / "data" / "appliance.db")
    assert row == booked_by_text(tmp_path, lines)  # the same slots as the same words typed
    assert row[-1] == "confirmed" and row[5] == "+37251234567"
    heard = [t["text"] for t in timeline["turns"] if t["kind"] == "caller"]
    assert heard and all(h for h in heard)
    # every reply after the caller's first words is in the caller's language (greeting: English)
    langs = reply_languages(tmp_path)
    assert langs[0] == "en" and len(langs) == 1 + summary["turns"] and set(langs[1:]) == {language}, langs


def test_an_estonian_caller_on_an_english_line_gets_an_estonian_first_reply(tmp_path: Path) -> None:
    first = BOOKING_DIALOGUES["et"][1][0]  # "Tere, soovin broneerida koha koerale Muri"
    summary, timeline = call(tmp_path, [(first, "et")])
    assert summary["errors"] == []
    langs = reply_languages(tmp_path)
    assert langs[0] == "en" and len(langs) >= 2 and set(langs[1:]) == {"et"}, langs
    turn = [t for t in timeline["turns"] if t["kind"] == "caller"][0]  # the first words
    lid = turn["language_id"]
    assert lid["session"] == "en" and lid["language"] == "et" and lid["action"] == "switch", lid
    assert lid["p_detected"] > lid["p_session"]


def test_a_caller_switching_to_russian_is_answered_in_russian_within_one_turn(tmp_path: Path) -> None:
    lines = [(BOOKING_DIALOGUES["en"][0][0], "en")] + [(text, "ru") for text in BOOKING_DIALOGUES["ru"][0]]
    summary, timeline = call(tmp_path, lines)
    assert summary["errors"] == [], summary
    caller = [t for t in timeline["turns"] if t["kind"] == "caller"]
    ru_starts = timeline["starts"][1] - 0.35  # the turn's speech start may lead the audio a little
    first_ru = next(i for i, t in enumerate(caller) if t["audio_s"]["speech_start"] >= ru_starts)
    langs = reply_languages(tmp_path)  # greeting, then one reply per caller turn
    assert set(langs[: first_ru + 1]) == {"en"} and set(langs[first_ru + 1 :]) == {"ru"}, langs
    switch = caller[first_ru]["language_id"]
    assert (switch["session"], switch["language"]) == ("en", "ru"), switch
