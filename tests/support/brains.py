"""A base for the narrow brain fakes of the voice tests: the rest of ``BrainPort`` (greet,
snapshot, record_timeline) as recording no-ops, so a fake only says how it answers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from appliance.core.messages import Channel, Reply, ReplyChunk, Utterance
from appliance.voice.speaking import whole_reply_chunks


class FakeBrainBase:
    def __init__(self) -> None:
        self.timelines: list[tuple[int, dict[str, float]]] = []

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        raise NotImplementedError

    def handle_stream(
        self, utterance: Utterance, chunker: Any, *, on_slow: Any = None
    ) -> AsyncGenerator[ReplyChunk, None]:
        """A brain that does not stream: its whole reply as its sentences."""
        return whole_reply_chunks(self.handle(utterance, on_slow=on_slow))

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply:
        return Reply(session_id, "Hello.", "en", speakable="Hello.")

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        return {}

    async def record_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        self.timelines.append((turn_id, stages))

    async def end_session(self, session_id: str) -> None:
        return None
