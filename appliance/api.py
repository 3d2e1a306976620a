"""The daemon's local control API: versioned JSON over HTTP on a Unix socket (docs/CONSOLE.md).

The staff console and the staff CLI commands use it; nothing listens on TCP.
Access is by file permission: the socket is mode 0660, owned by the service
user and the ``api.group`` group (``appliance-staff``): staff who are members
of that group may connect. The peer's user name (``SO_PEERCRED``) is the actor
in the audit log.

- ``GET /v1/status``, ``/v1/health``, ``/v1/sessions``, ``/v1/sessions/{id}``
- ``POST /v1/sessions/{id}/takeover|handback|reply|transfer|end``, ``POST /v1/ai/pause``
- callbacks, bookings, occupancy, approvals and ``kb/reindex``: :mod:`appliance.api_desk`
- ``GET /v1/events``: a WebSocket of events as they happen. Each client has a
  bounded queue; one that falls behind is closed with code 4008 and a reason.

Errors are ``{"error": {"code", "message", "details"}}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import pwd
import shutil
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from appliance.api_access import visible_tenants_of
from appliance.core.bus import QUEUE, EventBus, StaffDesk
from appliance.core.config import Config
from appliance.core.control import (
    ApiError,
    ErrorCode,
    PauseRequest,
    StaffReplyRequest,
    TransferRequest,
    parse,
)
from appliance.core.errors import ApplianceError, BookingError, Conflict, NoAvailability, NotFound, ValidationError
from appliance.core.live import LiveBoard
from appliance.core.messages import Event, EventType, to_dict

log = logging.getLogger(__name__)

WS_CLOSE_TOO_SLOW = 4008


class CallControl(Protocol):
    """What the API needs of the SIP channel to act on a live call."""

    async def transfer_call(self, session_id: str, extension: str) -> bool: ...

    async def end_call(self, session_id: str) -> bool: ...


@dataclass
class Control:
    """Everything the API acts on, handed over by the daemon."""

    config: Config
    bus: EventBus
    desk: StaffDesk
    board: LiveBoard
    brain: Any  # appliance.brain.factory.Brain
    status: Callable[[], dict[str, Any]]
    calls: CallControl | None = None
    approvals: Any = None  # appliance.booking.approvals.Approvals (local backend only)
    tickets: Any = None  # appliance.store.tickets.TicketDesk
    started: float = field(default_factory=time.monotonic)
    sip_registration: dict[str, Any] = field(default_factory=dict)
    # several businesses on one box: the other tenants' controls (their brain, config view,
    # approvals and tickets), picked by ``?tenant=ID`` (docs/CONSOLE.md); empty: one tenant
    tenants: dict[str, Control] = field(default_factory=dict)


def visible(request: web.Request) -> list[str]:
    """The tenants this staff member may see and act for (``tenant.staff_group``; docs/CONSOLE.md)."""
    return visible_tenants_of(request, request.app[CONTROL].config)


def restricted(request: web.Request) -> bool:
    """This staff member sees only some of the box's tenants."""
    return len(visible(request)) < len(request.app[CONTROL].config.tenant_ids)


def controls(request: web.Request) -> list[Control]:
    """The tenants a request is for: ``?tenant=ID`` one, ``?tenant=all`` every one (lists only),
    none given: the default tenant (for a member of another tenant's ``staff_group`` only: that
    tenant). An unknown tenant is a 404, one this staff member may not see a 403."""
    c = request.app[CONTROL]
    by_id = {c.config.tenant.id: c, **c.tenants}
    allowed = visible(request)
    if not allowed:
        raise ApiError(ErrorCode.FORBIDDEN, "you are not staff of any business on this box")
    want = request.query.get("tenant", "")
    if want == "":
        return [c if c.config.tenant.id in allowed else by_id[allowed[0]]]
    if want == "all":
        return [by_id[t] for t in allowed]
    if want not in by_id:
        raise ApiError(ErrorCode.NOT_FOUND, f"no tenant {want[:40]!r}", {"tenant": want[:40]})
    if want not in allowed:
        raise ApiError(ErrorCode.FORBIDDEN, f"not staff of tenant {want[:40]!r}", {"tenant": want[:40]})
    return [by_id[want]]


async def own_session(request: web.Request, sid: str) -> None:
    """A session of a tenant this staff member may not see is a 404, as if it did not exist."""
    if not restricted(request):
        return
    c = request.app[CONTROL]
    tenant = c.board.tenant_of(sid)
    if tenant is None:
        tenant = (await session_owner(c, sid)).config.tenant.id
    if tenant not in visible(request):
        raise ApiError(ErrorCode.NOT_FOUND, f"no session {sid[:40]!r}", {"session_id": sid[:40]})


def event_visible(request: web.Request, ev: Event) -> bool:
    tenant = ev.data.get("tenant") or (request.app[CONTROL].board.tenant_of(ev.session_id) if ev.session_id else None)
    return tenant is None or tenant in visible(request)


async def session_owner(c: Control, session_id: str) -> Control:
    """The control of the tenant whose conversation ``session_id`` is (each store sees only its
    own tenant's sessions); the default tenant's when it is nobody's yet."""
    for each in (c, *c.tenants.values()):
        if each.brain is not None and await each.brain.sessions.get(session_id) is not None:
            return each
    return c


def control(request: web.Request) -> Control:
    """The one tenant a request acts on (``?tenant=all``: the default tenant's; single records
    and actions are always looked up in one tenant)."""
    return controls(request)[0]


CONTROL = web.AppKey("control", Control)
MAX_BYTES = web.AppKey("max_bytes", int)
SOCKETS = web.AppKey("sockets", set)  # the open event streams (web.WebSocketResponse)


def actor(request: web.Request) -> str:
    """The connecting user's name (``SO_PEERCRED`` on the Unix socket), as ``staff:NAME``."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        return "staff"
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return f"staff:{pwd.getpwuid(uid).pw_name}"
    except (AttributeError, OSError, KeyError):
        return "staff"


async def body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.BAD_REQUEST, "the body must be JSON") from None


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def _from_appliance_error(exc: ApplianceError) -> ApiError:
    details = {"code": exc.code, **exc.details}
    if isinstance(exc, NotFound):
        return ApiError(ErrorCode.NOT_FOUND, str(exc), details)
    if isinstance(exc, Conflict | NoAvailability):
        return ApiError(ErrorCode.CONFLICT, str(exc), details)
    if isinstance(exc, ValidationError | BookingError):
        return ApiError(ErrorCode.BAD_REQUEST, str(exc), details)
    return ApiError(ErrorCode.UNAVAILABLE if exc.retryable else ErrorCode.INTERNAL, str(exc), details)


@web.middleware
async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    try:
        return await handler(request)
    except ApiError as exc:
        return ok(exc.to_dict(), exc.status)
    except ApplianceError as exc:
        err = _from_appliance_error(exc)
        return ok(err.to_dict(), err.status)
    except web.HTTPRequestEntityTooLarge:
        err = ApiError(ErrorCode.TOO_LARGE, f"request too large (at most {request.app[MAX_BYTES]} bytes)")
        return ok(err.to_dict(), err.status)
    except web.HTTPNotFound:
        return ok(ApiError(ErrorCode.NOT_FOUND, f"no such endpoint {request.path}").to_dict(), 404)
    except web.HTTPMethodNotAllowed:
        return ok(ApiError(ErrorCode.BAD_REQUEST, f"{request.method} not allowed on {request.path}").to_dict(), 405)


# ---------------------------------------------------------------- status and sessions


async def get_status(request: web.Request) -> web.Response:
    st = control(request).status()
    if restricted(request):  # another business's live events are not this staff member's to see
        board = request.app[CONTROL].board
        allowed = visible(request)
        st["recent_events"] = [
            e for e in st.get("recent_events") or []
            if (e.get("data") or {}).get("tenant", board.tenant_of(str(e.get("session_id")))) in (*allowed, None)
        ]  # fmt: skip
    return ok(st)


async def get_health(request: web.Request) -> web.Response:
    from appliance.api_outbox import health_queues

    c = control(request)
    st = c.brain.status() if c.brain else None
    disk = shutil.disk_usage(c.config.data_path)
    open_tickets = len(await c.tickets.list(status="open", limit=1000)) if c.tickets else None
    held = len(await c.approvals.held()) if c.approvals else None
    status = c.status()
    return ok(
        {
            "models": {"llm": st.llm if st else None, "knowledge": st.knowledge if st else None},
            "degraded": st.degraded if st else None,
            "ai_paused": c.desk.ai_paused,
            "sip": {**status.get("sip", {}), "registration": c.sip_registration or {"state": "none"}},
            # the supervised model services: running, or being restarted after a crash
            "services": {
                name: {"state": "up" if s.get("pid") else "restarting", "restarts": s.get("restarts", 0)}
                for name, s in (status.get("services") or {}).items()
            },
            "web": status.get("web", {}),
            "disk": {"path": str(c.config.data_path), "free_bytes": disk.free, "total_bytes": disk.total},
            "queues": {
                "live_sessions": len(c.board.sessions()),
                "open_callbacks": open_tickets,
                "held_bookings": held,
                "event_clients": c.bus.clients,
                **await health_queues(c),  # the SMS outbox (docs/SMS.md)
            },
            "uptime_s": round(time.monotonic() - c.started, 1),
        }
    )


async def list_sessions(request: web.Request) -> web.Response:
    sessions = control(request).board.sessions()
    if restricted(request):
        allowed = visible(request)
        sessions = [s for s in sessions if s.tenant is None or s.tenant in allowed]
    return ok({"sessions": [to_dict(s) for s in sessions]})


async def get_session(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    live = c.board.get(sid)
    if live is not None:
        return ok(to_dict(live))
    if c.brain is not None and c.tenants:
        c = await session_owner(c, sid)
    turns = await c.brain.sessions.turns(sid) if c.brain else []
    if not turns:
        raise ApiError(ErrorCode.NOT_FOUND, f"no session {sid!r}", {"session_id": sid})
    return ok({"id": sid, "ended": True, "turns": [{"role": t["role"], "text": t["text"]} for t in turns]})


async def get_speakers(request: web.Request) -> web.Response:
    """Who spoke when in a session's recorded calls (the diarization job's speaker turns, each
    tied to the transcript turn it overlaps; empty until the job has run)."""
    from appliance.store import diarization

    c, sid = request.app[CONTROL], request.match_info["sid"]
    await own_session(request, sid)
    if c.brain is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "the store is not open")
    items = await c.brain.sessions.db.aread(lambda s: diarization.for_sessions(s, [sid]))
    return ok({"session_id": sid, "diarizations": items})


def _live_or_404(c: Control, sid: str) -> None:
    if c.board.get(sid) is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no live session {sid!r}", {"session_id": sid})


async def takeover(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    _live_or_404(c, sid)
    live = c.board.get(sid)
    if live is not None and live.channel == "voice":
        raise ApiError(ErrorCode.CONFLICT, "calls are transferred, not taken over", {"session_id": sid})
    owner = c.desk.taken.get(sid)
    who = actor(request)
    if owner and owner not in (who, QUEUE):
        raise ApiError(ErrorCode.CONFLICT, f"already taken over by {owner}", {"staff": owner})
    if owner != who:
        c.desk.take_over(sid, who)
    return ok({"session_id": sid, "taken_over_by": who})


async def handback(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    if not c.desk.hand_back(sid, actor(request)):
        raise ApiError(ErrorCode.NOT_FOUND, f"session {sid!r} is not taken over", {"session_id": sid})
    return ok({"session_id": sid, "taken_over_by": None})


async def reply(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    req = parse(StaffReplyRequest, await body(request))
    if not req.text.strip():
        raise ApiError(ErrorCode.BAD_REQUEST, "text: empty", {"field": "text"})
    if not c.desk.is_taken(sid):
        _live_or_404(c, sid)
        raise ApiError(ErrorCode.CONFLICT, "take the chat over first", {"session_id": sid})
    delivered = await c.desk.reply(sid, actor(request), req.text)
    return ok({"session_id": sid, "delivered": delivered})


async def transfer(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    req = parse(TransferRequest, await body(request))
    _live_or_404(c, sid)
    if c.calls is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "call control is not available on this SIP channel")
    owner = await session_owner(c, sid) if c.tenants else c  # the call's own tenant's staff extension
    ext = req.extension or owner.config.tenant.transfer_extension
    if not ext.replace("+", "", 1).isalnum() or len(ext) > 32:
        raise ApiError(ErrorCode.BAD_REQUEST, "extension: digits or letters", {"field": "extension"})
    ok_ = await c.calls.transfer_call(sid, ext)
    return ok({"session_id": sid, "transferred": ok_})


async def end(request: web.Request) -> web.Response:
    c, sid = control(request), request.match_info["sid"]
    await own_session(request, sid)
    _live_or_404(c, sid)
    if c.calls is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "call control is not available on this SIP channel")
    return ok({"session_id": sid, "ended": await c.calls.end_call(sid)})


async def pause(request: web.Request) -> web.Response:
    c = control(request)
    if restricted(request):  # the pause is the box's, every business's calls
        raise ApiError(ErrorCode.FORBIDDEN, "pausing the AI is for staff of every business on this box")
    req = parse(PauseRequest, await body(request))
    c.desk.set_paused(req.paused, actor(request))
    return ok({"ai_paused": c.desk.ai_paused})


# ----------------------------------------------------------------------- events


async def events(request: web.Request) -> web.StreamResponse:
    """Events as they happen; ``?recent=N`` first replays the last N."""
    c = control(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sub = c.bus.subscribe()
    request.app[SOCKETS].add(ws)
    try:
        recent = max(0, min(int(request.query.get("recent", "0") or 0), len(c.bus.recent)))
    except ValueError:
        recent = 0
    try:
        for ev in list(c.bus.recent)[len(c.bus.recent) - recent :] if recent else []:
            if event_visible(request, ev):
                await ws.send_json(to_dict(ev))
        reader = asyncio.ensure_future(ws.receive())  # notices the client closing
        while not ws.closed:
            nxt = asyncio.ensure_future(sub.next())
            done, _ = await asyncio.wait({nxt, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                nxt.cancel()
                break
            event: Event | None = nxt.result()
            if event is None:
                await ws.close(code=WS_CLOSE_TOO_SLOW, message=(sub.dropped or "dropped").encode()[:120])
                break
            if event_visible(request, event):
                await ws.send_json(to_dict(event))
        reader.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        c.bus.unsubscribe(sub)
        request.app[SOCKETS].discard(ws)
    return ws


# --------------------------------------------------------------------- the server


def create_app(control: Control) -> web.Application:
    from appliance import api_desk, api_outbox, api_privacy

    max_bytes = control.config.api.max_request_bytes
    app = web.Application(middlewares=[errors], client_max_size=max_bytes)
    app[CONTROL] = control
    app[MAX_BYTES] = max_bytes
    app[SOCKETS] = set()

    async def close_streams(app: web.Application) -> None:  # a stop must not wait for consoles to hang up
        sockets: set[Any] = app[SOCKETS]
        for ws in list(sockets):
            await ws.close(code=1001, message=b"daemon stopping")

    app.on_shutdown.append(close_streams)
    r = app.router
    r.add_get("/v1/status", get_status)
    r.add_get("/v1/health", get_health)
    r.add_get("/v1/sessions", list_sessions)
    r.add_get("/v1/sessions/{sid}", get_session)
    r.add_get("/v1/sessions/{sid}/speakers", get_speakers)
    r.add_post("/v1/sessions/{sid}/takeover", takeover)
    r.add_post("/v1/sessions/{sid}/handback", handback)
    r.add_post("/v1/sessions/{sid}/reply", reply)
    r.add_post("/v1/sessions/{sid}/transfer", transfer)
    r.add_post("/v1/sessions/{sid}/end", end)
    r.add_post("/v1/ai/pause", pause)
    r.add_get("/v1/events", events)
    r.add_get("/status", get_status)  # unversioned forms of the first API
    r.add_get("/events", events)
    api_desk.add_routes(r)
    api_privacy.add_routes(r)  # export/erase a caller (docs/PRIVACY.md)
    api_outbox.add_routes(r)
    return app


def _secure_socket(path: Path, group: str) -> None:
    """Mode 0660 and the staff group when it exists (else the service user's own group)."""
    with contextlib.suppress(KeyError, PermissionError):
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, 0o660)


class ApiServer:
    def __init__(self, control: Control, path: Path) -> None:
        self.control = control
        self.path = path
        self.runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        control.bus.listen(control.board.on_event)
        control.bus.listen(self._on_event)

    async def start(self) -> None:
        self.runner = web.AppRunner(create_app(self.control), access_log=None)
        await self.runner.setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o117)  # never world-accessible, not even between bind and chmod
        try:
            await web.UnixSite(self.runner, str(self.path)).start()
        finally:
            os.umask(old)
        _secure_socket(self.path, self.control.config.api.group)
        log.info("local API on %s (group %s)", self.path, self.control.config.api.group)

    def _on_event(self, ev: Event) -> None:
        if ev.type is EventType.SIP_REGISTRATION:
            self.control.sip_registration = dict(ev.data)
        taken_turn = ev.type is EventType.TURN and ev.data.get("taken_over")
        if (taken_turn or ev.type is EventType.STAFF_REPLY) and ev.session_id and self.control.brain is not None:
            task = asyncio.get_running_loop().create_task(self._persist(ev))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _persist(self, ev: Event) -> None:
        """Turns the AI did not take part in (a taken-over chat) are kept with the conversation too."""
        c = await session_owner(self.control, str(ev.session_id))
        staff = ev.type is EventType.STAFF_REPLY
        text = str(ev.data.get("text") if staff else ev.data.get("user") or "")
        language = str(ev.data.get("language") or c.config.tenant.default_language)
        try:
            await c.brain.sessions.append_turn(
                str(ev.session_id), role="assistant" if staff else "user", text=text, language=language, channel="web"
            )
        except ApplianceError:
            log.exception("could not store a taken-over turn of %s", ev.session_id)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
