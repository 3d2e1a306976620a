"""The one typed port through which channels reach the brain.

``appliance.brain.engine.Engine`` implements it; the voice pipeline, the call runner, the SIP
channel and the benchmarks depend only on this Protocol. What a call needs from the brain is
passed per call (the slow-tool notice hook travels with each ``handle``), never found on the
brain's attributes at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from appliance.core.messages import Channel, Reply, Utterance

# Called (with the session language) when a tool of this turn is slow: a voice call says
# "one moment" on the call whose tool is slow, not on every call the brain serves.
SlowHook = Callable[[str], Awaitable[None]]


class BrainPort(Protocol):
    """What a channel may ask of the dialogue engine."""

    async def handle(self, utterance: Utterance, *, on_slow: SlowHook | None = None) -> Reply: ...

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply: ...

    async def snapshot(self, session_id: str) -> dict[str, Any]: ...

    async def record_timeline(
        self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None
    ) -> None: ...
