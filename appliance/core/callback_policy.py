"""When to call a customer back by ourselves: pure functions over numbers and datetimes.

An automatic callback (``appliance/channels/sip/callbacks.py``) is owed for a callback ticket
that was made because a part of the appliance failed (:func:`cause_of`). The ticket is called
when that part is healthy again, within the tenant's calling hours, at most ``max_attempts``
times, with growing spacing between unanswered attempts (:func:`decide`). The health of the
failed part is probed with backoff (:func:`probe_delay`). Nothing here does I/O or reads a
clock: the scheduler passes ``now``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Cause(enum.StrEnum):
    """What failed when the ticket was made (what must be healthy before we call)."""

    BACKEND = "backend"  # the booking backend (the tool executor's fallback ticket)
    SPEECH = "speech"  # a speech engine (the keypad menu's callback ticket)


class AttemptOutcome(enum.StrEnum):
    DIALING = "dialing"  # written before the call is placed: a crash mid-call still counts
    BOOKED = "booked"  # answered, the callee said yes, the booking is committed
    DECLINED = "declined"  # answered (or rejected with 603): the callee does not want it
    ANSWERED = "answered"  # answered, but ended without a booking or a no (hung up, unclear)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the call could not be placed (SIP error, bad number)


# outcomes after which the appliance never calls this ticket again
FINAL = frozenset({AttemptOutcome.BOOKED, AttemptOutcome.DECLINED})


class DecisionType(enum.StrEnum):
    CALL = "call"  # call now
    WAIT = "wait"  # not yet: ``at`` says when it may (None: when the failed part is healthy)
    STOP = "stop"  # never (``reason``)


@dataclass(frozen=True, slots=True)
class Decision:
    type: DecisionType
    at: dt.datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    at: dt.datetime
    outcome: AttemptOutcome


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """The numbers of ``[callbacks]`` (``CallbacksConfig``) the decision needs."""

    hours: Mapping[str, str]  # "mon" -> "09:00-19:00" | "closed"
    tz: zoneinfo.ZoneInfo
    max_attempts: int = 3
    first_delay_s: float = 60.0
    spacing_s: float = 1800.0
    spacing_max_s: float = 4 * 3600.0
    max_age_s: float = 48 * 3600.0


def cause_of(reason: str, details: Mapping[str, object], channel: str) -> Cause | None:
    """Why a ticket was made, when that makes it ours to call back (None: a person's job)."""
    if details.get("source") == "tool_fallback" and details.get("tool") in (
        "create_booking",
        "check_availability",
        "quote_price",
    ):
        return Cause.BACKEND
    if channel == "voice" and reason in ("callback_requested_degraded", "callback_requested_keypad"):
        return Cause.SPEECH
    return None


def dialable(phone: str | None) -> str | None:
    """The number to put in the dial URI: ``+`` and digits only, or None (never dialled)."""
    if not phone:
        return None
    number = re.sub(r"[\s\-().]", "", phone)
    return number if re.fullmatch(r"\+?\d{3,15}", number) else None


def _window(spec: str) -> tuple[dt.time, dt.time] | None:
    if spec == "closed":
        return None
    a, b = spec.split("-")
    start = dt.time.fromisoformat(a)
    end = dt.time.max if b == "24:00" else dt.time.fromisoformat(b)
    return start, end


def next_calling_time(t: dt.datetime, hours: Mapping[str, str], tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """``t`` itself when it is within calling hours, else the start of the next window (within a
    week; None when every day is closed). ``t`` must be timezone-aware; the answer is in ``tz``."""
    local = t.astimezone(tz)
    for days in range(8):
        day = local.date() + dt.timedelta(days=days)
        window = _window(hours.get(DAYS[day.weekday()], "closed"))
        if window is None:
            continue
        start = dt.datetime.combine(day, window[0], tzinfo=tz)
        end = dt.datetime.combine(day, window[1], tzinfo=tz)
        if days == 0 and start <= local < end:
            return local
        if local < start:
            return start
    return None


def spacing(policy: CallbackPolicy, attempts_made: int) -> float:
    """Seconds to wait after attempt number ``attempts_made`` (1-based) before the next one."""
    return min(policy.spacing_max_s, policy.spacing_s * 2 ** max(0, attempts_made - 1))


def decide(
    now: dt.datetime,
    created_at: dt.datetime,
    attempts: Sequence[Attempt],
    policy: CallbackPolicy,
    *,
    healthy: bool,
) -> Decision:
    """Call now, wait (until when), or stop for good; see the module docstring."""
    for a in attempts:
        if a.outcome in FINAL:
            return Decision(DecisionType.STOP, reason=str(a.outcome))
    if len(attempts) >= policy.max_attempts:
        return Decision(DecisionType.STOP, reason="max_attempts")
    if (now - created_at).total_seconds() > policy.max_age_s:
        return Decision(DecisionType.STOP, reason="expired")
    if attempts:
        last = max(attempts, key=lambda a: a.at)
        earliest = last.at + dt.timedelta(seconds=spacing(policy, len(attempts)))
    else:
        earliest = created_at + dt.timedelta(seconds=policy.first_delay_s)
    when = next_calling_time(max(now, earliest), policy.hours, policy.tz)
    if when is None:
        return Decision(DecisionType.STOP, reason="no_calling_hours")
    if (when - created_at).total_seconds() > policy.max_age_s:
        return Decision(DecisionType.STOP, reason="expired")
    if when > now:
        return Decision(DecisionType.WAIT, at=when, reason="not_yet")
    if not healthy:
        return Decision(DecisionType.WAIT, reason="unhealthy")
    return Decision(DecisionType.CALL)


def probe_delay(failures: int, base_s: float, max_s: float) -> float:
    """Seconds before the next health probe after ``failures`` failed probes in a row."""
    return min(max_s, base_s * 2 ** max(0, failures))


def describe_attempts(details: Mapping[str, object]) -> list[str]:
    """A ticket's automatic callback attempts as lines for staff (API, console, CLI), e.g.
    ``"2026-12-01 10:05 booked B7 (cb-1a2b)"`` and, last, ``"auto callbacks stopped: max_attempts"``."""
    rec = details.get("auto_callback")
    if not isinstance(rec, dict):
        return []
    lines = []
    for a in rec.get("attempts") or []:
        if not isinstance(a, dict):
            continue
        at = str(a.get("at") or "")[:16].replace("T", " ")
        extra = " ".join(
            str(x) for x in (a.get("booking_id"), f"SIP {a['sip_code']}" if a.get("sip_code") else None) if x
        )
        lines.append(f"{at} {a.get('outcome')}{' ' + extra if extra else ''} ({a.get('session_id')})")
    if rec.get("stopped"):
        lines.append(f"auto callbacks stopped: {rec['stopped']}")
    return lines
