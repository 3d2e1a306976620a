"""Fault injection seams for the degraded-mode tests: a speech recogniser that raises or hangs
on given calls, a TTS that dies from its n-th sentence, a brain that hangs on its n-th turn.
Each wraps a real part (ScriptedSTT, espeak-ng, the real Engine) and changes only the fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

from appliance.core.errors import EngineError
from appliance.core.messages import Channel, Reply, ReplyChunk, Utterance
from appliance.core.ports import SlowHook
from appliance.engines.stt import ScriptedSTT, Transcript
from appliance.engines.tts import AudioChunk, EspeakTTS
from appliance.voice.speaking import whole_reply_chunks


class FaultySTT(ScriptedSTT):
    """ScriptedSTT whose n-th call (0-based) raises (``fail_at``) or hangs (``hang_at``)."""

    def __init__(self, texts: list[Any], *, fail_at: set[int], hang_at: set[int], hang_s: float = 30.0) -> None:
        super().__init__(texts)
        self.fail_at, self.hang_at, self.hang_s = fail_at, hang_at, hang_s
        self.n = 0

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        n, self.n = self.n, self.n + 1
        if n in self.hang_at:
            time.sleep(self.hang_s)
        if n in self.fail_at:
            raise EngineError("injected: the speech recogniser crashed")
        return super().transcribe_sync(pcm16, sample_rate, language_hint)


class FaultyTTS(EspeakTTS):
    """espeak-ng that raises (``fail_from``) or hangs (``hang_from``) from its n-th sentence on."""

    def __init__(self, *, fail_from: int | None, hang_from: int | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.fail_from, self.hang_from = fail_from, hang_from
        self.n = 0

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        n, self.n = self.n, self.n + 1
        if self.hang_from is not None and n >= self.hang_from:
            time.sleep(30)
        if self.fail_from is not None and n >= self.fail_from:
            raise EngineError("injected: the synthesiser crashed")
        return super().synthesize_sync(text, language)


class HangingBrain:
    """The real engine, except that its n-th ``handle`` (0-based) never answers."""

    def __init__(self, engine: Any, hang_at: set[int]) -> None:
        self.engine, self.hang_at, self.n = engine, hang_at, 0

    async def handle(self, utterance: Utterance, *, on_slow: SlowHook | None = None) -> Reply:
        n, self.n = self.n, self.n + 1
        if n in self.hang_at:
            await asyncio.sleep(3600)
        return await self.engine.handle(utterance, on_slow=on_slow)

    def handle_stream(
        self, utterance: Utterance, chunker: Any, *, on_slow: Any = None
    ) -> AsyncGenerator[ReplyChunk, None]:
        """A brain that does not stream: its whole reply as its sentences."""
        return whole_reply_chunks(self.handle(utterance, on_slow=on_slow))

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply:
        return await self.engine.greet(session_id, channel, caller_id=caller_id)

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        return await self.engine.snapshot(session_id)

    async def record_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        await self.engine.record_timeline(turn_id, stages, total_ms=total_ms)

    async def end_session(self, session_id: str) -> None:
        await self.engine.end_session(session_id)


def indices(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x.strip()}
