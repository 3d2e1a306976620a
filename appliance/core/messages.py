"""Small typed messages that flow between channels, the brain and the daemon.

Frozen dataclasses with a ``StrEnum`` type, in the style of wyoming's events and
Home Assistant's ``PipelineEvent``. They are converted to plain dicts only at
the web, console and IPC boundaries (:func:`to_dict`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


class Channel(enum.StrEnum):
    VOICE = "voice"
    WEB = "web"
    SMS = "sms"
    CLI = "cli"
    CONSOLE = "console"


class Language(enum.StrEnum):
    """The built-in languages. Tenants may configure other ISO 639-1 codes too,
    so language fields are typed ``str`` and compared with these values."""

    EN = "en"
    ET = "et"
    RU = "ru"


class Intent(enum.StrEnum):
    BOOK = "book"
    QUESTION = "question"
    CHECK_BOOKING = "check_booking"
    CANCEL_BOOKING = "cancel_booking"
    CHANGE_BOOKING = "change_booking"
    HUMAN = "human"
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    OUT_OF_SCOPE = "out_of_scope"
    UNKNOWN = "unknown"


class OutcomeStatus(enum.StrEnum):
    """How a tool call ended, from the brain's point of view."""

    OK = "ok"
    NEEDS_CLARIFICATION = "needs_clarification"  # client error: ask the user
    FALLBACK = "fallback"  # backend down: a callback ticket was taken instead
    ERROR = "error"  # anything else; the brain apologises


@dataclass(frozen=True, slots=True)
class Utterance:
    """Normalized input from any channel."""

    session_id: str
    channel: Channel
    text: str
    language_hint: str | None = None
    language_probability: float | None = None
    received_at: dt.datetime | None = None
    caller_id: str | None = None  # voice: From / P-Asserted-Identity
    dtmf: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One tool call the brain made and what came of it."""

    tool: str
    arguments: dict[str, Any]
    status: OutcomeStatus
    result: dict[str, Any] | None = None
    error_code: str | None = None
    attempts: int = 1
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class QuickReply:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Normalized output of the brain, with every channel-shaped form of it."""

    session_id: str
    text: str
    language: str
    speakable: str = ""  # voice: short, numbers/dates/prices as words
    sms: str = ""  # <= 160 chars plain text
    quick_replies: tuple[QuickReply, ...] = ()
    slots: dict[str, Any] = field(default_factory=dict)
    awaiting: str | None = None
    intent: str | None = None
    actions: tuple[Action, ...] = ()
    booking_id: str | None = None
    degraded: bool = False
    end_of_conversation: bool = False
    transfer_to: str | None = None
    protected: bool = False  # voice: contains a read-back that must not be interrupted
    turn_id: int | None = None  # the stored assistant turn (voice adds its timeline to it later)
    # voice: (sentence, language) pairs when one reply mixes languages (the multilingual greeting);
    # empty: every sentence of ``speakable`` is in ``language``
    spoken_parts: tuple[tuple[str, str], ...] = ()


class ChunkType(enum.StrEnum):
    """A piece of a reply streamed to voice (``BrainPort.handle_stream``)."""

    SENTENCE = "sentence"  # speak this now
    REPLY = "reply"  # the whole reply (last chunk)


@dataclass(frozen=True, slots=True)
class ReplyChunk:
    type: ChunkType
    text: str = ""
    language: str = ""
    reply: Reply | None = None
    protected: bool = False  # part of a read-back that must not be interrupted (Reply.protected)


class EventType(enum.StrEnum):
    """Events the daemon publishes on its local API (console, CLI)."""

    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    TURN = "turn"
    SLOTS = "slots"
    BOOKING_CREATED = "booking_created"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_CHANGED = "booking_changed"
    CALLBACK_REQUESTED = "callback_requested"
    TRANSFER = "transfer"
    DEGRADED = "degraded"
    LOG = "log"
    # the staff console's events (docs/CONSOLE.md)
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    TOOL_ACTION = "tool_action"
    BOOKING_HELD = "booking_held"
    BOOKING_APPROVED = "booking_approved"
    BOOKING_DECLINED = "booking_declined"
    BOOKING_EXPIRED = "booking_expired"
    CALLBACK_CLAIMED = "callback_claimed"
    CALLBACK_DONE = "callback_done"
    CALLBACK_REOPENED = "callback_reopened"
    CALLBACK_ATTEMPT = "callback_attempt"  # an automatic callback dials or ends (docs/SMS.md)
    DEGRADED_OFF = "degraded_off"
    SIP_REGISTRATION = "sip_registration"
    TAKEOVER = "takeover"
    HANDBACK = "handback"
    STAFF_REPLY = "staff_reply"
    AI_PAUSED = "ai_paused"


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def to_dict(message: Any) -> dict[str, Any]:
    """Convert a message dataclass (recursively) to JSON-safe plain data."""
    out = _plain(message)
    if not isinstance(out, dict):
        raise TypeError(f"not a message: {type(message).__name__}")
    return out
