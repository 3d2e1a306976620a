"""A clean stop (SIGTERM) with a call whose turn is stuck in the brain: the whole stop keeps to
one budget (``sip.stop_timeout_s``, voice/stopbudget.py) instead of stacked timeouts (flush 8 s +
goodbye 9 s + hang-up 3 s), the caller is still told goodbye and hung up, the booking under way
gets a callback ticket, and the next start finds no call left unfinished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.sip_harness import Appliance, caller, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TURNS = ["I need a room for my dog Rex from the 10th to the 15th", "Mari Tamm"]
BUDGET_S = 8.5  # the pipeline's (1 s), the goodbye's (6 s) and the hang-up's (1.5 s) shares: no flush


def test_a_stop_with_a_stuck_turn_keeps_to_one_budget_and_says_goodbye(tmp_path: Path) -> None:
    (tmp_path / "script.json").write_text(json.dumps(TURNS))
    wavs = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(TURNS)]
    # the brain hangs on the second turn (for an hour; its own timeout is longer than the test)
    app = Appliance(tmp_path, "--script", str(tmp_path / "script.json"), "--record", "0", "--brain-hang-at", "1",
                    "--brain-timeout", "600", "--stop-timeout", str(BUDGET_S))  # fmt: skip
    try:
        call = caller(app.uri, "--from-user", "+37251234567", "--turns", ",".join(map(str, wavs)),
                      "--max-s", "60")  # fmt: skip
        call.wait_event("reply_gap", 60, n=2)  # "one moment": the second turn is stuck in the brain
    finally:
        summary = app.stop()
    stopped = app.wait_event("stopped", 5)
    print(json.dumps({"stop_s": stopped["stop_s"], "budget_s": BUDGET_S}))
    record = app.wait_event("call_ended", 5)
    call.wait_event("done", 30)
    assert record["outcome"] == "shutdown" and record.get("goodbye") is True, record
    assert "flush timeout" in record["errors"], record  # the stuck turn was given up, not waited for
    # the whole stop of the SIP channel: within the budget (+ the endpoint's own close)
    assert stopped["stop_s"] <= BUDGET_S + 1.5, stopped
    assert "DISCONNECTED" in [e.get("state") for e in call.all("state")]  # hung up by the appliance
    # the booking under way: a callback ticket, and the session's end is recorded
    assert [t[1:3] for t in summary["tickets"]] == [["+37251234567", "call_cut_by_shutdown"]], summary
    assert summary["tickets"][0][4] == record["session_id"]
    again = Appliance(tmp_path, "--record", "0")
    again.stop()
    assert again.ready["cut_call_tickets"] == []  # a clean stop leaves no call unfinished
