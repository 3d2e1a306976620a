"""Spoken language ID on a whole call: the real pipeline (Silero VAD, file transport), the real brain
on SQLite, espeak-ng audio and TTS. The STT is the scripted seam: each item says what the detector
"heard" (language, probability) and the transcript; the audio's real duration feeds the decision.
(tests/integration/test_voice_content.py does the same with a trained speech model.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from appliance.brain.factory import build_brain
from appliance.channels.file_transport import run_call, write_wav
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.messages import Channel
from appliance.engines.stt import ScriptedSTT, Transcript
from appliance.engines.tts import AudioChunk, EspeakTTS, TTSEngine
from tests.support.speech import silence, speech

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
GAP_S = 9.0  # long enough for each reply to finish before the caller speaks again


class RecordingTTS(TTSEngine):
    """espeak-ng, noting the language of every piece it speaks."""

    def __init__(self) -> None:
        self.inner = EspeakTTS()
        self.capabilities = self.inner.capabilities
        self.spoken: list[tuple[str, str]] = []

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        self.spoken.append((text, language))
        return self.inner.synthesize_sync(text, language)


def replies(tmp_path: Path, session: str) -> list[tuple[str, str]]:
    """(language, text) of the appliance's stored turns, greeting first."""
    with sqlite3.connect(f"file:{tmp_path / 'appliance.db'}?mode=ro", uri=True) as c:
        q = "SELECT language, text FROM turns WHERE session_id = ? AND role = 'assistant' ORDER BY seq"
        return list(c.execute(q, (session,)))


def call(tmp_path: Path, lines: list[tuple[str, str, str, float]], **tenant: Any) -> tuple[Any, RecordingTTS]:
    """``lines``: (spoken text, espeak language, detected language, its probability)."""
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"}, "tenant": tenant},
    )
    audio = silence(1.0)
    for text, lang, _, _ in lines:
        audio += silence(GAP_S) + speech(text, lang)
    write_wav(tmp_path / "in.wav", audio + silence(GAP_S))
    stt = ScriptedSTT([Transcript(text, det, p, 0.0) for text, _, det, p in lines], language=None)
    tts = RecordingTTS()

    async def go() -> Any:
        brain = await build_brain(cfg, clock=fixed_clock(NOW))
        try:

            async def greet() -> Any:
                return await brain.greet("lid-1", Channel.VOICE)

            return await run_call(
                tmp_path / "in.wav",
                tmp_path / "out.wav",
                brain=brain,
                stt=stt,
                tts=tts,
                session_id="lid-1",
                config=cfg,
                greeting=greet,
            )
        finally:
            await brain.aclose()

    return asyncio.run(go()), tts


def test_estonian_caller_on_an_english_line_then_ok_names_numbers_then_russian(tmp_path: Path) -> None:
    lines = [
        ("Tere, soovin broneerida koha koerale Muri", "et", "et", 0.96),  # first words: Estonian
        ("OK", "en", "en", 0.9),  # short, English-sounding: never flips
        ("John Smith", "en", "en", 0.93),  # a name
        ("5123 4567", "en", "en", 0.97),  # a number: long and clearly English to the detector
        ("Извините, можно по-русски? Я хочу забронировать место для собаки", "ru", "ru", 0.97),
    ]
    result, tts = call(tmp_path, lines)
    assert result.errors == ()
    stored = replies(tmp_path, "lid-1")
    assert [lang for lang, _ in stored] == ["en", "et", "et", "et", "et", "ru"], stored
    turns = result.caller_turns
    assert len(turns) == len(lines)
    first = turns[0].language_id
    assert first is not None and (first["session"], first["detected"], first["action"]) == ("en", "et", "switch")
    assert first["p_detected"] == 0.96 and first["p_session"] is not None  # both probabilities logged
    ok = turns[1].language_id
    assert ok is not None and ok["session"] == "et" and ok["language"] == "et" and ok["reason"] == "disagree"
    assert turns[4].language_id is not None and turns[4].language_id["language"] == "ru"
    # the TTS voice follows the session language from the first reply on
    langs = [lang for _, lang in tts.spoken]
    first_et = langs.index("et")
    assert set(langs[:first_et]) == {"en"}  # the greeting
    assert stored[1][1].startswith(tts.spoken[first_et][0])  # the first reply, spoken with the Estonian voice
    assert langs[-1] == "ru"


def test_multilingual_greeting_speaks_each_hello_in_its_language(tmp_path: Path) -> None:
    result, tts = call(
        tmp_path, [("Здравствуйте, хочу забронировать место для собаки", "ru", "ru", 0.95)], greeting="multilingual"
    )
    assert result.errors == ()
    assert tts.spoken[:3] == [("Hello!", "en"), ("Tere!", "et"), ("Здравствуйте!", "ru")]
    assert tts.spoken[3][1] == "en"  # the introduction, in the default language
    stored = replies(tmp_path, "lid-1")
    assert stored[0][1].startswith("Hello! Tere! Здравствуйте! This is ")
    assert [lang for lang, _ in stored] == ["en", "ru"]
