"""A real ``appliance run``: a booking chat on the web channel and a recorded SIP call from a real
pjsua2 caller (DTMF menu: callback). Its logs (stderr and ``logging.file``) hold none of the
caller's number, name or words; then ``appliance privacy erase`` leaves nothing in the data dir."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.privacy_scenario import grep_tree
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import ROOT, caller

PHONE, E164, NAME = "+372 5123 4567", "+37251234567", "Mari Tamm"
WORDS = "I need a room for my dog Maxwell from the 10th to the 12th"


def test_daemon_logs_hold_no_personal_data_and_erase_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = Daemon(data, sip=True, env={"APPLIANCE__LOGGING__FILE": "logs/appliance.log"})
    try:
        for text in (WORDS, NAME, PHONE, "yes"):
            reply = d.post("privacy-e2e-web-1", text)
        assert reply.get("booking_id"), reply
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--from-user", E164, "--dtmf", "1@2", "--max-s", "40")
        assert call.wait_event("media", 60)
        call.wait_event("done", 90)
        deadline = time.monotonic() + 30
        while "SIP call sip-" not in d.log() and time.monotonic() < deadline:  # the daemon's side of the hangup
            time.sleep(0.1)
    finally:
        rc = d.stop(signal.SIGTERM)
    assert rc == 0, d.log()[-3000:]
    logs = d.log() + (data / "logs" / "appliance.log").read_text()
    assert re.search(r"SIP call sip-\w+ from #[0-9a-f]{6} ended", logs)  # logged, the caller hashed
    for needle in (E164, PHONE, "51234567", NAME, "Tamm", "Maxwell", WORDS):
        assert needle not in logs, needle
    recordings = list((data / "recordings").glob("*.json"))
    assert recordings and json.loads(recordings[0].read_text())["caller_id"].endswith(E164)

    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "privacy", "erase", "--phone", PHONE, "--reason", "asked",
         "--by", "anna", "--data-dir", str(data), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    receipt = json.loads(proc.stdout)
    assert receipt["counts"]["recordings"] == 1 and receipt["counts"]["bookings_anonymised"] == 1
    assert receipt["counts"]["callback_tickets"] >= 1
    assert grep_tree(data, [E164, PHONE, "51234567", NAME, "Tamm", "Maxwell", WORDS]) == []
