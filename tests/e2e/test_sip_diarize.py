"""Diarization of a recorded SIP call runs after that call, in the background, while another
call is live, and that call goes on unharmed (issue 13). Real pjsua2 callers on loopback, the
real worker in .venv-diarize with the tiny pyannote models (plumbing: 2 speakers forced)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.diarize import diarize_models
from tests.support.sip_harness import Appliance, caller, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]  # long calls on a loaded box

FIRST = ["I need a room for my dog Rex", "Is it for two dogs or one"]  # two people on one line
SECOND = ["I need a room for my cat", "from the 10th to the 15th", "Mari Tamm", "yes please"]


@pytest.fixture(scope="module", name="diarize_models")
def diarize_models_fixture() -> Path:
    return diarize_models()


def test_a_recorded_call_is_diarized_after_it_ends_while_the_next_call_goes_on(
    tmp_path: Path, diarize_models: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(FIRST + SECOND))
    first = [speech_wav(FIRST[0], tmp_path / "a0.wav", "en-us"), speech_wav(FIRST[1], tmp_path / "a1.wav", "en-gb")]
    second = [speech_wav(t, tmp_path / f"b{i}.wav") for i, t in enumerate(SECOND)]
    app = Appliance(tmp_path, "--script", str(script), "--diarize", str(diarize_models))
    try:
        a = caller(app.uri, "--from-user", "+37251112233", "--turns", ",".join(map(str, first)),
                   "--hangup-after-turns", "--max-s", "90")  # fmt: skip
        a.wait_event("done", 100)
        rec_a = app.wait_event("call_ended", 30)
        b = caller(app.uri, "--from-user", "+37255556666", "--turns", ",".join(map(str, second)),
                   "--hangup-after-turns", "--max-s", "150")  # fmt: skip
        b.wait_event("done", 160)
        app.wait_event("diarization", 300, busy=False, done=2)  # both calls ended, both diarized
    finally:
        app.stop()
    rec_b = app.all("call_ended")[1]
    events = app.all("diarization")  # every change of (job busy, done, failed, live calls), in order
    first_busy = next(e for e in events if e["busy"])
    # the first job ran only after its call had ended ...
    assert rec_a["session_id"] not in first_busy["live_calls"], events
    # ... and while the second call was live, which had every turn heard and answered
    assert any(e["busy"] and e["done"] == 0 and rec_b["session_id"] in e["live_calls"] for e in events), events
    assert [t["user"] for t in rec_b["transcript"]] == SECOND, rec_b
    assert rec_b["outcome"] == "caller_hung_up", rec_b
    assert (events[-1]["done"], events[-1]["failed"]) == (2, 0), events
    assert all(t["start"] is not None and t["end"] >= t["start"] for t in rec_a["transcript"]), rec_a
    c = sqlite3.connect(tmp_path / "appliance.db")
    try:
        status = c.execute("SELECT status, speakers FROM diarizations WHERE session_id = ?", (rec_a["session_id"],))
        assert status.fetchall() == [("done", 2)]
        turns = c.execute(
            "SELECT speaker, transcript_turn FROM speaker_turns WHERE session_id = ? ORDER BY seq",
            (rec_a["session_id"],),
        ).fetchall()
    finally:
        c.close()
    assert {s for s, _ in turns} == {"SPEAKER_00", "SPEAKER_01"}, turns
    assert {t for _, t in turns} - {None} <= {t["turn"] for t in rec_a["transcript"]}, turns
