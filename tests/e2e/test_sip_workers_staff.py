"""Staff call control with several SIP worker processes (``sip.workers = 2``): from the staff
API (the console's transfer and end keys), a live call is transferred (the worker holding it
sends the REFER through the proxy, to the caller) and another one is hung up; the AI pause
reaches the workers (their next call gets the keypad menu). A real
``appliance run``, two pjsua2 callers on loopback, the control API on its Unix socket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.console.client import ApiClient
from appliance.core.control import ApiError, ErrorCode
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import JsonProcess, caller

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def _sessions(sock: Path, callers: set[str], timeout: float = 60) -> dict[str, str]:
    """Caller ID -> live session id, once every caller's call is on the live board."""
    async with ApiClient(sock) as api:
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while time.monotonic() < deadline and set(found) != callers:
            live = (await api.get("/sessions"))["sessions"]
            found = {s["caller_id"]: s["id"] for s in live if s["channel"] == "voice" and not s["ended"]}
            await asyncio.sleep(0.3)
        assert set(found) >= callers, found
        return found


async def _modes(sock: Path, number: str) -> str:
    """The mode of the live call from ``number`` (voice, menu, overflow)."""
    async with ApiClient(sock) as api:
        for _ in range(100):
            live = [s for s in (await api.get("/sessions"))["sessions"] if s["caller_id"] == number]
            if live and live[0]["mode"]:
                return str(live[0]["mode"])
            await asyncio.sleep(0.2)
    raise AssertionError(f"no live call from {number}")


async def _act(sock: Path, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with ApiClient(sock) as api:
        return await api.post(path, body or {})


def _families(text: str) -> dict[str, dict[tuple, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        fam.name: {(x.name, tuple(sorted(x.labels.items()))): x.value for x in fam.samples}
        for fam in text_string_to_metric_families(text)
    }


def test_staff_transfer_and_end_calls_held_by_worker_processes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    daemon = Daemon(data, sip=True, env={"APPLIANCE__SIP__WORKERS": "2"})
    sock = data / "appliance.sock"
    calls: dict[str, JsonProcess] = {}
    try:
        uri = f"sip:appliance@127.0.0.1:{daemon.sip_port}"
        for number in ("+3725550101", "+3725550102", "+3725550103"):
            calls[number] = caller(uri, "--from-user", number, "--max-s", "60")
        for call in calls.values():
            call.wait_event("media", 60)
        sids = asyncio.run(_sessions(sock, set(calls)))
        moved = asyncio.run(_act(sock, f"/sessions/{sids['+3725550101']}/transfer", {"extension": "200"}))
        refer = calls["+3725550101"].wait_event("refer", 20)
        ended = asyncio.run(_act(sock, f"/sessions/{sids['+3725550102']}/end"))
        gone = calls["+3725550102"].wait_event("state", 20, state="DISCONNECTED")
        with pytest.raises(ApiError) as err:
            asyncio.run(_act(sock, "/sessions/sip-nosuchcall/end"))
        still = calls["+3725550103"].all("state")
        # staff pause the AI: the workers' next calls get the keypad menu (a line free again first)
        calls["+3725550102"].wait_event("done", 60)
        asyncio.run(_act(sock, "/ai/pause", {"paused": True}))
        time.sleep(1)  # the daemon tells the workers at once (its 2 s sweep is the backstop); they read stdin
        calls["+3725550104"] = caller(uri, "--from-user", "+3725550104", "--max-s", "20")
        calls["+3725550104"].wait_event("media", 60)
        paused_call = asyncio.run(_modes(sock, "+3725550104"))
        scraped = _families(daemon.metrics())  # counted in the workers, served by the daemon
    finally:
        rc = daemon.stop()
        for call in calls.values():
            call.wait_event("done", 30)
    assert rc == 0, daemon.log()[-3000:]
    assert moved == {"session_id": sids["+3725550101"], "transferred": True}, moved
    assert refer["to"].startswith("sip:200@127.0.0.1"), refer  # staff's extension at the caller's PBX
    assert ended == {"session_id": sids["+3725550102"], "ended": True} and gone, ended
    assert err.value.code is ErrorCode.NOT_FOUND
    assert "DISCONNECTED" not in [s["state"] for s in still], still  # the third call was left alone
    assert paused_call == "menu"  # the AI pause reached the worker that took the call
    calls = scraped["appliance_calls"]
    assert sum(v for (name, _), v in calls.items() if name == "appliance_calls_total") == 4, calls
    assert calls[("appliance_calls_total", (("mode", "menu"),))] >= 1, calls  # the paused worker's call
    assert scraped["appliance_active_calls"][("appliance_active_calls", ())] >= 2  # 103 and 104 are on the line
