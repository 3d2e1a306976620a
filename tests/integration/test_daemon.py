"""`appliance run`: starts, serves, stops cleanly on SIGTERM, and continues sessions after a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaemonProc:
    def __init__(self, data: Path, port: int, *, sip: bool = False, env: dict[str, str] | None = None) -> None:
        extra = env or {}
        env = {
            **os.environ,
            "APPLIANCE__LLM__MODE": "off",
            "APPLIANCE__WEB__PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        if not sip:
            env["APPLIANCE__SIP__ENABLED"] = "false"
        env.update(extra)
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--data-dir", str(data)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 90
        self.log: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line and self.proc.poll() is not None:
                break
            self.log.append(line)
            if line.startswith("READY"):
                return
        raise AssertionError("daemon did not start:\n" + "".join(self.log))

    def post(self, session: str, text: str) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/message",
            data=json.dumps({"session": session, "text": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return rc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    d = DaemonProc(tmp_path, free_port())
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.port}/healthz", timeout=10) as resp:
            assert json.loads(resp.read())["ok"] is True
        assert (tmp_path / "appliance.sock").exists()
    finally:
        rc = d.stop(sig)
    assert rc == 0
    assert not (tmp_path / "appliance.sock").exists()


def test_restart_mid_conversation_continues(tmp_path: Path) -> None:
    port = free_port()
    d = DaemonProc(tmp_path, port)
    try:
        r = d.post("restart-session-1", "I need a room for my cat Tom next weekend")
        assert r["awaiting"] == "owner_name"
        r = d.post("restart-session-1", "Mari Tamm")
        assert r["awaiting"] == "owner_phone"
    finally:
        assert d.stop() == 0
    d2 = DaemonProc(tmp_path, port)
    try:
        r = d2.post("restart-session-1", "+372 5123 4567")
        assert r["awaiting"] == "confirmation" and r["slots"]["pet_name"] == "Tom"
        r = d2.post("restart-session-1", "yes")
        assert r["booking_id"]
    finally:
        assert d2.stop() == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {
            **os.environ,
            "APPLIANCE__LLM__MODE": "off",
            "APPLIANCE__WEB__PORT": str(port),
            "APPLIANCE__SIP__ENABLED": "false",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "appliance", "run", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
        )
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in proc.stderr


def test_run_answers_sip_and_web(tmp_path: Path) -> None:
    """`appliance run` with the defaults (only ports moved): SIP answers on loopback, web chat serves."""
    sip_port = free_port()
    ports = {"APPLIANCE__SIP__UDP_PORT": str(sip_port), "APPLIANCE__SIP__TCP_PORT": str(sip_port)}
    d = DaemonProc(tmp_path, free_port(), sip=True, env=ports)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.port}/healthz", timeout=10) as resp:
            assert json.loads(resp.read())["ok"] is True
        options = (
            f"OPTIONS sip:appliance@127.0.0.1:{sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{sip_port + 1};branch=z9hG4bK-test-1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=t1\r\nTo: <sip:appliance@127.0.0.1>\r\n"
            "Call-ID: probe-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(10)
            s.bind(("127.0.0.1", 0))
            s.sendto(options.encode(), ("127.0.0.1", sip_port))
            data, _ = s.recvfrom(65535)
        assert data.startswith(b"SIP/2.0 200"), data[:200]
    finally:
        assert d.stop() == 0


def test_start_tickets_a_call_cut_by_the_last_process(tmp_path: Path) -> None:
    """A voice session left without an end (the process that held the call was SIGKILLed) in the
    middle of a booking: `appliance run` makes its callback ticket before any channel starts."""
    import asyncio
    import sqlite3

    from appliance.brain.factory import build_brain
    from appliance.core.config import load_config
    from appliance.core.messages import Channel, Utterance

    async def cut_call() -> None:
        cfg = load_config(environ={}, use_system=False,
                          overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"}})  # fmt: skip
        brain = await build_brain(cfg, llm=None)
        try:
            await brain.greet("sip-cut", Channel.VOICE, caller_id="+37251234567")
            text = "I need a room for my dog Max from the 10th to the 15th of December"
            await brain.handle(Utterance("sip-cut", Channel.VOICE, text, caller_id="+37251234567"))
        finally:
            await brain.aclose()

    asyncio.run(cut_call())
    d = DaemonProc(tmp_path, free_port())
    assert d.stop() == 0, "".join(d.log)
    c = sqlite3.connect(tmp_path / "appliance.db")
    try:
        tickets = c.execute("SELECT phone, reason, session_id FROM callback_tickets").fetchall()
        (ended,) = c.execute("SELECT ended_at FROM conversation_sessions WHERE id = 'sip-cut'").fetchone()
    finally:
        c.close()
    assert tickets == [("+37251234567", "call_cut_by_restart", "sip-cut")]
    assert ended is not None
