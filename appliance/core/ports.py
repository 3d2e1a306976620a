"""The one typed port through which channels reach the brain.

``appliance.brain.dialogue.brain.Brain`` implements it; the voice pipeline, the call runner, the SIP
channel and the benchmarks depend only on this Protocol. What a call needs from the brain is
passed per call (the slow-tool notice hook travels with each ``handle``), never found on the
brain's attributes at run time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Protocol

from appliance.core.messages import Channel, Reply, ReplyChunk, Utterance
from appliance.core.tickets import CallbackOutcome, CallbackTicket

# Called (with the session language) when a tool of this turn is slow: a voice call says
# "one moment" on the call whose tool is slow, not on every call the brain serves.
SlowHook = Callable[[str], Awaitable[None]]


class Chunker(Protocol):
    """Incremental sentence splitter (``appliance.voice.sentences.SentenceChunker``)."""

    def feed(self, text: str) -> list[str]: ...

    def flush(self) -> list[str]: ...

    def split(self, text: str) -> list[str]: ...


class BrainPort(Protocol):
    """What a channel may ask of the dialogue engine."""

    async def handle(self, utterance: Utterance, *, on_slow: SlowHook | None = None) -> Reply: ...

    def handle_stream(
        self, utterance: Utterance, chunker: Callable[[], Chunker], *, on_slow: SlowHook | None = None
    ) -> AsyncGenerator[ReplyChunk, None]:
        """Voice: the reply sentence by sentence as it is produced (each a ``SENTENCE`` chunk),
        then the whole reply (a ``REPLY`` chunk)."""
        ...

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply: ...

    async def snapshot(self, session_id: str) -> dict[str, Any]: ...

    async def end_session(self, session_id: str) -> None:
        """The call is over (every ending but a crash): a voice session without an end after a
        restart was cut, and gets a callback ticket when a booking was under way."""
        ...

    async def record_timeline(
        self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None
    ) -> None: ...


class CallbackPort(Protocol):
    """What an automatic callback asks of the brain (``Brain.open_callback``/``callback_outcome``)."""

    async def open_callback(self, session_id: str, ticket: CallbackTicket) -> Reply: ...

    async def callback_outcome(self, session_id: str) -> CallbackOutcome: ...
