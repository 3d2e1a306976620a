"""Control API routes for the front desk's work: callback tickets, bookings, approvals, the knowledge base.

Bookings made, changed or cancelled here go through the brain's own tool
executor and booking tools (``create_booking``, ``change_booking``,
``cancel_booking``), so the same rules, prices and idempotency apply as on a
call; the actor in the audit log is the staff member.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from appliance.api import Control, actor, body, control, controls, ok
from appliance.booking.approvals import ApprovalResult, Approvals
from appliance.booking.local import LocalBackend
from appliance.core.callback_policy import describe_attempts
from appliance.core.clock import local_today
from appliance.core.control import (
    ApiError,
    BookingChangeRequest,
    BookingCreateRequest,
    ErrorCode,
    NoteRequest,
    parse,
)
from appliance.core.messages import Channel, Event, EventType, OutcomeStatus, to_dict
from appliance.core.tickets import CallbackTicket
from appliance.store.tickets import TicketDesk

MAX_LIST = 2000
TicketOp = Callable[..., Awaitable[CallbackTicket]]  # TicketDesk.claim / complete / reopen
ApprovalOp = Callable[..., Awaitable[ApprovalResult]]  # Approvals.approve / decline


def _int_id(request: web.Request) -> int:
    raw = request.match_info["tid"]
    if not raw.isdigit() or len(raw) > 12:
        raise ApiError(ErrorCode.NOT_FOUND, f"no callback ticket {raw[:40]!r}")
    return int(raw)


def _need(value: Any, what: str) -> Any:
    if value is None:
        raise ApiError(ErrorCode.UNAVAILABLE, f"{what} is not available with this booking backend")
    return value


# --------------------------------------------------------------------- callbacks


async def _ticket_dict(c: Control, t: Any, *, transcript: bool) -> dict[str, Any]:
    d = to_dict(t)
    details = d.pop("details", {}) or {}
    d["claimed_by"] = details.get("claimed_by")
    d["notes"] = [f"{n.get('by')}: {n.get('action')}: {n.get('note')}" for n in details.get("notes") or []]
    d["details"] = {k: v for k, v in details.items() if k not in ("notes",)}
    d["attempts"] = describe_attempts(details)  # automatic callbacks (channels/sip/autocall.py)
    if transcript and t.session_id and c.brain is not None:
        turns = await c.brain.sessions.turns(t.session_id)
        d["transcript"] = [{"role": x["role"], "text": x["text"], "at": ""} for x in turns[-40:]]
    return d


async def list_callbacks(request: web.Request) -> web.Response:
    """``?status=open|done|all``; ``?tenant=ID|all`` (every item says its ``tenant_id``)."""
    status = request.query.get("status", "open")
    if status not in ("open", "done", "all"):
        raise ApiError(ErrorCode.BAD_REQUEST, "status: open, done or all", {"field": "status"})
    out = []
    for c in controls(request):
        tickets = await _need(c.tickets, "callbacks").list(status=None if status == "all" else status, limit=MAX_LIST)
        out += [await _ticket_dict(c, t, transcript=False) for t in tickets]
    return ok({"callbacks": out})


async def get_callback(request: web.Request) -> web.Response:
    c = control(request)
    t = await _need(c.tickets, "callbacks").get(_int_id(request))
    return ok(await _ticket_dict(c, t, transcript=True))


def _ticket_action(pick: Callable[[TicketDesk], TicketOp], event: EventType) -> Any:
    async def handler(request: web.Request) -> web.Response:
        c = control(request)
        req = parse(NoteRequest, await body(request))
        who = actor(request)
        t = await pick(_need(c.tickets, "callbacks"))(_int_id(request), actor=who, note=req.note)
        c.bus.publish(Event(event, {"ticket": t.id, "staff": who, "note": req.note}, t.session_id))
        return ok(await _ticket_dict(c, t, transcript=False))

    return handler


# ---------------------------------------------------------------------- bookings


def _booking_dict(c: Control, b: Any) -> dict[str, Any]:
    d = to_dict(b)
    exp = c.approvals.expires_at(b) if c.approvals else None
    d["expires_at"] = exp.isoformat() if exp else None
    return d


def _date(request: web.Request, name: str, default: dt.date) -> dt.date:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name}: a date YYYY-MM-DD", {"field": name}) from None


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 62:
        raise ApiError(ErrorCode.BAD_REQUEST, "days: 1 to 62", {"field": "days"})
    return int(raw)


async def _all_bookings(c: Control) -> list[Any]:
    backend = c.brain.backend
    if not isinstance(backend, LocalBackend):
        raise ApiError(ErrorCode.UNAVAILABLE, "listing bookings needs the local booking backend")
    return list(await backend.list_bookings(limit=MAX_LIST))


async def list_bookings(request: web.Request) -> web.Response:
    """``?day=&days=`` (stays overlapping those days), ``?q=`` (number, name, phone), ``?status=``;
    ``?tenant=ID|all`` (every item says its ``tenant_id``)."""
    out = []
    for c in controls(request):
        out += [_booking_dict(c, b) for b in await _bookings_of(c, request)]
    return ok({"bookings": out})


async def _bookings_of(c: Control, request: web.Request) -> list[Any]:
    rows = await _all_bookings(c)
    q = request.query.get("q", "").strip().casefold()[:100]
    status = request.query.get("status")
    if "day" in request.query:
        start = _date(request, "day", local_today(c.brain.clock, c.config.tenant.tz))
        end = start + dt.timedelta(days=_days(request))
        rows = [b for b in rows if b.start < end and b.end > start]
    if q:
        rows = [b for b in rows if any(q in str(v).casefold() for v in (b.id, b.pet_name, b.owner_name, b.owner_phone))]
    if status:
        rows = [b for b in rows if str(b.status) == status]
    return rows


async def get_booking(request: web.Request) -> web.Response:
    c = control(request)
    return ok(_booking_dict(c, await c.brain.backend.get_booking(request.match_info["bid"])))


async def occupancy(request: web.Request) -> web.Response:
    """Rooms taken per resource per night (held and confirmed), ``?start=&days=``."""
    c = control(request)
    start = _date(request, "start", local_today(c.brain.clock, c.config.tenant.tz))
    days = _days(request)
    nights = [start + dt.timedelta(days=i) for i in range(days)]
    rows = [b for b in await _all_bookings(c) if str(b.status) != "cancelled"]
    if c.approvals is not None:
        held_ok = {b.id for b in await c.approvals.held()}
        rows = [b for b in rows if str(b.status) == "confirmed" or b.id in held_ok]
    out = []
    for res in c.config.resources:
        used = {n.isoformat(): sum(1 for b in rows if b.resource_id == res.id and b.start <= n < b.end) for n in nights}
        out.append({"resource_id": res.id, "name": res.name.get("en", res.id), "capacity": res.capacity, "used": used})
    return ok({"start": start.isoformat(), "days": days, "resources": out})


async def _tool(request: web.Request, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one booking tool exactly as the brain would, on the console channel."""
    from appliance.tools.context import ToolContext

    c = control(request)
    engine = c.brain
    ctx = ToolContext(
        backend=engine.backend, callbacks=engine.callbacks, config=c.config, session_id=None,
        channel=Channel.CONSOLE.value, language=c.config.tenant.default_language,
    )  # fmt: skip
    key = request.headers.get("Idempotency-Key") or f"console:{uuid.uuid4().hex}"
    res = await engine.executor.execute(name, args, ctx, idempotency_key=key[:200])
    who = actor(request)
    c.bus.publish(
        Event(EventType.TOOL_ACTION, {"tool": name, "status": str(res.status), "error_code": res.error_code,
                                      "ms": round(res.duration_ms, 1), "staff": who})
    )  # fmt: skip
    if res.status is OutcomeStatus.OK:
        return dict(res.data or {})
    details = {"code": res.error_code, "field": res.error_field, **(res.details or {})}
    if res.status is OutcomeStatus.FALLBACK:
        raise ApiError(ErrorCode.UNAVAILABLE, "the booking backend is not answering", details)
    if res.error_code == "not_found":
        raise ApiError(ErrorCode.NOT_FOUND, "not found", details)
    if res.error_code in ("no_availability", "conflict"):
        raise ApiError(ErrorCode.CONFLICT, str(res.error_code), details)
    code = ErrorCode.BAD_REQUEST if res.status is OutcomeStatus.NEEDS_CLARIFICATION else ErrorCode.INTERNAL
    raise ApiError(code, str(res.error_code), details)


def _plain(req: Any) -> dict[str, Any]:
    return {k: v for k, v in to_dict(req).items() if v is not None}


async def create_booking(request: web.Request) -> web.Response:
    c = control(request)
    data = await _tool(request, "create_booking", _plain(parse(BookingCreateRequest, await body(request))))
    held = data.get("status") == "held"
    c.bus.publish(Event(EventType.BOOKING_HELD if held else EventType.BOOKING_CREATED, data))
    return ok(data, 201)


async def change_booking(request: web.Request) -> web.Response:
    c = control(request)
    args = {"booking_id": request.match_info["bid"], **_plain(parse(BookingChangeRequest, await body(request)))}
    data = await _tool(request, "change_booking", args)
    c.bus.publish(Event(EventType.BOOKING_CHANGED, data))
    return ok(data)


async def cancel_booking(request: web.Request) -> web.Response:
    c = control(request)
    parse(NoteRequest, await body(request))
    data = await _tool(request, "cancel_booking", {"booking_id": request.match_info["bid"]})
    c.bus.publish(Event(EventType.BOOKING_CANCELLED, data))
    return ok(data)


async def _tell_caller(c: Control, booking: Any, key: str, staff: str) -> None:
    """The outcome of an approval, in the caller's language, to their chat page when it is open."""
    from appliance.brain.text.render import Digits, Part

    sid = booking.session_id
    if not sid or not c.desk.reachable(sid):
        return
    live = c.board.get(sid)
    lang = live.language if live is not None and live.language else c.config.tenant.default_language
    params = {"booking_id": Digits(booking.id), "pet_name": booking.pet_name, "start": booking.start,
              "end": booking.end}  # fmt: skip
    text, _speak, _sms = c.brain.renderer.render([Part(key, params)], lang)
    await c.desk.reply(sid, staff, text)


def _approval(pick: Callable[[Approvals], ApprovalOp], event: EventType) -> Any:
    async def handler(request: web.Request) -> web.Response:
        c = control(request)
        req = parse(NoteRequest, await body(request))
        approvals = _need(c.approvals, "approval")
        result = await pick(approvals)(request.match_info["bid"], actor=actor(request), note=req.note)
        data = _booking_dict(c, result.booking)
        if result.changed:
            c.bus.publish(Event(event, data, result.booking.session_id))
            await _tell_caller(c, result.booking, "booking_approved" if event is EventType.BOOKING_APPROVED
                               else "booking_declined", actor(request))  # fmt: skip
        return ok({**data, "changed": result.changed})

    return handler


async def reindex_kb(request: web.Request) -> web.Response:
    from appliance.engines.embed import embedder_for
    from appliance.store.knowledge import reindex

    c = control(request)
    kb = c.brain.knowledge if c.brain else None
    stats = (
        await asyncio.to_thread(kb.reindex)
        if kb is not None
        else await asyncio.to_thread(reindex, None, c.config, embedder_for(c.config))
    )
    return ok(stats)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/v1/callbacks", list_callbacks)
    r.add_get("/v1/callbacks/{tid}", get_callback)
    r.add_post("/v1/callbacks/{tid}/claim", _ticket_action(lambda d: d.claim, EventType.CALLBACK_CLAIMED))
    r.add_post("/v1/callbacks/{tid}/done", _ticket_action(lambda d: d.complete, EventType.CALLBACK_DONE))
    r.add_post("/v1/callbacks/{tid}/reopen", _ticket_action(lambda d: d.reopen, EventType.CALLBACK_REOPENED))
    r.add_get("/v1/bookings", list_bookings)
    r.add_post("/v1/bookings", create_booking)
    r.add_get("/v1/bookings/{bid}", get_booking)
    r.add_post("/v1/bookings/{bid}/change", change_booking)
    r.add_post("/v1/bookings/{bid}/cancel", cancel_booking)
    r.add_post("/v1/bookings/{bid}/approve", _approval(lambda a: a.approve, EventType.BOOKING_APPROVED))
    r.add_post("/v1/bookings/{bid}/decline", _approval(lambda a: a.decline, EventType.BOOKING_DECLINED))
    r.add_get("/v1/occupancy", occupancy)
    r.add_post("/v1/kb/reindex", reindex_kb)
