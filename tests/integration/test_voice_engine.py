"""The voice pipeline with the real brain (Engine on a real SQLite file): the TTS voice follows a
language switch mid-call (tiny Piper voices for en/ru, espeak-ng for et), and a slow tool on a
real (slow) HTTP booking backend makes the call say "one moment" through the per-call ``on_slow`` hook ``BrainPort.handle`` gets."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pipecat")
if shutil.which("espeak-ng") is None:  # pragma: no cover
    pytest.fail("espeak-ng is required: apt-get install -y espeak-ng", pytrace=False)

from appliance.brain.factory import build_brain  # noqa: E402
from appliance.channels.file_transport import run_call, write_wav  # noqa: E402
from appliance.core.clock import fixed_clock  # noqa: E402
from appliance.core.config import load_config  # noqa: E402
from appliance.engines.stt import ScriptedSTT, Transcript  # noqa: E402
from appliance.engines.tts import AudioChunk, EspeakTTS, MultiVoiceTTS, PiperTTS  # noqa: E402
from appliance.voice.pipeline import VoiceSettings  # noqa: E402
from appliance.voice.texts import voice_text  # noqa: E402
from tests.support.http_backend_server import serve_in_thread  # noqa: E402
from tests.support.speech import silence, speech  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


class Spy:
    """Wraps a TTS engine and records (engine name, language, text) per synthesis."""

    def __init__(self, engine: Any, name: str, log: list[tuple[str, str, str]]) -> None:
        self.engine, self.name, self.log = engine, name, log
        self.capabilities = engine.capabilities

    def supports(self, language: str) -> bool:
        return self.engine.supports(language)

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        self.log.append((self.name, language, text))
        return self.engine.synthesize_sync(text, language)

    async def synthesize(self, text: str, language: str) -> AudioChunk:
        return await asyncio.to_thread(self.synthesize_sync, text, language)


def config(tmp_path: Path, **over: Any) -> Any:
    overrides: dict[str, Any] = {"store": {"data_dir": str(tmp_path / "data")}, "llm": {"mode": "off"}}
    for k, v in over.items():
        overrides.setdefault(k, {}).update(v)
    return load_config(environ={}, use_system=False, overrides=overrides)


def test_language_switch_mid_call_switches_the_voice(tmp_path: Path, test_models: dict[str, Path]) -> None:
    said: list[tuple[str, str, str]] = []
    piper = PiperTTS({"en": test_models["piper"] / "tiny-en.onnx", "ru": test_models["piper"] / "tiny-ru.onnx"})
    tts = MultiVoiceTTS(Spy(piper, "piper", said), Spy(EspeakTTS(), "espeak", said))
    turns = [
        ("Hello, I would like to book a room for my cat", "en"),
        ("Извините, можно по-русски? Кошку зовут Мурка", "ru"),
        ("Vabandust, räägime hoopis eesti keeles, palun", "et"),
    ]
    pcm = silence(4.0)
    for text, lang in turns:
        pcm += speech(text, lang) + silence(5.0)
    write_wav(tmp_path / "in.wav", pcm)
    stt = ScriptedSTT([Transcript(text, lang, 0.95, 2.0) for text, lang in turns])
    cfg = config(tmp_path)

    async def main() -> Any:
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
        try:
            return await run_call(
                tmp_path / "in.wav",
                tmp_path / "out.wav",
                brain=brain,
                stt=stt,
                tts=tts,
                session_id="switch",
                config=cfg,
                greet=True,
            )
        finally:
            await brain.aclose()

    result = asyncio.run(main())
    assert result.errors == () and result.interruptions == 0, result.to_dict()
    assert [t.kind for t in result.turns] == ["greeting", "caller", "caller", "caller"]
    # which voice spoke each reply (every sentence of it)
    by_turn = [t.reply for t in result.turns]
    voices = []
    for reply in by_turn:
        used = {(name, lang) for name, lang, text in said if text.strip() and text.strip() in reply}
        assert len(used) == 1, (reply, said)
        voices.append(used.pop())
    assert voices == [("piper", "en"), ("piper", "en"), ("piper", "ru"), ("espeak", "et")]
    # the switch happened between replies, never inside one
    assert [lang for _, lang, _ in said] == sorted([lang for _, lang, _ in said], key=["en", "ru", "et"].index)


def test_slow_tool_says_one_moment_in_the_session_language(tmp_path: Path) -> None:
    with serve_in_thread() as srv:
        srv.knob("availability").delay_s = 1.2
        srv.knob("quote").delay_s = 1.2
        cfg = config(
            tmp_path,
            tools={"backend": "http", "http_url": srv.base_url, "http_token": srv.token, "slow_notice_s": 0.5},
        )
        script = [
            "Здравствуйте, хочу забронировать место для собаки Шарик с 10 по 15 декабря",
            "Меня зовут Иван Петров",
            "+372 5123 4567",
        ]
        pcm = silence(0.5)
        for text in script:
            pcm += speech(text, "ru") + silence(8.0)
        write_wav(tmp_path / "in.wav", pcm)
        said: list[tuple[str, str, str]] = []
        tts = Spy(EspeakTTS(), "espeak", said)

        async def main() -> Any:
            brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
            try:
                result = await run_call(
                    tmp_path / "in.wav",
                    tmp_path / "out.wav",
                    brain=brain,
                    stt=ScriptedSTT([Transcript(t, "ru", 0.95, 2.0) for t in script]),
                    tts=tts,
                    session_id="slow-ru",
                    config=cfg,
                    settings=VoiceSettings.from_config(cfg),
                )
                return result
            finally:
                await brain.aclose()

        result = asyncio.run(main())
        assert srv.calls["availability"] + srv.calls["quote"] >= 1
    assert result.errors == (), result.to_dict()
    # the notice came from the engine's slow-tool hook (not the whole-brain timer), in Russian,
    # once, before the answer of that turn
    assert [n["source"] for n in result.notices] == ["tool"], result.notices
    assert result.notices[0]["language"] == "ru"
    texts = [text for _, _, text in said]
    assert texts.count(voice_text("slow_notice", "ru")) == 1
    notice_at = texts.index(voice_text("slow_notice", "ru"))
    last = result.turns[-1]
    assert last.reply and texts[notice_at + 1] in last.reply
    c = sqlite3.connect(tmp_path / "data" / "appliance.db")
    try:
        stored = c.execute(
            "SELECT count(*) FROM turns WHERE session_id = 'slow-ru' AND role = 'assistant' AND first_audio IS NOT NULL"
        ).fetchone()
    finally:
        c.close()
    assert stored == (3,)
