"""Fakes for the narrow seams, each able to fail a test: a virtual clock, a fake LLM with a reply
queue (hostile replies included), a fake brain, fake STT and fake TTS.

Use them where the real part would make a test slow or unable to say what went wrong (a timeout,
a model's bad answer); everything else in a test stays real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import itertools
import json
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from appliance.core.errors import EngineError
from appliance.core.messages import Channel, Reply, ReplyChunk, Utterance
from appliance.engines.llm import LLMCapabilities, LLMEngine, Message, parse_json_object
from appliance.engines.stt import STTCapabilities, STTEngine, Transcript
from appliance.engines.tts import AudioChunk, TTSCapabilities, TTSEngine
from appliance.voice.speaking import whole_reply_chunks

T = TypeVar("T")

# --- time ---------------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Virtual time for asyncio code under test (implements ``appliance.tools.timing.Timer``, and
    is a ``core.clock.Clock``: calling it gives the virtual wall time).

    ``sleep``, ``wait_for`` and ``call_later`` never wait for real: once every task has run as far
    as it can (``settle`` loop passes), time jumps to the next due timer. So a 30-second timeout
    takes microseconds, and a test asserts on the numbers (``monotonic()``, ``slept``). Only for
    code whose waiting is all on this clock (fakes, not sockets or threads).
    """

    def __init__(self, start: dt.datetime | None = None, *, settle: int = 20) -> None:
        self.start = start or dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
        self.settle = settle
        self.slept: list[float] = []  # every sleep() asked for, in order
        self._now = 0.0
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._runner: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self._now)

    def monotonic(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Entry:
        entry = _Entry(callback)
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), entry))
        self._ensure_runner()
        return entry

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = self.call_later(seconds, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            entry.cancel()

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        task = asyncio.ensure_future(aw)
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        entry = self.call_later(timeout, expire)
        try:
            return await task
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError(f"virtual timeout after {timeout:g}s") from None
            raise
        finally:
            entry.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, running the timers that fall due (outside a running loop too)."""
        until = self._now + seconds
        while self._heap and self._heap[0][0] <= until:
            when, _, entry = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not entry.cancelled:
                entry.callback()
        self._now = until

    def _ensure_runner(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: advance() by hand
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._runner = loop.create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            for _ in range(self.settle):
                await asyncio.sleep(0)
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            when, _, entry = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            entry.callback()


# --- LLM -----------------------------------------------------------------------------------------

Scripted = dict[str, Any] | str | BaseException | Callable[[Sequence[Message]], Any]


class FakeLLM(LLMEngine):
    """An LLM that answers from a queue. Each item is what one call returns: a dict (the JSON
    object), a str (raw model text, parsed like the real engine does, so garbage raises
    ``ModelError``), an exception (raised), or a function of the messages. An empty queue raises,
    so a test notices a call it did not expect. ``calls`` records every call's messages."""

    capabilities = LLMCapabilities(context_length=2048)

    def __init__(self, replies: Iterable[Scripted] = (), *, chat_replies: Iterable[Scripted] = ()) -> None:
        self.replies: deque[Scripted] = deque(replies)
        self.chat_replies: deque[Scripted] = deque(chat_replies)
        self.calls: list[list[Message]] = []
        self.schemas: list[dict[str, Any]] = []

    def _next(self, queue: deque[Scripted], messages: Sequence[Message]) -> Any:
        self.calls.append(list(messages))
        if not queue:
            raise AssertionError("FakeLLM: no scripted reply left for this call")
        item = queue.popleft()
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(messages)
        return item

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, timeout: float, max_tokens: int = 256
    ) -> dict[str, Any]:
        self.schemas.append(schema)
        out = self._next(self.replies, messages)
        return parse_json_object(out) if isinstance(out, str) else out

    async def chat(self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float) -> str:
        out = self._next(self.chat_replies, messages)
        return out if isinstance(out, str) else json.dumps(out)


def hostile_proposals() -> dict[str, Scripted]:
    """Replies a broken or manipulated model gives to the extraction prompt, by kind."""
    return {
        "name_not_said": {"intent": "book", "pet_name": "Bella", "owner_name": "Robert Tables"},
        "phone_not_said": {"intent": "book", "phone": "+372 5555 0000"},
        "date_not_said": {"intent": "book", "date_text": "31 December"},
        "wrong_types": {"intent": 5, "pet_name": ["Rex"], "owner_name": {"first": "Mari"}, "phone": 3725551234},
        "unhashable_intent": {"intent": ["book", "cancel_booking"], "date_text": {"start": "tomorrow"}},
        "huge_strings": {"intent": "book" * 5000, "pet_name": "R" * 100_000, "date_text": "x " * 50_000},
        "unknown_tool": {"intent": "book", "tool": "delete_all_bookings", "arguments": {"confirm": True}},
        "unknown_intent": {"intent": "grant_admin", "pet_name": None},
        "not_json": "Sure! Here is the JSON you asked for: {intent: book",
        "json_array": "[1, 2, 3]",
        "null_values": {"intent": None, "pet_name": None, "owner_name": None, "phone": None, "date_text": None},
        "timeout": EngineError("the LLM did not answer in time"),
        "crash": RuntimeError("segfault in the worker"),
    }


# --- brain, STT, TTS -----------------------------------------------------------------------------


class FakeBrain:
    """A brain (``BrainPort``) that answers from a queue of replies or exceptions; with an empty
    queue it echoes. ``seen`` records every utterance, ``timelines`` every recorded timeline."""

    def __init__(self, replies: Iterable[Reply | BaseException] = (), *, delay_s: float = 0.0) -> None:
        self.replies: deque[Reply | BaseException] = deque(replies)
        self.delay_s = delay_s
        self.seen: list[Utterance] = []
        self.timelines: list[tuple[int, dict[str, float]]] = []
        self.ended: list[str] = []
        self.greeted: list[str] = []

    async def handle(self, utterance: Utterance, **_: Any) -> Reply:
        self.seen.append(utterance)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self.replies:
            lang = utterance.language_hint or "en"
            return Reply(utterance.session_id, utterance.text, lang, speakable=utterance.text)
        item = self.replies.popleft()
        if isinstance(item, BaseException):
            raise item
        return dataclasses.replace(item, session_id=utterance.session_id)

    def handle_stream(
        self, utterance: Utterance, chunker: Any, *, on_slow: Any = None
    ) -> AsyncGenerator[ReplyChunk, None]:
        """A brain that does not stream: its whole reply as its sentences."""
        return whole_reply_chunks(self.handle(utterance, on_slow=on_slow))

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply:
        self.greeted.append(session_id)
        return Reply(session_id, "Hello.", "en", speakable="Hello.")

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        return {"language": "en", "quick_replies": [], "awaiting": None, "slots": {}}

    async def record_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        self.timelines.append((turn_id, dict(stages)))

    async def end_session(self, session_id: str) -> None:
        self.ended.append(session_id)


class FakeSTT(STTEngine):
    """Transcribes from a script, one transcript (or exception) per utterance, in order."""

    capabilities = STTCapabilities(streaming=False, languages=("en", "et", "ru"), sample_rate=16000)

    def __init__(self, script: Iterable[Transcript | str | BaseException]) -> None:
        self.script: deque[Transcript | str | BaseException] = deque(script)
        self.heard: list[tuple[int, str | None]] = []  # (bytes of audio, language hint) per call

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        self.heard.append((len(pcm16), language_hint))
        if not self.script:
            raise AssertionError("FakeSTT: no scripted transcript left")
        item = self.script.popleft()
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            return Transcript(item, language_hint, None, len(pcm16) / 2 / sample_rate)
        return item


class FakeTTS(TTSEngine):
    """Synthesizes silence (20 ms per character) and records what it was asked to say."""

    def __init__(self, languages: tuple[str, ...] = ("en", "et", "ru"), sample_rate: int = 16000) -> None:
        self.capabilities = TTSCapabilities(languages=languages, sample_rate=sample_rate)
        self.said: list[tuple[str, str]] = []

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        self.said.append((text, language))
        samples = int(self.capabilities.sample_rate * 0.02) * max(1, len(text))
        return AudioChunk(b"\x00\x00" * samples, self.capabilities.sample_rate)
