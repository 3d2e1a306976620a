"""What the staff console is shown by a running daemon: Health, and every event its bus still
holds (the last 200), read through the control API like the console does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from appliance.console.client import ApiClient


async def desk_view(sock: Path) -> dict[str, Any]:
    async with ApiClient(sock) as api:
        out: dict[str, Any] = {"health": await api.get("/health"), "events": []}
        stream = api.events(recent=200)
        assert await anext(stream) is None  # the stream is open
        while True:
            try:
                ev = await asyncio.wait_for(anext(stream), 2.0)
            except TimeoutError:  # the replay is over
                break
            if ev is not None:
                out["events"].append({"type": str(ev.type), "session_id": ev.session_id, "data": ev.data})
        await stream.aclose()
        return out
