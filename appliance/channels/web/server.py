"""Web chat: HTTP + WebSocket on a configured address (loopback by default).

The page (``static/``) has no external assets, so it works on a box with no
internet. Each browser keeps its session id in ``localStorage``; on reconnect
or reload the server sends the conversation so far and the current quick
replies, and the conversation continues (sessions live in SQLite, so this
also survives a daemon restart). User text is only ever rendered as text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from appliance.core.config import Config
from appliance.core.messages import Channel, Reply, Utterance, to_dict

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ENGINE_KEY = web.AppKey("engine", Any)
CONFIG_KEY = web.AppKey("config", Config)
SOCKETS_KEY = web.AppKey("sockets", set)


def reply_payload(reply: Reply) -> dict[str, Any]:
    d = to_dict(reply)
    return {
        "type": "reply",
        "session": reply.session_id,
        "text": reply.text,
        "language": reply.language,
        "quick_replies": d["quick_replies"],
        "slots": reply.slots,
        "awaiting": reply.awaiting,
        "booking_id": reply.booking_id,
        "degraded": reply.degraded,
        "end": reply.end_of_conversation,
    }


def _valid_session(value: Any) -> str | None:
    return value if isinstance(value, str) and _SESSION_RE.match(value) else None


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=_SECURITY_HEADERS)


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    st = engine.status()
    return web.json_response({"ok": True, "llm": st.llm, "knowledge": st.knowledge, "degraded": st.degraded})


async def post_message(request: web.Request) -> web.Response:
    """HTTP form of one turn (scripts, benchmarks): {"session": ..., "text": ...}."""
    cfg = request.app[CONFIG_KEY]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "body must be JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    session = _valid_session(body.get("session"))
    text = body.get("text")
    if session is None or not isinstance(text, str):
        return web.json_response({"error": "need 'session' (8-64 chars [A-Za-z0-9_-]) and 'text'"}, status=400)
    if len(text) > cfg.web.max_message_chars * 4:
        text = text[: cfg.web.max_message_chars * 4]
    reply = await request.app[ENGINE_KEY].handle(
        Utterance(session_id=session, channel=Channel.WEB, text=text)
    )
    return web.json_response(reply_payload(reply))


async def websocket(request: web.Request) -> web.StreamResponse:
    cfg = request.app[CONFIG_KEY]
    engine = request.app[ENGINE_KEY]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=cfg.web.max_message_chars * 8)
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    session: str | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.ERROR:
                    log.info("websocket closed with error: %s", ws.exception())
                continue
            try:
                data = json.loads(msg.data)
                if not isinstance(data, dict):
                    raise ValueError
            except ValueError:
                await ws.send_json({"type": "error", "error": "messages must be JSON objects"})
                continue
            kind = data.get("type")
            if kind == "hello":
                session = _valid_session(data.get("session"))
                if session is None:
                    await ws.send_json({"type": "error", "error": "bad session id"})
                    continue
                await _resume(ws, engine, session)
            elif kind == "message":
                if session is None:
                    await ws.send_json({"type": "error", "error": "say hello first"})
                    continue
                text = data.get("text")
                if not isinstance(text, str):
                    await ws.send_json({"type": "error", "error": "text must be a string"})
                    continue
                started = time.perf_counter()
                reply = await engine.handle(Utterance(session_id=session, channel=Channel.WEB, text=text))
                payload = reply_payload(reply)
                payload["ms"] = round((time.perf_counter() - started) * 1000, 2)
                await ws.send_json(payload)
            else:
                await ws.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
    finally:
        request.app[SOCKETS_KEY].discard(ws)
    return ws


async def _resume(ws: web.WebSocketResponse, engine: Any, session: str) -> None:
    history = await engine.sessions.turns(session)
    if not history:
        reply = await engine.greet(session, Channel.WEB)
        await ws.send_json({"type": "history", "session": session, "turns": []})
        await ws.send_json(reply_payload(reply))
        return
    snap = await engine.snapshot(session)
    await ws.send_json({"type": "history", "session": session, "turns": history, **snap})


_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    resp = await handler(request)
    for k, v in _SECURITY_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def create_app(engine: Any, config: Config) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=config.web.max_message_chars * 8 + 4096)
    app[ENGINE_KEY] = engine
    app[CONFIG_KEY] = config
    app[SOCKETS_KEY] = set()
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/message", post_message)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", STATIC, show_index=False)

    async def close_sockets(app: web.Application) -> None:
        for ws in list(app[SOCKETS_KEY]):
            await ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_sockets)
    return app


class WebServer:
    """Start/stop wrapper the daemon uses."""

    def __init__(self, engine: Any, config: Config) -> None:
        self.app = create_app(engine, config)
        self.config = config
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.web.host, self.config.web.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.web.port
        log.info("web chat on http://%s:%s/", self.config.web.host, self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await asyncio.wait_for(self.runner.cleanup(), 10)
