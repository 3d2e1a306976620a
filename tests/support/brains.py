"""A base for the narrow brain fakes of the voice tests: the rest of ``BrainPort`` (greet,
snapshot, record_timeline) as recording no-ops, so a fake only says how it answers."""

from __future__ import annotations

from typing import Any

from appliance.core.messages import Channel, Reply


class FakeBrainBase:
    def __init__(self) -> None:
        self.timelines: list[tuple[int, dict[str, float]]] = []

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply:
        return Reply(session_id, "Hello.", "en", speakable="Hello.")

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        return {}

    async def record_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        self.timelines.append((turn_id, stages))
