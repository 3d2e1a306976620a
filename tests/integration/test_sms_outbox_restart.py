"""The outbox survives a SIGKILL between a booking's commit and its confirmation text.

A real ``appliance run`` takes a booking in the web chat (the tenant texts confirmations for
every channel) while the SMS gateway is down: the confirmation waits in the outbox. The
daemon is killed with SIGKILL; Kannel comes up; a restarted daemon sends the confirmation,
and the fake SMSC gets it exactly once, also after one more restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from appliance.console.client import ApiClient
from tests.support import kannel as kn
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import ROOT

# Kannel missing is a failure with a message (scripts/setup.sh installs it), never a skip.

PHONE = "+37251234567"


def _env(k: kn.Kannel) -> dict[str, str]:
    return {
        "APPLIANCE__SMS__ENABLED": "true",
        "APPLIANCE__SMS__CONFIRM_OTHER_CHANNELS": "true",
        "APPLIANCE__SMS__LISTEN_PORT": str(k.inbound_port),
        "APPLIANCE__SMS__KANNEL_SENDSMS_URL": k.sendsms_url,
        "APPLIANCE__SMS__KANNEL_USERNAME": kn.USER,
        "APPLIANCE__SMS__KANNEL_PASSWORD": kn.PASSWORD,
        "APPLIANCE__SMS__SENDER": "1345",
        "APPLIANCE__SMS__RETRY_BASE_S": "0.5",
        "APPLIANCE__SMS__RETRY_MAX_S": "1",
        "APPLIANCE__SMS__MAX_ATTEMPTS": "1000",
    }


def _outbox(data: Path) -> list[tuple[str, str, int]]:
    """``appliance outbox list --json``: through the daemon's API while it runs, else from the store."""
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "outbox", "list", "--json", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [(m["kind"], m["status"], m["attempts"]) for m in reversed(json.loads(proc.stdout))]


async def _health(data: Path) -> dict[str, Any]:
    async with ApiClient(data / "appliance.sock") as api:
        return dict(await api.get("/health"))


def _wait(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_confirmation_sent_exactly_once_after_sigkill(tmp_path: Path) -> None:
    assert kn.available(), "Kannel is not installed: scripts/setup.sh installs kannel and kannel-extras"
    data = tmp_path / "data"
    k = kn.Kannel(tmp_path / "kannel", kn.free_port())  # ports chosen, nothing started: the gateway is down
    d = Daemon(data, env=_env(k))
    try:
        r = d.post("web-session-1", "I need a room for my cat Tom next weekend")
        for text in ("Mari Tamm", PHONE, "yes"):
            r = d.post("web-session-1", text)
        booking_id = r["booking_id"]
        assert booking_id
        # committed, and its confirmation waits: sendsms is refused, the outbox retries
        _wait(lambda: any(k_ == "confirmation" and a >= 2 for k_, _s, a in _outbox(data)), 60)
        queues = asyncio.run(_health(data))["queues"]  # the console's Health tab shows these
        assert queues["sms_waiting"] >= 1 and queues["sms_failed"] == 0, queues
    finally:
        d.stop(signal.SIGKILL)
    rows = _outbox(data)
    assert [s for kind, s, _ in rows if kind == "confirmation"] in (["pending"], ["sending"])
    try:
        k.start()
        d2 = Daemon(data, env=_env(k))
        try:
            got = k.wait_for(1, 30)
            time.sleep(3)  # room for a duplicate to show up
            d2.stop()
            d3 = Daemon(data, env=_env(k))  # one more start: the sweep and the outbox add nothing
            time.sleep(3)
            d3.stop()
        finally:
            d2.stop()
        got = k.received()
    finally:
        k.stop()
    confirmations = [m for m in got if booking_id in m.text]
    assert len(confirmations) == 1, (got, k.logs())
    assert confirmations[0].receiver == PHONE and "confirmed" in confirmations[0].text
    assert [s for kind, s, _ in _outbox(data) if kind == "confirmation"] == ["sent"]
