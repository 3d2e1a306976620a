"""Streamed replies: the first sentence of a knowledge-base answer is synthesised while the LLM is
still phrasing the rest (real brain on SQLite, real pipeline with Silero VAD and the file transport;
the LLM and TTS are paced seams, the STT is scripted)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from appliance.brain.factory import build_brain
from appliance.channels.file_transport import run_call, write_wav
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.engines.stt import ScriptedSTT, Transcript
from appliance.voice.texts import voice_text
from appliance.voice.timeline import Mark
from tests.support.paced import VACCINATION_ANSWER, PacedLLM, PacedTTS
from tests.support.speech import silence, speech

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
QUESTION = "Which vaccinations does my dog need?"


def stored_replies(tmp_path: Path, session: str) -> list[tuple[str, str]]:
    """(text, timeline JSON) of the assistant's stored turns."""
    with sqlite3.connect(f"file:{tmp_path / 'appliance.db'}?mode=ro", uri=True) as c:
        q = "SELECT text, timeline FROM turns WHERE session_id = ? AND role = 'assistant' ORDER BY seq"
        return list(c.execute(q, (session,)))


def _call(tmp_path: Path, llm: PacedLLM, tts: PacedTTS, barge_in: str | None = None) -> tuple[Any, Any]:
    cfg = load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "thread"}}
    )
    audio = silence(0.5) + speech(QUESTION, "en")
    items = [Transcript(QUESTION, "en", 0.97, 0.0)]
    if barge_in:  # the caller talks over the answer ~3 s into it
        audio += silence(3.5) + speech(barge_in, "en")
        items.append(Transcript(barge_in, "en", 0.97, 0.0))
    write_wav(tmp_path / "in.wav", audio + silence(14.0))
    stt = ScriptedSTT(items, language=None)

    async def go() -> tuple[Any, Any]:
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=llm)
        try:
            result = await run_call(
                tmp_path / "in.wav",
                tmp_path / "out.wav",
                brain=brain,
                stt=stt,
                tts=tts,
                session_id="stream-1",
                config=cfg,
            )
            return result, stored_replies(tmp_path, "stream-1")
        finally:
            await brain.aclose()

    return asyncio.run(go())


def test_first_audio_starts_after_the_first_sentence_not_the_whole_reply(tmp_path: Path) -> None:
    llm = PacedLLM(tokens_per_s=10.0)  # ~4 s for the whole answer: seconds of margin on a busy box
    tts = PacedTTS()
    result, stored = _call(tmp_path, llm, tts)
    assert result.errors == ()
    (turn,) = result.caller_turns
    assert stored[-1][0] == VACCINATION_ANSWER  # the whole reply is stored (and shown to staff)
    assert turn.reply == VACCINATION_ANSWER.replace("14", "fourteen")  # ... and was spoken whole, once
    calls = [c for c in tts.calls if c[2] != voice_text("slow_notice", "en")]  # a slow first run may say "one moment"
    assert " ".join(text for _, _, text in calls) == turn.reply
    first_sentence_at = next(t for t, tok in llm.token_times if tok.endswith("cough."))
    first_tts_start = calls[0][0]
    assert calls[0][2].startswith("Dogs must be vaccinated")
    # synthesis of the first sentence began once that sentence was complete, while the LLM was
    # still phrasing the rest of the answer
    assert first_sentence_at <= first_tts_start < llm.done_at
    assert len(calls) >= 4  # a sentence (or clause) at a time
    assert turn.complete


def test_a_barge_in_keeps_the_whole_reply_and_marks_what_was_heard(tmp_path: Path) -> None:
    llm = PacedLLM(tokens_per_s=200.0)
    result, stored = _call(tmp_path, llm, PacedTTS(seconds_per_char=0.0005), barge_in="Where can I park my car?")
    answer = result.caller_turns[0]
    assert result.interruptions >= 1 and answer.has(Mark.INTERRUPTED)
    heard = answer.heard()
    assert heard and answer.reply.startswith(heard) and len(heard) < len(answer.reply)
    text, timeline = stored[0]  # (no greeting in these calls)
    assert text == VACCINATION_ANSWER  # stored whole
    assert json.loads(timeline)["heard_chars"] == len(heard)  # ... with how much of it was heard
    # the answer to the parking question was grounded sentence by sentence: the scripted LLM's
    # sentence with "14" (not in the parking passage) ended it there, before it was spoken
    parking = stored[1][0]
    assert parking.startswith("Dogs must be vaccinated") and "14" not in parking and "check-in" not in parking
