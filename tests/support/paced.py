"""Engines with a fixed pace, for the streaming test and benchmark (narrow seams: LLMEngine and
TTSEngine). ``PacedLLM`` phrases a fixed answer at a fixed token rate; ``PacedTTS`` costs a fixed
time per character. Both note when things happened (``time.monotonic``)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from appliance.engines.llm import LLMCapabilities, LLMEngine, Message
from appliance.engines.tts import AudioChunk, TTSCapabilities, TTSEngine

VACCINATION_ANSWER = (
    "Dogs must be vaccinated against rabies, distemper, parvovirus and kennel cough. "
    "Cats must be vaccinated against rabies and cat flu. "
    "Please bring the vaccination passport on arrival. "
    "The last vaccination must be at least 14 days before check-in."
)


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens with their leading space, as a chat model streams them."""
    return re.findall(r"\s*\S+", text)


class PacedLLM(LLMEngine):
    """Answers every chat with ``answer`` at ``tokens_per_s``; extraction proposes nothing."""

    def __init__(self, answer: str = VACCINATION_ANSWER, tokens_per_s: float = 20.0) -> None:
        self.answer = answer
        self.delay_s = 1.0 / tokens_per_s
        self.capabilities = LLMCapabilities(context_length=4096, streaming=True)
        self.token_times: list[tuple[float, str]] = []

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, timeout: float, max_tokens: int = 256
    ) -> dict[str, Any]:
        return {}

    async def chat(self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float) -> str:
        parts = [t async for t in self.chat_stream(messages, max_tokens=max_tokens, timeout=timeout)]
        return "".join(parts).strip()

    async def chat_stream(
        self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float
    ) -> AsyncIterator[str]:
        for token in tokens_of(self.answer):
            await asyncio.sleep(self.delay_s)
            self.token_times.append((time.monotonic(), token))
            yield token

    @property
    def done_at(self) -> float:
        return self.token_times[-1][0]


class PacedTTS(TTSEngine):
    """Silence-free tone audio, ``seconds_per_char`` of compute per character (a sleep), 60 ms of
    audio per character; notes each call's start and end."""

    def __init__(self, seconds_per_char: float = 0.002, sample_rate: int = 16000) -> None:
        self.seconds_per_char = seconds_per_char
        self.capabilities = TTSCapabilities(languages=("en", "et", "ru"), sample_rate=sample_rate)
        self.calls: list[tuple[float, float, str]] = []  # (started, ended, text)

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        import numpy as np

        started = time.monotonic()
        time.sleep(self.seconds_per_char * len(text))
        n = int(self.capabilities.sample_rate * 0.06 * max(1, len(text)))
        t = np.arange(n) / self.capabilities.sample_rate
        pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes()
        self.calls.append((started, time.monotonic(), text))
        return AudioChunk(pcm, self.capabilities.sample_rate)
