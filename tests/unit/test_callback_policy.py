"""The automatic-callback scheduling policy (appliance/core/callback_policy.py), with numbers."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest

from appliance.core.callback_policy import (
    Attempt,
    AttemptOutcome,
    CallbackPolicy,
    Cause,
    Decision,
    DecisionType,
    cause_of,
    decide,
    describe_attempts,
    dialable,
    next_calling_time,
    probe_delay,
    spacing,
)
from appliance.core.config import CallbacksConfig

TZ = zoneinfo.ZoneInfo("Europe/Tallinn")
HOURS = dict(CallbacksConfig().calling_hours.model_dump())  # mon-fri 09-19, sat 10-16, sun closed
POLICY = CallbackPolicy(HOURS, TZ, max_attempts=3, first_delay_s=60, spacing_s=1800, spacing_max_s=4 * 3600)


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    """December 2026 in Tallinn: the 1st is a Tuesday, the 5th a Saturday, the 6th a Sunday."""
    return dt.datetime(2026, 12, day, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(1, 10), at(1, 10)),  # Tuesday 10:00: inside
        (at(1, 8, 59), at(1, 9)),  # before opening: 09:00 the same day
        (at(1, 19), at(2, 9)),  # the window ends at 19:00 (exclusive): Wednesday 09:00
        (at(4, 20), at(5, 10)),  # Friday evening: Saturday 10:00
        (at(5, 16, 30), at(7, 9)),  # Saturday after 16:00, Sunday closed: Monday 09:00
        (at(6, 12), at(7, 9)),  # Sunday: Monday 09:00
    ],
)
def test_next_calling_time(t: dt.datetime, expected: dt.datetime) -> None:
    assert next_calling_time(t, HOURS, TZ) == expected


def test_calling_hours_are_local_time_whatever_the_clock_zone() -> None:
    utc_0630 = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)  # 08:30 in Tallinn
    assert next_calling_time(utc_0630, HOURS, TZ) == at(1, 9)
    assert next_calling_time(at(1, 10), {d: "closed" for d in HOURS}, TZ) is None


def test_the_first_call_waits_first_delay_and_health() -> None:
    made = at(1, 10)
    assert decide(at(1, 10, 0), made, [], POLICY, healthy=True) == Decision(DecisionType.WAIT, at(1, 10, 1), "not_yet")
    assert decide(at(1, 10, 1), made, [], POLICY, healthy=True) == Decision(DecisionType.CALL)
    assert decide(at(1, 10, 1), made, [], POLICY, healthy=False) == Decision(DecisionType.WAIT, reason="unhealthy")


def test_a_ticket_made_in_the_evening_is_called_the_next_morning() -> None:
    made = at(1, 18, 59)  # one minute before the window closes: the first delay pushes it out
    assert decide(at(1, 19), made, [], POLICY, healthy=True) == Decision(DecisionType.WAIT, at(2, 9), "not_yet")
    assert decide(at(2, 9), made, [], POLICY, healthy=True).type is DecisionType.CALL


def test_spacing_doubles_per_attempt_up_to_its_cap() -> None:
    assert [spacing(POLICY, n) for n in (1, 2, 3, 4, 5)] == [1800, 3600, 7200, 14400, 14400]


def test_attempts_are_spaced_and_capped() -> None:
    made = at(1, 10)
    one = [Attempt(at(1, 10, 5), AttemptOutcome.NO_ANSWER)]
    assert decide(at(1, 10, 30), made, one, POLICY, healthy=True) == Decision(
        DecisionType.WAIT, at(1, 10, 35), "not_yet"
    )
    assert decide(at(1, 10, 35), made, one, POLICY, healthy=True).type is DecisionType.CALL
    two = [*one, Attempt(at(1, 10, 35), AttemptOutcome.BUSY)]
    assert decide(at(1, 11), made, two, POLICY, healthy=True) == Decision(DecisionType.WAIT, at(1, 11, 35), "not_yet")
    three = [*two, Attempt(at(1, 11, 35), AttemptOutcome.ANSWERED)]
    assert decide(at(2, 10), made, three, POLICY, healthy=True) == Decision(DecisionType.STOP, reason="max_attempts")


def test_a_crash_mid_call_counts_as_an_attempt() -> None:
    dialing = [Attempt(at(1, 10, 5), AttemptOutcome.DIALING)]
    assert decide(at(1, 10, 6), at(1, 10), dialing, POLICY, healthy=True).at == at(1, 10, 35)


@pytest.mark.parametrize("outcome", [AttemptOutcome.BOOKED, AttemptOutcome.DECLINED])
def test_booked_or_declined_is_final(outcome: AttemptOutcome) -> None:
    attempts = [Attempt(at(1, 10, 5), outcome)]
    assert decide(at(1, 12), at(1, 10), attempts, POLICY, healthy=True) == Decision(DecisionType.STOP, reason=outcome)


def test_old_tickets_are_left_to_staff() -> None:
    made = at(1, 10)
    assert decide(at(3, 10, 1), made, [], POLICY, healthy=True) == Decision(DecisionType.STOP, reason="expired")
    # made Saturday 15:59: the first calling time (Monday 09:00) is 41 h later: still in time
    assert decide(at(5, 16, 30), at(5, 15, 59), [], POLICY, healthy=True).at == at(7, 9)
    short = CallbackPolicy(HOURS, TZ, max_age_s=24 * 3600)
    assert decide(at(5, 16, 30), at(5, 15, 59), [], short, healthy=True) == Decision(
        DecisionType.STOP, reason="expired"
    )


def test_probe_backoff() -> None:
    assert [probe_delay(n, 15, 600) for n in range(7)] == [15, 30, 60, 120, 240, 480, 600]


def test_which_tickets_are_ours_to_call() -> None:
    fallback = {"source": "tool_fallback", "tool": "create_booking"}
    assert cause_of("booking system unavailable during create_booking", fallback, "voice") is Cause.BACKEND
    assert cause_of("x", {"source": "tool_fallback", "tool": "cancel_booking"}, "voice") is None
    assert cause_of("callback_requested_degraded", {}, "voice") is Cause.SPEECH
    assert cause_of("callback_requested_degraded", {}, "web") is None
    assert cause_of("customer asked for a callback", {}, "voice") is None  # a person's job


@pytest.mark.parametrize(
    ("phone", "number"),
    [("+372 5123 4567", "+37251234567"), ("5123-4567", "51234567"), ("sip:evil@x", None), ("", None), (None, None),
     ("+37251234567;user=phone", None), ("12", None)],
)  # fmt: skip
def test_dialable_numbers(phone: str | None, number: str | None) -> None:
    assert dialable(phone) == number


def test_attempts_described_for_staff() -> None:
    details = {
        "auto_callback": {
            "attempts": [
                {"at": "2026-12-01T10:05:00+02:00", "outcome": "no_answer", "session_id": "cb-1", "sip_code": 487},
                {"at": "2026-12-01T10:35:00+02:00", "outcome": "booked", "session_id": "cb-2", "booking_id": "B7"},
            ],
            "stopped": "booked",
        }
    }
    assert describe_attempts(details) == [
        "2026-12-01 10:05 no_answer SIP 487 (cb-1)",
        "2026-12-01 10:35 booked B7 (cb-2)",
        "auto callbacks stopped: booked",
    ]
    assert describe_attempts({}) == []


@pytest.mark.parametrize(
    ("settings", "error"),
    [({"auto": True}, "auto = true needs dial_uri"), ({"dial_uri": "sip:pbx.example.com"}, "{number}"),
     ({"dial_uri": "tel:{number}"}, "SIP URI"), ({"calling_hours": {"mon": "9-17"}}, "HH:MM-HH:MM")],
)  # fmt: skip
def test_bad_callback_settings_are_refused_clearly(settings: dict, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        CallbacksConfig(**settings)
