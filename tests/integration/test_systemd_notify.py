"""``appliance run`` under a real NOTIFY_SOCKET (an AF_UNIX datagram socket bound here, as systemd
does): STATUS= while starting, READY=1 only once the web chat and the SIP transport answer,
WATCHDOG=1 regularly from the event loop, no WATCHDOG=1 while the loop is blocked on purpose,
STOPPING=1 on SIGTERM, and a call in progress hears a goodbye and is hung up on stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.run_daemon import Daemon, NotifyListener
from tests.support.sip_harness import caller

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s
BLOCK_S = 4.0


def _sip_options(port: int) -> bytes:
    msg = (
        f"OPTIONS sip:appliance@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-notify-1;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=t1\r\nTo: <sip:appliance@127.0.0.1>\r\n"
        "Call-ID: notify-probe-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind(("127.0.0.1", 0))
        s.sendto(msg.encode(), ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
    return data


def _start(tmp_path: Path, **env: str) -> tuple[Daemon, NotifyListener]:
    listener = NotifyListener(tmp_path / "notify.sock")
    d = Daemon(
        tmp_path / "data",
        sip=True,
        wait_ready=False,
        env={
            "NOTIFY_SOCKET": str(listener.path),
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            "APPLIANCE_TEST_BLOCK_LOOP_S": str(BLOCK_S),
            **env,
        },
    )
    return d, listener


def test_ready_after_channels_watchdog_stops_when_loop_blocked(tmp_path: Path) -> None:
    d, listener = _start(tmp_path)
    try:
        _t, ready = listener.wait_for("READY", 120)
        # READY=1 means the channels are up now: both answer without any waiting.
        with urllib.request.urlopen(f"{d.web}/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["ok"] is True
        assert _sip_options(d.sip_port).startswith(b"SIP/2.0 200")
        assert ready["MAINPID"] == str(d.proc.pid)
        assert "running" in ready["STATUS"] and f":{d.web_port}" in ready["STATUS"]
        statuses = [m["STATUS"] for _, m in listener.messages if "STATUS" in m and "READY" not in m]
        assert any("SIP" in s for s in statuses) and any("engines" in s for s in statuses), statuses

        # WATCHDOG=1 regularly (every WATCHDOG_USEC/2)
        t0 = time.monotonic()
        time.sleep(3.0)
        pings = listener.times("WATCHDOG", since=t0)
        assert len(pings) >= 4, pings
        gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
        assert max(gaps) < WATCHDOG_USEC / 1e6, gaps

        # the test hook blocks the event loop for BLOCK_S: no pings in that time, then they resume
        blocked_at = time.monotonic()
        os.kill(d.proc.pid, signal.SIGUSR2)
        time.sleep(BLOCK_S + 2.0)
        # (a ping already on its way as the signal lands may arrive just after blocked_at: look for
        # the silence among the pings around the block, not from blocked_at)
        around = listener.times("WATCHDOG", since=blocked_at - 1.0)
        assert around and around[-1] > blocked_at, "pings never resumed after the loop was unblocked"
        gaps = [(b - a, b) for a, b in zip(around, around[1:], strict=False)]
        silent, resumed = max(gaps) if gaps else (0.0, 0.0)
        assert silent > BLOCK_S - 0.5, f"no silence of {BLOCK_S} s while the loop was blocked: {gaps}"
        assert len([t for t in around if t >= resumed]) >= 2  # regular again

        stop_at = time.monotonic()
        assert d.stop() == 0
        stopping = [t for t, m in listener.messages if m.get("STOPPING") == "1"]
        assert stopping and stopping[0] >= stop_at
    finally:
        d.stop()
        listener.close()


def test_no_watchdog_pings_when_systemd_asks_for_none(tmp_path: Path) -> None:
    d, listener = _start(tmp_path, WATCHDOG_USEC="", APPLIANCE__SIP__ENABLED="false")
    try:
        listener.wait_for("READY", 120)
        time.sleep(1.5)
        assert not listener.times("WATCHDOG")
    finally:
        assert d.stop() == 0
        listener.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["menu", "voice"])
def test_sigterm_says_goodbye_to_a_caller_and_stops_in_time(
    tmp_path: Path, mode: str, test_models: dict[str, Path]
) -> None:
    """menu: no speech model (the DTMF menu is talking); voice: the tiny test whisper model, so the
    call runs the pipecat voice pipeline, which is cancelled before the goodbye."""
    env = {"APPLIANCE__SIP__RECORD": "true"}
    if mode == "voice":
        env["APPLIANCE__VOICE__STT_MODEL"] = str(test_models["whisper"])
    d, listener = _start(tmp_path, **env)
    call = None
    try:
        listener.wait_for("READY", 120)
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--max-s", "60")
        call.wait_event("media", 30)
        time.sleep(4.0)  # into the menu / past the greeting
        assert any("running: 1 call(s)" in m.get("STATUS", "") for _, m in listener.messages), listener.messages
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(30)  # TimeoutStopSec=30 in the unit
        took = time.monotonic() - t0
        assert rc == 0, d.log()[-3000:]
        assert took < 20, took
        call.wait_event("done", 30)
        states = [e.get("state") for e in call.all("state")]
        assert "DISCONNECTED" in states, states
        records = [json.loads(p.read_text()) for p in (tmp_path / "data" / "recordings").glob("*.json")]
        assert len(records) == 1, records
        assert records[0]["mode"] == mode, records[0]
        assert records[0]["outcome"] == "shutdown" and records[0]["goodbye"] is True, records[0]
        assert any(m.get("STOPPING") == "1" for _, m in listener.messages)
    finally:
        if call is not None:
            call.kill()
        d.stop()
        listener.close()


def test_watchdog_abort_leaves_the_stuck_stacks_in_the_log(tmp_path: Path) -> None:
    """What systemd does when the watchdog expires (SIGABRT to a blocked daemon): faulthandler
    writes every thread's Python stack to stderr, i.e. the journal."""
    d, listener = _start(tmp_path, APPLIANCE__SIP__ENABLED="false")
    try:
        listener.wait_for("READY", 120)
        os.kill(d.proc.pid, signal.SIGUSR2)  # block the loop (test hook)
        time.sleep(1.0)
        os.kill(d.proc.pid, signal.SIGABRT)
        assert d.proc.wait(30) == -signal.SIGABRT
        log = d.log()
        assert "Fatal Python error: Aborted" in log, log[-2000:]
        assert "asyncio/base_events.py" in log and "most recent call first" in log, log[-3000:]
    finally:
        d.stop()
        listener.close()
