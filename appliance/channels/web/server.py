"""Web chat: HTTP + WebSocket on a configured address (loopback by default).

The page (``static/``) has no external assets, so it works on a box with no
internet. Each browser keeps its session id in ``localStorage``; on reconnect
or reload the server sends the conversation so far and the current quick
replies, and the conversation continues (sessions live in SQLite, so this
also survives a daemon restart). User text is only ever rendered as text.

Protocol (``docs/WEB.md``): the client sends ``{"type": "hello", "session": ID}``
(``session`` may be omitted: the server then picks one) and then
``{"type": "message", "text": ...}``. The server answers ``history`` (turns so far
plus the current language, quick replies, awaiting and slots), ``reply``, or
``error`` (``{"type": "error", "code": ..., "error": ...}``); an error never closes
the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from appliance.brain.text.render import error_text
from appliance.core import metrics
from appliance.core.bus import QUEUE, StaffDesk
from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.messages import Channel, Reply, Utterance, to_dict
from appliance.core.tenancy import chat_routes

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class BrainStatusView(Protocol):
    """What ``/healthz`` reports of the brain's status."""

    @property
    def llm(self) -> str: ...

    @property
    def knowledge(self) -> str: ...

    @property
    def degraded(self) -> bool: ...


class ChatBrain(Protocol):
    """What the web channel needs of the brain (:class:`appliance.brain.dialogue.brain.Brain`)."""

    @property
    def sessions(self) -> Any: ...

    def status(self) -> BrainStatusView: ...

    async def handle(self, utt: Utterance) -> Reply: ...

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply: ...

    async def snapshot(self, session_id: str) -> dict[str, Any]: ...


ENGINE_KEY = web.AppKey("engine", ChatBrain)
CONFIG_KEY = web.AppKey("config", Config)
SOCKETS_KEY = web.AppKey("sockets", set[web.WebSocketResponse])
DESK_KEY = web.AppKey("desk", StaffDesk)  # staff take-overs (the console); absent: the AI always answers

# Frames and bodies up to this size are read and, when their text is longer than
# web.max_message_chars, answered with a clear "too_long" error on a socket that
# stays open. Only a frame over it closes the socket (1009, message too big).
MAX_FRAME_BYTES = 1024 * 1024


def _frame_limit(cfg: Config) -> int:
    # JSON may escape every character as \uXXXX (6 bytes), so never below 8x the text limit.
    return max(MAX_FRAME_BYTES, cfg.web.max_message_chars * 8 + 4096)


def reply_payload(reply: Reply) -> dict[str, Any]:
    d = to_dict(reply)
    return {
        "type": "reply",
        "session": reply.session_id,
        "text": reply.text,
        "language": reply.language,
        "quick_replies": d["quick_replies"],
        "slots": d["slots"],
        "awaiting": reply.awaiting,
        "booking_id": reply.booking_id,
        "degraded": reply.degraded,
        "end": reply.end_of_conversation,
    }


def error_payload(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": message}


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def _valid_session(value: Any) -> str | None:
    return value if isinstance(value, str) and _SESSION_RE.match(value) else None


def _too_long(cfg: Config, text: str) -> str | None:
    limit = cfg.web.max_message_chars
    return f"message too long: at most {limit} characters" if len(text) > limit else None


# --------------------------------------------------------------------- HTTP


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    cfg = request.app[CONFIG_KEY]
    st = engine.status()
    return web.json_response(
        {"ok": True, "name": cfg.tenant.name, "llm": st.llm, "knowledge": st.knowledge, "degraded": st.degraded}
    )


async def info(request: web.Request) -> web.Response:
    """What the page needs before the first message: the business name and the limits."""
    cfg = request.app[CONFIG_KEY]
    return web.json_response(
        {
            "name": cfg.tenant.name,
            "languages": list(cfg.tenant.languages),
            "default_language": cfg.tenant.default_language,
            "max_message_chars": cfg.web.max_message_chars,
        }
    )


async def post_message(request: web.Request) -> web.Response:
    """HTTP form of one turn (scripts, benchmarks): {"session": ..., "text": ...}."""
    cfg = request.app[CONFIG_KEY]
    # A cross-site form or fetch must not drive turns (bookings, callbacks): refuse other origins,
    # and insist on application/json, which no simple (preflight-free) cross-site request can send.
    if not _same_origin(request):
        return web.json_response(error_payload("cross_origin", "cross-origin requests are refused"), status=403)
    if request.content_type != "application/json":
        return web.json_response(error_payload("bad_json", "send Content-Type: application/json"), status=415)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response(error_payload("bad_json", "body must be JSON"), status=400)
    if not isinstance(body, dict):
        return web.json_response(error_payload("bad_json", "body must be a JSON object"), status=400)
    session = _valid_session(body.get("session"))
    text = body.get("text")
    if session is None:
        return web.json_response(
            error_payload("bad_session", "need 'session': 8-64 characters of [A-Za-z0-9_-]"), status=400
        )
    if not isinstance(text, str):
        return web.json_response(error_payload("bad_text", "need 'text': a string"), status=400)
    problem = _too_long(cfg, text)
    if problem:
        return web.json_response(error_payload("too_long", problem), status=413)
    started = time.perf_counter()
    try:
        reply = await request.app[ENGINE_KEY].handle(Utterance(session_id=session, channel=Channel.WEB, text=text))
    except ApplianceError as exc:
        log.warning("session %s: %s", session, exc.code)
        message = error_text(cfg.tenant.default_language, exc.code)  # by code, from the templates
        return web.json_response(error_payload(exc.code, message), status=503 if exc.retryable else 500)
    payload = reply_payload(reply)
    payload["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return web.json_response(payload)


# ---------------------------------------------------------------- WebSocket


def _same_origin(request: web.Request) -> bool:
    """Browsers always send Origin on a WebSocket handshake; a page on another site
    must not drive this one (cross-site WebSocket hijacking). Non-browser clients
    (scripts, the benchmark) send none and are allowed: the listener is local."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.host.lower() and parts.scheme in ("http", "https")


async def websocket(request: web.Request) -> web.StreamResponse:
    cfg = request.app[CONFIG_KEY]
    engine = request.app[ENGINE_KEY]
    if not _same_origin(request):
        raise web.HTTPForbidden(text="cross-origin WebSocket refused")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=_frame_limit(cfg))
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    metrics.ACTIVE_CHATS.inc()
    session: str | None = None
    desk = request.app.get(DESK_KEY)
    detach: Any = None
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                log.info("websocket closed with error: %s", ws.exception())
                break
            if msg.type == WSMsgType.BINARY:
                await ws.send_json(error_payload("bad_json", "send text frames with JSON objects"))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                new = await _dispatch(ws, engine, cfg, session, msg.data, desk)
            except ConnectionResetError:
                break
            if desk is not None and new is not None and new != session:
                if detach is not None:
                    detach()
                detach = desk.attach(new, _staff_sink(ws, new))
            session = new
    finally:
        request.app[SOCKETS_KEY].discard(ws)
        metrics.ACTIVE_CHATS.dec()
        if detach is not None:
            detach()
    return ws


def _staff_sink(ws: web.WebSocketResponse, session: str) -> Any:
    """Where a staff member's reply to this chat goes (the console's take-over)."""

    async def send(staff: str, text: str) -> None:
        await ws.send_json(
            {"type": "reply", "session": session, "text": text, "language": None, "quick_replies": [], "slots": {},
             "awaiting": None, "booking_id": None, "degraded": False, "end": False, "staff": True}
        )  # fmt: skip

    return send


async def _dispatch(
    ws: web.WebSocketResponse,
    engine: ChatBrain,
    cfg: Config,
    session: str | None,
    raw: str,
    desk: StaffDesk | None = None,
) -> str | None:
    """Handle one client frame; returns the (possibly new) session id."""
    try:
        data = json.loads(raw)
    except ValueError:
        await ws.send_json(error_payload("bad_json", "messages must be JSON objects"))
        return session
    if not isinstance(data, dict):
        await ws.send_json(error_payload("bad_json", "messages must be JSON objects"))
        return session
    kind = data.get("type")
    if kind == "hello":
        requested = data.get("session")
        if requested is None:
            requested = new_session_id()
        new = _valid_session(requested)
        if new is None:
            await ws.send_json(error_payload("bad_session", "bad session id: 8-64 characters of [A-Za-z0-9_-]"))
            return session
        await _guarded(ws, new, _resume(ws, engine, new), cfg.tenant.default_language)
        return new
    if kind == "message":
        if session is None:
            await ws.send_json(error_payload("no_session", "say hello first"))
            return session
        text = data.get("text")
        if not isinstance(text, str):
            await ws.send_json(error_payload("bad_text", "text must be a string"))
            return session
        problem = _too_long(cfg, text)
        if problem:
            await ws.send_json(error_payload("too_long", problem))
            return session
        if desk is not None and desk.ai_paused and not desk.is_taken(session):
            desk.take_over(session, QUEUE)  # the AI is paused: this chat waits for a person
        if desk is not None and desk.is_taken(session):  # staff have this chat: the AI stays quiet
            desk.caller_said(session, text)
            return session
        await _guarded(ws, session, _turn(ws, engine, session, text), cfg.tenant.default_language)
        return session
    if kind == "ping":
        await ws.send_json({"type": "pong"})
        return session
    await ws.send_json(error_payload("unknown_type", f"unknown message type {str(kind)[:40]!r}"))
    return session


async def _guarded(ws: web.WebSocketResponse, session: str, work: Any, language: str) -> None:
    """Run one engine call; a failure becomes an error frame, never a closed socket."""
    try:
        await work
    except ApplianceError as exc:
        log.warning("session %s: %s", session, exc.code)
        await ws.send_json(error_payload(exc.code, error_text(language, exc.code)))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("session %s: web turn failed", session)
        await ws.send_json(error_payload("internal", "Sorry, something went wrong. Please try again."))


async def _turn(ws: web.WebSocketResponse, engine: ChatBrain, session: str, text: str) -> None:
    started = time.perf_counter()
    reply = await engine.handle(Utterance(session_id=session, channel=Channel.WEB, text=text))
    payload = reply_payload(reply)
    payload["ms"] = round((time.perf_counter() - started) * 1000, 2)
    await ws.send_json(payload)


async def _resume(ws: web.WebSocketResponse, engine: ChatBrain, session: str) -> None:
    history = await engine.sessions.turns(session)
    if not history:
        reply = await engine.greet(session, Channel.WEB)
        await ws.send_json({"type": "history", "session": session, "turns": []})
        await ws.send_json(reply_payload(reply))
        return
    snap = await engine.snapshot(session)
    await ws.send_json({"type": "history", "session": session, "turns": history, **snap})


# ------------------------------------------------------------------- the app

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_SECURITY_HEADERS = SECURITY_HEADERS  # the old private name


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except web.HTTPException as exc:  # 404s and friends get the headers too
        for k, v in SECURITY_HEADERS.items():
            exc.headers.setdefault(k, v)
        raise
    if not resp.prepared:  # a WebSocket response is already sent
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
    return resp


class TenantChats(Protocol):
    """The brain of each tenant (:class:`appliance.brain.factory.TenantBrains`)."""

    def get(self, tenant_id: str) -> ChatBrain: ...


def create_app(
    engine: ChatBrain, config: Config, desk: StaffDesk | None = None, tenants: TenantChats | None = None
) -> web.Application:
    """The chat app: the default tenant's page at ``/``; each ``[[tenants]]`` entry's page at its
    ``web_path`` (``/t/<id>/``) and at / on its ``web_hosts``, served by that tenant's brain."""
    app = web.Application(middlewares=[security_headers], client_max_size=_frame_limit(config))
    sites = (
        []
        if tenants is None
        else [(r, tenants.get(r.tenant_id), config.for_tenant(r.tenant_id)) for r in chat_routes(config)]
    )
    for route, brain, view in sites:  # host names first: they win over the default tenant's routes at /
        for host in route.hosts:
            app.add_domain(host, _chat_app(brain, view, desk))
    _add_routes(app, engine, config, desk)
    for route, brain, view in sites:
        app.router.add_get(route.path.rstrip("/"), _redirect_to(route.path))  # the page's links are relative
        app.add_subapp(route.path, _chat_app(brain, view, desk))
    return app


def _redirect_to(path: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(path)

    return handler


def _chat_app(engine: ChatBrain, config: Config, desk: StaffDesk | None) -> web.Application:
    """One tenant's chat under a prefix or a host name (the root app's middleware applies)."""
    app = web.Application(client_max_size=_frame_limit(config))
    _add_routes(app, engine, config, desk)
    return app


def _add_routes(app: web.Application, engine: ChatBrain, config: Config, desk: StaffDesk | None) -> None:
    if desk is not None:
        app[DESK_KEY] = desk
    app[ENGINE_KEY] = engine
    app[CONFIG_KEY] = config
    app[SOCKETS_KEY] = set()
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_get("/api/info", info)
    app.router.add_post("/api/message", post_message)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", STATIC, show_index=False)

    async def close_sockets(app: web.Application) -> None:
        sockets = app[SOCKETS_KEY]
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_sockets)


class WebServer:
    """Start/stop wrapper the daemon uses."""

    def __init__(
        self, engine: ChatBrain, config: Config, *, desk: StaffDesk | None = None, tenants: TenantChats | None = None
    ) -> None:
        self.app = create_app(engine, config, desk, tenants)
        self.config = config
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = self.config.web.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.web.host, self.config.web.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.web.port
        log.info("web chat on %s", self.url)

    async def stop(self) -> None:
        if self.runner is not None:
            await asyncio.wait_for(self.runner.cleanup(), 10)
            self.runner = None
