"""An in-process appliance front desk for tests: a real brain on a tmp SQLite file, the web chat on
127.0.0.1:0 and the control API on a tmp Unix socket, wired exactly as the daemon wires them."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api import ApiServer, Control
from appliance.booking.approvals import Approvals
from appliance.brain.factory import build_brain
from appliance.channels.web.server import WebServer
from appliance.console.client import ApiClient
from appliance.core.bus import EventBus, StaffDesk
from appliance.core.clock import Clock
from appliance.core.config import Config, load_config
from appliance.core.live import LiveBoard
from appliance.store.tickets import TicketDesk

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    base: dict[str, Any] = {
        "store": {"data_dir": str(tmp_path / "data")},
        "llm": {"mode": "off"},
        "web": {"port": 0},
        "sip": {"enabled": False},
    }
    for k, v in overrides.items():
        base[k] = {**base.get(k, {}), **v}
    return load_config(environ={}, use_system=False, overrides=base)


@dataclass
class Desk:
    cfg: Config
    brain: Any
    control: Control
    api: ApiClient
    web_url: str
    http: aiohttp.ClientSession
    api_server: ApiServer

    async def chat(self, session: str) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(self.web_url + "/ws")
        await ws.send_json({"type": "hello", "session": session})
        await recv(ws)  # history
        await recv(ws)  # greeting
        return ws


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 30) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data!r}"
    return json.loads(msg.data)


async def say(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict[str, Any]:
    await ws.send_json({"type": "message", "text": text})
    return await recv(ws)


@contextlib.asynccontextmanager
async def front_desk(cfg: Config, clock: Clock) -> AsyncIterator[Desk]:
    bus = EventBus(cfg.api.client_queue)
    desk = StaffDesk(bus)
    brain = await build_brain(cfg, clock=clock, on_event=bus.publish, knowledge=None)
    control = Control(
        cfg, bus, desk, LiveBoard(bus), brain, lambda: {"tenant": cfg.tenant.name},
        approvals=Approvals(brain.backend), tickets=TicketDesk(brain.sessions.db, tenant_id=cfg.tenant.id, clock=clock),
    )  # fmt: skip
    api = ApiServer(control, cfg.api_socket)
    web = WebServer(brain, cfg, desk=desk)
    await api.start()
    await web.start()
    client = ApiClient(cfg.api_socket)
    try:
        async with aiohttp.ClientSession() as http:
            yield Desk(cfg, brain, control, client, web.url.rstrip("/"), http, api)
    finally:
        await client.close()
        await web.stop()
        await api.stop()
        await brain.aclose()
