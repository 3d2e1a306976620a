"""SIP calls through the one call runner (appliance/voice/callrunner.py) against a real pjsua2
caller on loopback: what is stored when a call ends in the middle of things."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sip_harness import Appliance, caller, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TURNS = ["I need a room for my dog Rex from the 10th to the 15th", "Mari Tamm"]


def _turns(db: Path, session_id: str) -> list[tuple[str, str, dict[str, float], float | None]]:
    c = sqlite3.connect(db)
    try:
        rows = c.execute(
            "SELECT role, text, timeline, first_audio FROM turns WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    finally:
        c.close()
    return [(r[0], r[1], json.loads(r[2] or "{}"), r[3]) for r in rows]


def test_a_hang_up_during_a_reply_stores_every_turn_and_timeline_and_takes_a_ticket(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(TURNS))
    wavs = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(TURNS)]
    app = Appliance(tmp_path, "--script", str(script), "--record", "0")
    try:
        call = caller(app.uri, "--from-user", "+37251234567", "--turns", ",".join(map(str, wavs)),
                      "--hangup-during-reply", "--max-s", "90")  # fmt: skip
        hangup = call.wait_event("hangup", 100)
        assert hangup.get("during_reply") is True
        call.wait_event("done", 30)
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert record["outcome"] == "caller_hung_up", record
    # the booking was not finished: staff get a callback ticket pointing at the stored session
    assert [t[1:3] for t in summary["tickets"]] == [["+37251234567", "call_dropped_unfinished"]], summary
    assert summary["tickets"][0][4] == record["session_id"]
    assert [t["user"] for t in record["transcript"]] == TURNS
    rows = _turns(tmp_path / "appliance.db", record["session_id"])
    users = [text for role, text, _, _ in rows if role == "user"]
    replies = [(tl, first) for role, _, tl, first in rows if role == "assistant"]
    assert users == TURNS
    assert len(replies) == 1 + len(TURNS)  # the greeting and one reply per turn
    # every reply has its timeline, the one cut off by the hang-up included (it started playing)
    for tl, first_audio in replies:
        assert tl and first_audio is not None, rows
    assert "speech_start" in replies[-1][0] or "end_of_speech" in replies[-1][0], replies[-1]


def test_sigkill_mid_booking_then_the_same_caller_is_offered_to_continue(tmp_path: Path) -> None:
    """The appliance is SIGKILLed while the reply to the first turn plays; restarted on the same
    data, it makes a callback ticket for the cut call (transcript so far and slots, before any
    call comes in) and offers the same caller ID to continue the booking with the same slots. A
    third start makes no second ticket."""
    first, yes = speech_wav(TURNS[0], tmp_path / "turn0.wav"), speech_wav("yes", tmp_path / "yes.wav")
    (tmp_path / "s1.json").write_text(json.dumps(TURNS[:1]))
    app = Appliance(tmp_path, "--script", str(tmp_path / "s1.json"), "--record", "0")
    try:
        # --max-s: long enough that the caller is still on the line when the reply plays, on a slow box
        call = caller(app.uri, "--from-user", "+37251234567", "--turns", str(first), "--max-s", "60")
        call.wait_event("reply_gap", 60)  # the reply to the first turn is playing
    finally:
        app.kill()  # SIGKILL: no shutdown, no flush
    call.kill()  # the phone of a caller whose call was cut (no BYE comes from a killed appliance)
    (tmp_path / "s2.json").write_text(json.dumps(["yes"]))
    app = Appliance(tmp_path, "--script", str(tmp_path / "s2.json"), "--record", "0")
    cut_tickets = app.ready["cut_call_tickets"]
    try:
        again = caller(app.uri, "--from-user", "+37251234567", "--turns", str(yes), "--hangup-after-turns",
                       "--max-s", "40")  # fmt: skip
        again.wait_event("done", 60)
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert summary["bookings"] == []  # nothing booked twice (or at all: it was not confirmed)
    db = tmp_path / "appliance.db"
    # the cut call got its ticket at the restart, before the caller rang again
    assert len(cut_tickets) == 1, summary
    (ticket,) = [t for t in summary["tickets"] if t[0] == cut_tickets[0]]
    assert ticket[1:3] == ["+37251234567", "call_cut_by_restart"] and ticket[4] != record["session_id"], ticket
    c = sqlite3.connect(db)
    try:
        (details,) = c.execute("SELECT details FROM callback_tickets WHERE id = ?", (ticket[0],)).fetchone()
    finally:
        c.close()
    details = json.loads(details)
    assert details["slots"]["pet_name"] == "Rex" and details["slots"]["start_date"].endswith("-12-10"), details
    assert [t["text"] for t in details["transcript"] if t["role"] == "user"] == TURNS[:1], details
    third = Appliance(tmp_path, "--record", "0")
    third.stop()
    assert third.ready["cut_call_tickets"] == []  # once, across restarts
    rows = _turns(db, record["session_id"])
    assert "continue" in rows[0][1] and "Rex" in rows[0][1], rows[0]  # the greeting offered to go on
    assert [text for role, text, _, _ in rows if role == "user"] == ["yes"]
    c = sqlite3.connect(db)
    try:
        (state,) = c.execute("SELECT state FROM conversation_sessions WHERE id = ?", (record["session_id"],)).fetchone()
    finally:
        c.close()
    state = json.loads(state)
    assert state["slots"]["pet_name"] == "Rex" and state["slots"]["start_date"].endswith("-12-10"), state
    assert state["awaiting"] == "owner_name", state  # yes: on from where the first call stopped
    check = subprocess.run(
        [sys.executable, "-m", "appliance", "db", "check", "--json", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "APPLIANCE__LLM__MODE": "off"},
    )  # fmt: skip
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True, check.stdout + check.stderr
