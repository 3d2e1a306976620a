"""The shapes of the daemon's control API (``/v1``), shared by the server, the console and the CLI.

Requests and views are frozen dataclasses; they become dicts only on the wire
(:func:`appliance.core.messages.to_dict` one way, :func:`parse` and the
``from_dict`` functions the other). :func:`parse` is strict: an unknown field,
a missing one or a wrong type is an :class:`ApiError` with code ``bad_request``
naming the field, never a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from appliance.core.messages import Event, EventType

API_VERSION = "v1"
MAX_TEXT_CHARS = 2000  # staff replies and notes


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class ApiError(Exception):
    """An error on the control API: ``{"error": {"code", "message", "details"}}`` on the wire."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, "details": self.details}}

    @classmethod
    def from_dict(cls, data: Any, status: int = 500) -> ApiError:
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            return cls(ErrorCode.INTERNAL, f"HTTP {status}")
        try:
            code = ErrorCode(str(err.get("code")))
        except ValueError:
            code = ErrorCode.INTERNAL
        return cls(code, str(err.get("message", "")), err.get("details") or {})


# --------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class NoteRequest:
    note: str = ""


@dataclass(frozen=True, slots=True)
class StaffReplyRequest:
    text: str


@dataclass(frozen=True, slots=True)
class TransferRequest:
    extension: str = ""  # empty: tenant.transfer_extension


@dataclass(frozen=True, slots=True)
class PauseRequest:
    paused: bool


@dataclass(frozen=True, slots=True)
class BookingCreateRequest:
    pet_name: str
    pet_type: str
    start_date: dt.date
    end_date: dt.date
    owner_name: str
    owner_phone: str


@dataclass(frozen=True, slots=True)
class BookingChangeRequest:
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    pet_name: str | None = None
    pet_type: str | None = None
    owner_name: str | None = None
    owner_phone: str | None = None


T = TypeVar("T")


def _coerce(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
    if tp is str and isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise ApiError(ErrorCode.TOO_LARGE, f"{name}: at most {MAX_TEXT_CHARS} characters", {"field": name})
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is dt.date and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    kind = {str: "a string", bool: "true or false", dt.date: "a date YYYY-MM-DD"}.get(tp, str(tp))
    raise ApiError(ErrorCode.BAD_REQUEST, f"{name}: expected {kind}", {"field": name})


def parse(cls: type[T], data: Any) -> T:
    """Build request ``cls`` from JSON data, strictly."""
    if not isinstance(data, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiError(ErrorCode.BAD_REQUEST, f"unknown field {unknown[0]!r}", {"field": unknown[0]})
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ApiError(ErrorCode.BAD_REQUEST, f"{name}: required", {"field": name})
            continue
        values[name] = _coerce(name, hints[name], data[name])
    return cls(**values)


# ------------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class LiveTurn:
    role: str  # user / assistant / staff
    text: str
    at: str
    ms: float | None = None


@dataclass(frozen=True, slots=True)
class ToolActionView:
    tool: str
    status: str
    error_code: str | None = None
    ms: float = 0.0
    booking_id: str | None = None


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: str
    channel: str
    started_at: str
    updated_at: str
    caller_id: str | None = None
    language: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    awaiting: str | None = None
    turns: tuple[LiveTurn, ...] = ()
    actions: tuple[ToolActionView, ...] = ()
    degraded: bool = False
    taken_over_by: str | None = None
    ended: bool = False
    mode: str = ""  # calls: voice / menu / overflow
    tenant: str | None = None  # several businesses on one box: whose conversation (None: one business)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiveSession:
        return cls(
            id=str(d["id"]),
            channel=str(d.get("channel", "")),
            started_at=str(d.get("started_at", "")),
            updated_at=str(d.get("updated_at", "")),
            caller_id=d.get("caller_id"),
            language=str(d.get("language") or ""),
            slots=dict(d.get("slots") or {}),
            awaiting=d.get("awaiting"),
            turns=tuple(LiveTurn(**t) for t in d.get("turns") or ()),
            actions=tuple(ToolActionView(**a) for a in d.get("actions") or ()),
            degraded=bool(d.get("degraded")),
            taken_over_by=d.get("taken_over_by"),
            ended=bool(d.get("ended")),
            mode=str(d.get("mode") or ""),
            tenant=d.get("tenant"),
        )


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    reason: str
    status: str
    created_at: str
    phone: str | None = None
    name: str | None = None
    language: str = ""
    channel: str = ""
    session_id: str | None = None
    claimed_by: str | None = None
    notes: tuple[str, ...] = ()
    transcript: tuple[LiveTurn, ...] = ()
    attempts: tuple[str, ...] = ()  # automatic callback attempts, one line each

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TicketView:
        return cls(
            id=int(d["id"]),
            reason=str(d.get("reason", "")),
            status=str(d.get("status", "")),
            created_at=str(d.get("created_at", "")),
            phone=d.get("phone"),
            name=d.get("name"),
            language=str(d.get("language") or ""),
            channel=str(d.get("channel") or ""),
            session_id=d.get("session_id"),
            claimed_by=d.get("claimed_by"),
            notes=tuple(str(n) for n in d.get("notes") or ()),
            transcript=tuple(LiveTurn(**t) for t in d.get("transcript") or ()),
            attempts=tuple(str(a) for a in d.get("attempts") or ()),
        )


@dataclass(frozen=True, slots=True)
class BookingView:
    id: str
    status: str
    resource_id: str
    pet_name: str
    pet_type: str
    start: str
    end: str
    owner_name: str
    owner_phone: str
    total_minor: int
    currency: str
    channel: str = ""
    expires_at: str | None = None  # held bookings

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BookingView:
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: d.get(k) for k in names if k in d})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Occupancy:
    resource_id: str
    capacity: int
    used: dict[str, int]  # ISO date -> rooms taken (held + confirmed)


def event_from_dict(d: dict[str, Any]) -> Event:
    """The console's side of the event stream (unknown types become LOG, never an exception)."""
    try:
        kind = EventType(str(d.get("type")))
    except ValueError:
        kind = EventType.LOG
    at = d.get("at")
    when = dt.datetime.fromisoformat(at) if isinstance(at, str) else dt.datetime.now(dt.UTC)
    return Event(kind, dict(d.get("data") or {}), d.get("session_id"), when)


__all__ = [
    "API_VERSION",
    "ApiError",
    "BookingChangeRequest",
    "BookingCreateRequest",
    "BookingView",
    "ErrorCode",
    "LiveSession",
    "LiveTurn",
    "NoteRequest",
    "Occupancy",
    "PauseRequest",
    "StaffReplyRequest",
    "TicketView",
    "ToolActionView",
    "TransferRequest",
    "event_from_dict",
    "parse",
]
