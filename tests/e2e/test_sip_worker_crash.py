"""A SIP worker dies mid-booking while the daemon stays up (``sip.workers = 2``): the cut call
gets its callback ticket at once (transcript so far and slots), not at the daemon's next start;
the daemon keeps running, the worker is restarted and the next call is answered.

A real ``appliance run`` with two SIP workers and the shared model services (the trained test
Whisper, tests/support/trained_stt.py), a pjsua2 caller playing espeak-ng phrases the model reads
right (as in test_sip_voice.py), and SIGKILL of the worker processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest

from appliance.channels.file_transport import write_wav
from tests.support.procs import children
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import caller
from tests.support.speech import speech
from tests.support.staff_view import desk_view
from tests.support.trained_stt import as_written, trained_stt_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),  # a daemon start, models and a whole call on a loaded 2-core box
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)"),
]

CALLER_ID = "+37251234567"
NOW = "2026-12-01T10:00:00+02:00"
LINES = ["Hi, I need a room for my dog", "His name is Max"]


def _workers(daemon_pid: int) -> list[int]:
    """The daemon's ``appliance sip-worker`` children."""
    return sorted(pid for pid, cmd in children(daemon_pid).items() if "sip-worker" in cmd)


def _tickets(db: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return list(c.execute("SELECT phone, reason, session_id, details FROM callback_tickets"))


def test_a_worker_killed_mid_booking_tickets_its_call_at_once(tmp_path: Path) -> None:
    wavs = []
    for i, text in enumerate(LINES):
        write_wav(tmp_path / f"turn{i}.wav", speech(text, "en"))
        wavs.append(str(tmp_path / f"turn{i}.wav"))
    data = tmp_path / "data"
    env = {
        "APPLIANCE__SIP__WORKERS": "2",  # services.mode = "auto": STT and TTS in the shared services
        "APPLIANCE__VOICE__STT_MODEL": str(trained_stt_path()),
        "APPLIANCE__VOICE__STT_TIMEOUT_S": "8",  # the words are under test (test_sip_voice.py)
    }
    # niced: the caller stands in for a phone with its own CPU (test_sip_voice.py)
    daemon = Daemon(data, sip=True, env=env, args=("--now", NOW), wrap=["nice", "-n", "5"])
    db = data / "appliance.db"
    try:
        before = _workers(daemon.proc.pid)
        assert len(before) == 2, before
        call = caller(f"sip:appliance@127.0.0.1:{daemon.sip_port}", "--from-user", CALLER_ID,
                      "--turns", ",".join(wavs), "--quiet-s", "2.0", "--max-s", "120")  # fmt: skip
        call.wait_event("reply_gap", 150, n=2)  # the reply to "His name is Max" is playing
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        tickets: list[tuple] = []
        while time.monotonic() - killed_at < 20 and not tickets:
            tickets = _tickets(db)
            time.sleep(0.2)
        ticketed_s = time.monotonic() - killed_at
        call.wait_event("done", 130)
        # the daemon lives on: its workers are back, and the next call is answered
        deadline = time.monotonic() + 60
        after: list[int] = []
        while time.monotonic() < deadline and len(after) < 2:
            after = [p for p in _workers(daemon.proc.pid) if p not in before]
            time.sleep(0.3)
        assert daemon.proc.poll() is None, daemon.log()[-3000:]
        with urllib.request.urlopen(f"{daemon.web}/healthz", timeout=10) as resp:
            assert resp.status == 200
        ready = time.monotonic() + 60  # the restarted workers' "ready" (Health shows them up)
        while time.monotonic() < ready and not all(
            w["up"] for w in asyncio.run(desk_view(data / "appliance.sock"))["health"]["sip"]["workers"]
        ):
            time.sleep(0.5)
        again = caller(f"sip:appliance@127.0.0.1:{daemon.sip_port}", "--from-user", "+3725550001",
                       "--record", str(tmp_path / "again.wav"), "--hangup-after-s", "6", "--max-s", "20")  # fmt: skip
        again_done = again.wait_event("done", 60)
        desk = asyncio.run(desk_view(data / "appliance.sock"))  # what the staff console is shown
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()[-3000:]
    assert len(after) == 2, (after, daemon.log()[-3000:])
    assert len(tickets) == 1, (tickets, daemon.log()[-3000:])
    phone, reason, session_id, details = tickets[0]
    d = json.loads(details)
    assert (phone, reason) == (CALLER_ID, "call_cut_by_restart"), tickets
    # made while the daemon was up (found within the wait above), not at its next start
    assert d["source"].startswith("sip_worker_") and d["source"].endswith("_died"), (d, ticketed_s)
    assert d["slots"]["pet_name"] == "Max" and d["slots"]["pet_type"] == "dog", d
    assert [t["text"] for t in d["transcript"] if t["role"] == "user"] == [as_written(t) for t in LINES], d
    assert again_done["voiced_s"] > 1, again_done  # the greeting of the next call was heard
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        (ended,) = c.execute("SELECT ended_at FROM conversation_sessions WHERE id = ?", (session_id,)).fetchone()
    assert ended is not None  # closed: the next start makes no second ticket
    # staff were told: each worker's death and return is an event (the console's notice and Health
    # tab), the cut call left the live board as cut, and Health lists the workers and the services
    events = [e for e in desk["events"] if e["data"].get("component") == "sip_worker"]
    assert {(e["type"], e["data"]["state"]) for e in events} == {("degraded", "down"), ("degraded_off", "up")}, events
    assert any(e["type"] == "call_ended" and e["session_id"] == session_id and e["data"].get("outcome") == "cut"
               for e in desk["events"]), desk["events"]  # fmt: skip
    workers = desk["health"]["sip"]["workers"]
    assert [w["up"] for w in workers] == [True, True] and sum(w["restarts"] for w in workers) == 2, workers
    assert set(desk["health"]["services"]) >= {"stt", "tts"}, desk["health"]
