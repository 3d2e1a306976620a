"""Automatic callbacks, end to end with real parts: a real pjsua2 caller books by voice while the
real local HTTP booking server answers 500, so the executor takes a callback ticket; the
appliance probes the backend (availability queries, with backoff) and does not call while it
fails; the backend recovers; the appliance places an outbound SIP call (pjsua2 Call.makeCall)
to a real pjsua2 phone on loopback, which answers, hears who calls and why and the booking read
back, and says "yes" (espeak-ng; the scripted STT seam); the booking is committed exactly once
and the ticket records the attempt as booked. Busy, unanswered and rejecting (603) phones are
recorded too."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.http_backend_server import serve_in_thread
from tests.support.sip_harness import PY, ROOT, Appliance, JsonProcess, caller, free_port, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = "+37251234567"
TURNS = ["I need a room for my dog Rex from the 10th to the 15th", "Mari Tamm", "yes"]


def callee(port: int, *args: str) -> JsonProcess:
    proc = JsonProcess([PY, str(ROOT / "tests/support/sip_callee.py"), "--port", str(port),
                        "--rtp-port", str(24000 + (free_port() % 20000)), *args])  # fmt: skip
    proc.wait_event("ready", 30)
    return proc


def _ticket(summary: dict) -> tuple[list, dict]:
    (row,) = summary["tickets"]
    return row, json.loads(row[6])


def _attempt_ended(events: list[dict], outcome: str) -> bool:
    """Staff were told of an automatic callback's end (published after its record is written)."""
    return any(e.get("event") == "app_event" and e.get("type") == "callback_attempt"
               and e.get("data", {}).get("outcome") == outcome for e in events)  # fmt: skip


def _booking_call_with_backend_down(tmp_path: Path, srv: object, phone_port: int, *extra: str) -> Appliance:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([*TURNS, "yes"]))  # the caller's three turns, then the callee's yes
    wavs = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(TURNS)]
    app = Appliance(tmp_path, "--script", str(script), "--record", "0", "--backend", srv.base_url,  # type: ignore[attr-defined]
                    "--tool-timeout", "1.5", "--auto-callback", f"sip:{{number}}@127.0.0.1:{phone_port}", *extra)  # fmt: skip
    call = caller(app.uri, "--from-user", PHONE, "--turns", ",".join(map(str, wavs)), "--hangup-after-turns",
                  "--max-s", "60")  # fmt: skip
    call.wait_event("done", 90)
    first = app.wait_event("call_ended", 30)
    assert [t["user"] for t in first["transcript"]] == TURNS, first
    return app


def test_the_appliance_calls_back_when_the_backend_recovers_and_yes_books_once(tmp_path: Path) -> None:
    port = free_port()
    phone = callee(port, "--turns", str(speech_wav("yes", tmp_path / "yes.wav")), "--hangup-after-turns",
                   "--max-s", "150")  # fmt: skip
    with serve_in_thread() as srv:
        srv.knob("availability").fail_500 = 100_000  # down for the call and for the first probes
        app = _booking_call_with_backend_down(tmp_path, srv, port)
        try:
            # five failing probes (0.4 + 0.8 + 1.6 + 1.6 s of backoff): the cap is seen twice
            app.wait_until("five failed probes", lambda ev: sum(e.get("event") == "probe" for e in ev) >= 5, 40)
            failed = [p["t"] for p in app.all("probe")]
            assert phone.all("incoming") == [], "called while the backend was still failing"
            srv.knob("availability").fail_500 = 0  # the backend recovers
            app.wait_event("probe", 30, ok=True)
            phone.wait_event("incoming", 30)
            second = app.wait_event("call_ended", 90, mode="callback")
            phone.wait_event("done", 60)
            # the attempt's record is written after the call record, then staff are told
            app.wait_until("the attempt's end", lambda ev: _attempt_ended(ev, "booked"), 30)
        finally:
            summary = app.stop()
        bookings = srv.active_bookings()
        creates = [k for ep, k in srv.seen_keys if ep == "create"]
    # backoff: failing probes 0.4, 0.8, 1.6, 1.6 ... s apart (rounds every 0.3 s), not one per round
    gaps = [round(b - a, 2) for a, b in zip(failed, failed[1:], strict=False)]
    assert len(gaps) >= 3 and gaps[0] >= 0.35 and gaps[1] >= 0.75 and min(gaps[2:]) >= 1.55, gaps
    assert max(gaps) < 3.2, gaps  # capped at 1.6 s (plus a 0.3 s round); uncapped the next would be 3.2 s
    assert second["caller_id"] == PHONE and second["mode"] == "callback", second
    assert [t["user"] for t in second["transcript"]] == ["yes"], second["transcript"]
    assert len(bookings) == 1 and bookings[0]["pet_name"] == "Rex", bookings  # exactly once
    assert len(creates) == 1, creates
    row, details = _ticket(summary)
    assert row[5] == "done" and details["done_by"] == "auto_callback", row
    (attempt,) = details["auto_callback"]["attempts"]
    assert attempt["outcome"] == "booked" and attempt["booking_id"] == bookings[0]["id"], attempt
    assert attempt["session_id"] == second["session_id"]
    staff = [(e["data"]["outcome"], e["session_id"]) for e in app.all("app_event") if e["type"] == "callback_attempt"]
    assert staff == [("dialing", second["session_id"]), ("booked", second["session_id"])], staff  # the console hears


@pytest.mark.parametrize(
    ("answer", "outcome", "status"),
    [("486", "busy", "open"), ("none", "no_answer", "open"), ("603", "declined", "done")],
)
def test_a_busy_unanswered_or_rejecting_phone_is_recorded_and_not_redialled_at_once(
    tmp_path: Path, answer: str, outcome: str, status: str
) -> None:
    port = free_port()
    phone = callee(port, "--answer", answer, "--max-s", "120")
    with serve_in_thread() as srv:
        srv.knob("availability").fail_500 = 100_000
        app = _booking_call_with_backend_down(tmp_path, srv, port, "--ring-timeout", "3")
        try:
            srv.knob("availability").fail_500 = 0
            phone.wait_event("incoming", 40)
            phone.wait_event("done", 30)
            app.wait_until("the attempt's end", lambda ev: _attempt_ended(ev, outcome), 30)
            time.sleep(2.0)  # rounds go on: the spacing (30 min on the fixed clock) holds the next attempt
        finally:
            summary = app.stop()
        assert srv.active_bookings() == []
    row, details = _ticket(summary)
    assert row[5] == status, row  # busy, no answer: still open for the next attempt and staff; 603: done
    (attempt,) = details["auto_callback"]["attempts"]
    assert attempt["outcome"] == outcome, attempt
    assert len(phone.all("incoming")) == 1
