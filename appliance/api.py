"""The daemon's local control API: HTTP over a Unix socket (owner-only).

Clients (the staff console, ``appliance`` admin commands) read status and a
live event stream here instead of touching the daemon's internals:

- ``GET /status``: what runs, with recent events.
- ``GET /events``: a WebSocket of events (call started, turn, slots, booking, callback, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from appliance.core.messages import Event, to_dict

log = logging.getLogger(__name__)


class EventSource(Protocol):
    """What the API needs of the daemon's event bus."""

    def subscribe(self) -> asyncio.Queue[Event]: ...

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None: ...


class DaemonView(Protocol):
    """What the API needs of the daemon: its status and its event bus."""

    @property
    def bus(self) -> EventSource: ...

    def status(self) -> dict[str, Any]: ...


DAEMON_KEY = web.AppKey("daemon", DaemonView)


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[DAEMON_KEY].status())


async def events(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON_KEY]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    queue = daemon.bus.subscribe()
    try:
        while not ws.closed:
            event = await queue.get()
            await ws.send_json(to_dict(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        daemon.bus.unsubscribe(queue)
    return ws


class ApiServer:
    def __init__(self, daemon: DaemonView, path: Path) -> None:
        self.daemon = daemon
        self.path = path
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app[DAEMON_KEY] = self.daemon
        app.router.add_get("/status", status)
        app.router.add_get("/events", events)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        site = web.UnixSite(self.runner, str(self.path))
        await site.start()
        os.chmod(self.path, 0o600)
        log.info("local API on %s", self.path)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
