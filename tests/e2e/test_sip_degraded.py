"""Degraded mode mid-call, against a real pjsua2 caller on loopback: an engine fails during the
call and the caller hears, within 2 s of finishing their turn (measured from the RTP the caller
receives), the apology with the keypad menu; then the keypad works (the brain decides):
1 takes a callback ticket that points at the session (the transcript so far), 0 sends a REFER."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.http_backend_server import serve_in_thread
from tests.support.sip_harness import Appliance, caller, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_DEAD_AIR_S = 2.0
TURNS = ["I need a room for my dog Rex from the 10th to the 15th", "Mari Tamm"]


def _call(tmp_path: Path, digit: str, *faults: str, turns: list[str] = TURNS) -> tuple[list[dict], dict, dict, list]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(turns))
    wavs = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(turns)]
    app = Appliance(tmp_path, "--script", str(script), "--record", "0", *faults)
    try:
        call = caller(app.uri, "--from-user", "+37251234567", "--turns", ",".join(map(str, wavs)),
                      "--dtmf-after-turns", digit, "--max-s", "60")  # fmt: skip
        if digit == "0":
            call.wait_event("refer", 70)
        call.wait_event("done", 70)
        record = app.wait_event("call_ended", 30)
        degraded = [e for e in app.all("app_event") if e["type"] == "degraded"]
    finally:
        summary = app.stop()
    return call.all("reply_gap"), record, summary, degraded


@pytest.mark.parametrize(
    ("fault", "args", "component"),
    [
        ("stt_crash", ("--stt-fail-at", "1"), "stt"),
        ("stt_hang", ("--stt-hang-at", "1"), "stt"),
        ("tts_raises", ("--tts-fail-from", "3"), "tts"),
    ],
)
def test_engine_failure_mid_call_apologises_within_2s_and_keypad_1_takes_a_callback(
    tmp_path: Path, fault: str, args: tuple[str, ...], component: str
) -> None:
    gaps, record, summary, degraded = _call(tmp_path, "1", *args)
    assert len(gaps) == len(TURNS), gaps
    assert max(g["s"] for g in gaps) <= MAX_DEAD_AIR_S, gaps  # never silence after the caller spoke
    assert [d["data"]["component"] for d in degraded] == [component], degraded  # staff see it
    assert record["dtmf"] == ["1"]
    tickets = summary["tickets"]
    assert [t[1:3] for t in tickets] == [["+37251234567", "callback_requested_keypad"]], tickets
    assert tickets[0][4] == record["session_id"]  # the ticket points at the session: the transcript so far
    assert record["outcome"] == "completed", record  # the appliance said goodbye after the ticket


def test_keypad_0_after_a_failure_transfers_with_refer(tmp_path: Path) -> None:
    gaps, record, _summary, degraded = _call(tmp_path, "0", "--stt-fail-at", "1")
    assert max(g["s"] for g in gaps) <= MAX_DEAD_AIR_S, gaps
    assert degraded and record["transfer"]["ok"] is True and record["outcome"] == "transferred", record


def test_a_hanging_brain_says_one_moment_then_apologises_and_the_keypad_works(tmp_path: Path) -> None:
    gaps, record, summary, degraded = _call(tmp_path, "1", "--brain-hang-at", "1", "--brain-timeout", "4")
    assert max(g["s"] for g in gaps) <= MAX_DEAD_AIR_S, gaps  # "one moment" first, then the apology
    assert [d["data"]["component"] for d in degraded] == ["brain"], degraded
    assert [t[2] for t in summary["tickets"]] == ["callback_requested_keypad"], summary


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_booking_backend_failure_keeps_the_callback_path(tmp_path: Path, fault: str) -> None:
    with serve_in_thread() as srv:
        for name in ("availability", "quote"):
            knob = srv.knob(name)
            if fault == "500":
                knob.fail_500 = 1000
            else:
                knob.delay_s = 20.0
        gaps, record, summary, degraded = _call(
            tmp_path, "", "--backend", srv.base_url, "--tool-timeout", "1.5", turns=[*TURNS, "yes"]
        )
    assert max(g["s"] for g in gaps) <= MAX_DEAD_AIR_S, gaps  # "one moment, I'm checking" within 2 s
    assert degraded == []  # the speech engines are fine: no keypad menu, the brain's fallback
    assert len(summary["tickets"]) == 1, summary  # the executor's fallback: a callback ticket
    assert [t["user"] for t in record["transcript"]] == [*TURNS, "yes"]
