"""Several appliance boxes behind a Kamailio dispatcher (docs/CAPACITY.md, "Past one box"), on
loopback: docs/kamailio/dispatcher.cfg as shipped, two appliance SIP processes (real brain,
espeak-ng, Silero VAD, scripted STT) and pjsua2 callers. Calls spread over both boxes; a box whose
lines are all busy answers 486 and the dispatcher moves the INVITE to the other box; the
caller's BYE reaches the box through Kamailio's Record-Route.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.sip_harness import ROOT, Appliance, caller, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)


class Kamailio:
    def __init__(self, tmp: Path, boxes: list[int]) -> None:
        self.port = free_port()
        self.dir = tmp / "kamailio"
        self.dir.mkdir()
        (self.dir / "dispatcher.list").write_text("".join(f"1 sip:127.0.0.1:{p}\n" for p in boxes))
        cfg = (ROOT / "docs" / "kamailio" / "dispatcher.cfg").read_text()
        cfg = cfg.replace("@LISTEN@", f"udp:127.0.0.1:{self.port}").replace("@LIST@", str(self.dir / "dispatcher.list"))
        (self.dir / "kamailio.cfg").write_text(cfg)
        self.log = (self.dir / "kamailio.log").open("w")
        assert KAMAILIO
        self.proc = subprocess.Popen(
            [KAMAILIO, "-f", str(self.dir / "kamailio.cfg"), "-DD", "-E", "-P", str(self.dir / "k.pid"),
             "-Y", str(self.dir)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while "Listening on" not in self.text() and time.monotonic() < deadline:
            assert self.proc.poll() is None, self.text()
            time.sleep(0.1)
        self.uri = f"sip:appliance@127.0.0.1:{self.port}"

    def text(self) -> str:
        self.log.flush()
        return (self.dir / "kamailio.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.mark.skipif(KAMAILIO is None, reason="kamailio (Debian package kamailio) is not installed")
def test_calls_spread_over_two_boxes_and_a_busy_box_fails_over(tmp_path: Path) -> None:
    a = Appliance(tmp_path / "a", "--max-calls", "1", "--over-capacity", "busy")
    b = Appliance(tmp_path / "b", "--max-calls", "4", "--over-capacity", "busy")
    kam = Kamailio(tmp_path, [a.port, b.port])
    try:
        calls = []
        # Round robin alternates the boxes; each call holds its line 25 s (the next three callers
        # start and call within it, on a slow box too), so the second INVITE that round robin
        # gives box A finds its one line busy: 486, then box B.
        for i in range(4):
            c = caller(kam.uri, "--from-user", f"+37255500{i}", "--hangup-after-s", "25", "--max-s", "40")
            c.wait_event("state", 15, state="CONFIRMED")
            calls.append(c)
        for c in calls:
            c.wait_event("done", 50)
        ended_a = [a.wait_event("call_ended", 30)]
        ended_b = [b.wait_event("call_ended", 30) for _ in range(3)]
        log = kam.text()
    finally:
        kam.stop()
        a.stop()
        b.stop()
    # every caller was answered (none saw the 486): A took one, B the rest, one of them after A's 486
    assert len(ended_a) == 1 and len(ended_b) == 3
    assert log.count(": next box sip:127.0.0.1:") == 1, log[-3000:]
    assert a.all("call_ended")[1:] == [], a.all("call_ended")
    for record in ended_a + ended_b:
        assert record["source"].startswith("127.0.0.1:"), record
        assert record["audio"]["tx_audio_frames"] > 50, record  # the greeting reached the caller
    for c in calls:
        states = [e["state"] for e in c.all("state")]
        assert states.count("DISCONNECTED") == 1, states
