"""End to end: a real ``appliance run`` on a temp data dir, a web chat over its WebSocket, and the staff
console (under Pilot, and once in tmux) watching and acting through the control API; the CLI agrees."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.console.app import ConsoleApp
from appliance.console.forms import FormScreen
from tests.support.console_pilot import fill_form, text_of, until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, data: Path, extra: dict[str, str] | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.env = {
            **os.environ, "APPLIANCE__LLM__MODE": "off", "APPLIANCE__WEB__PORT": str(self.port),
            "APPLIANCE__SIP__ENABLED": "false", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
            **(extra or {}),
        }  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--data-dir", str(data)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env, cwd=ROOT,
        )  # fmt: skip
        log = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line and self.proc.poll() is not None:
                break
            log.append(line)
            if line.startswith("READY"):
                return
        raise AssertionError("daemon did not start:\n" + "".join(log))

    @property
    def socket(self) -> Path:
        return self.data / "appliance.sock"

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "appliance", *args, "--data-dir", str(self.data), "--json"],
            capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=30) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data")
    try:
        yield d
    finally:
        d.stop()


async def _chat(http: aiohttp.ClientSession, port: int, session: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws")
    await ws.send_json({"type": "hello", "session": session})
    await ws.receive_json(timeout=30)
    await ws.receive_json(timeout=30)
    return ws


async def _say(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict[str, Any]:
    await ws.send_json({"type": "message", "text": text})
    return dict(await ws.receive_json(timeout=30))


def test_console_follows_a_web_chat_takes_it_over_and_books(daemon: Daemon) -> None:
    async def go() -> None:
        app = ConsoleApp(daemon.socket)
        async with aiohttp.ClientSession() as http, app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.connected, 20, "console connected")
            ws = await _chat(http, daemon.port, "e2e-chat-0001")
            await _say(ws, "I need a room for my dog Max from 10 December to 12 December")
            await until(pilot, lambda: "pet_name=Max" in text_of(app, "#live-head"), 10, "slots shown")
            assert "I need a room for my dog Max" in text_of(app, "#live-lines")
            await _say(ws, "Mari Tamm")
            await until(pilot, lambda: "owner_name=Mari Tamm" in text_of(app, "#live-head"), 10, "slots grow")
            assert "Mari Tamm" in text_of(app, "#live-lines")
            # CLI parity while it goes on
            [s] = [s for s in daemon.cli("sessions", "list") if s["id"] == "e2e-chat-0001"]
            assert s["slots"]["owner_name"] == "Mari Tamm"
            # take over: the AI pauses and the staff reply reaches the chat
            await pilot.press("t")
            await until(pilot, lambda: "taken over by" in text_of(app, "#live-head"), 10, "take-over shown")
            await ws.send_json({"type": "message", "text": "can I speak to a human?"})
            await until(pilot, lambda: "speak to a human" in text_of(app, "#live-lines"), 10, "caller seen")
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            await fill_form(pilot, text="Hi Mari, Anna here. How can I help?")
            msg = await ws.receive_json(timeout=10)
            assert msg["type"] == "reply" and msg["staff"] is True and "Anna here" in msg["text"]
            await pilot.press("b")
            await until(pilot, lambda: "taken over by" not in text_of(app, "#live-head"), 10, "handed back")
            await ws.close()
            # a booking made from the console shows up in `appliance bookings list`
            await pilot.press("3", "n")
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            await fill_form(pilot, pet_name="Muri", pet_type="cat", start_date="2026-12-20", end_date="2026-12-22",
                            owner_name="Kati Kask", owner_phone="+372 5555 1111")  # fmt: skip
            listed: list = []
            for _ in range(40):  # the form's request is on its way: poll, no fixed sleep
                await asyncio.sleep(0.5)
                listed = [b for b in daemon.cli("bookings", "list") if b["pet_name"] == "Muri"]
                if listed:
                    break
            assert listed and listed[0]["channel"] == "console" and listed[0]["status"] == "confirmed"

    asyncio.run(go())


def test_callback_tickets_reach_console_and_cli_with_reason_and_transcript(daemon: Daemon) -> None:
    async def go() -> None:
        app = ConsoleApp(daemon.socket)
        async with aiohttp.ClientSession() as http, app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.connected, 20, "console connected")
            await pilot.press("2")
            ws = await _chat(http, daemon.port, "e2e-callback-01")
            await _say(ws, "I want to talk to a person")
            r = await _say(ws, "+372 5123 4567")
            assert "call you back" in r["text"]
            started = time.monotonic()
            await until(pilot, lambda: len(app.tickets) == 1, 10, "ticket in the console")
            took = time.monotonic() - started
            print(f"callback ticket visible in the console after {took * 1000:.0f} ms")
            await until(pilot, lambda: "talk to a person" in text_of(app, "#cb-text"), 10, "transcript shown")
            assert "+37251234567" in text_of(app, "#cb-text")
            [t] = daemon.cli("callbacks", "list")
            assert t["reason"] and t["phone"] == "+37251234567" and t["session_id"] == "e2e-callback-01"
            daemon.cli("callbacks", "claim", str(t["id"]))
            done = daemon.cli("callbacks", "done", str(t["id"]), "--note", "called back")
            assert done["status"] == "done"
            await until(pilot, lambda: app.tickets == [], 10, "done leaves the console queue")
            await ws.close()

    asyncio.run(go())


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/setup.sh")
def test_console_in_tmux_shows_the_live_chat(daemon: Daemon, tmp_path: Path) -> None:
    name = f"appliance-e2e-{os.getpid()}"
    cmd = f"{sys.executable} -m appliance console --data-dir {daemon.data}"
    env = {**daemon.env, "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30", cmd], env=env, check=True, cwd=ROOT
    )

    def pane() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout

    def wait(text: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = pane()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared in tmux:\n{pane()}")

    async def chat() -> None:
        async with aiohttp.ClientSession() as http:
            ws = await _chat(http, daemon.port, "tmux-chat-0001")
            await _say(ws, "I need a room for my cat Tom from 10 December to 12 December")
            await ws.close()

    try:
        wait("connected to the daemon")
        asyncio.run(chat())
        screen = wait("pet_name=Tom")
        assert "tmux-chat-0001" in screen and "I need a room for my cat Tom" in screen
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_sip_call_shows_in_live_and_its_dtmf_callback_ticket_in_console_and_cli(tmp_path: Path) -> None:
    """A pjsua2 caller rings the real daemon with no speech recognition (the DTMF menu), presses 1."""
    from tests.support.sip_harness import caller

    port = free_port()
    extra = {
        "APPLIANCE__SIP__ENABLED": "true", "APPLIANCE__SIP__UDP_PORT": str(port),
        "APPLIANCE__SIP__TCP_PORT": str(port), "APPLIANCE__SIP__ANSWER_DELAY_S": "0",
        "APPLIANCE__VOICE__STT_MODEL": str(tmp_path / "no-such-stt-model"),
    }  # fmt: skip
    d = Daemon(tmp_path / "data", extra)

    async def go() -> None:
        app = ConsoleApp(d.socket)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.connected, 20, "console connected")
            call = caller(f"sip:appliance@127.0.0.1:{port}", "--from-user", "+37255512345", "--dtmf", "1@6",
                          "--max-s", "30")  # fmt: skip
            try:
                await until(pilot, lambda: any(s.channel == "voice" for s in app.sessions.values()), 30, "call in Live")
                [s] = [s for s in app.sessions.values() if s.channel == "voice"]
                assert s.caller_id and "37255512345" in s.caller_id and s.mode == "menu"
                [listed] = [x for x in d.cli("sessions", "list") if x["channel"] == "voice"]
                assert listed["id"] == s.id
                await pilot.press("2")
                await until(pilot, lambda: len(app.tickets) == 1, 40, "DTMF callback ticket in the console")
                assert app.tickets[0].phone and "37255512345" in app.tickets[0].phone
                [t] = d.cli("callbacks", "list")
                assert t["channel"] == "voice" and t["reason"]
                await asyncio.to_thread(call.wait_event, "done", 40)
            finally:
                if call.proc.poll() is None:
                    call.proc.kill()

    try:
        asyncio.run(go())
    finally:
        d.stop()


def test_transfer_key_sends_a_refer_for_a_live_call(tmp_path: Path) -> None:
    from tests.support.sip_harness import caller

    port = free_port()
    extra = {
        "APPLIANCE__SIP__ENABLED": "true", "APPLIANCE__SIP__UDP_PORT": str(port),
        "APPLIANCE__SIP__TCP_PORT": str(port), "APPLIANCE__SIP__ANSWER_DELAY_S": "0",
        "APPLIANCE__VOICE__STT_MODEL": str(tmp_path / "no-such-stt-model"),
    }  # fmt: skip
    d = Daemon(tmp_path / "data", extra)

    async def go() -> None:
        app = ConsoleApp(d.socket)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.connected, 20, "console connected")
            call = caller(f"sip:appliance@127.0.0.1:{port}", "--max-s", "30")
            try:
                await until(pilot, lambda: any(s.channel == "voice" for s in app.sessions.values()), 30, "call in Live")
                table = app.query_one("#live-list")
                keys = [str(k.value) for k in table.rows]  # type: ignore[attr-defined]
                sid = next(s.id for s in app.sessions.values() if s.channel == "voice")
                table.move_cursor(row=keys.index(sid))  # type: ignore[attr-defined]
                await pilot.press("x")
                await until(pilot, lambda: isinstance(app.screen, FormScreen))
                await fill_form(pilot, extension="101")
                refer = await asyncio.to_thread(call.wait_event, "refer", 20)
                assert refer["to"].startswith("sip:101@")
                await asyncio.to_thread(call.wait_event, "done", 40)
            finally:
                if call.proc.poll() is None:
                    call.proc.kill()

    try:
        asyncio.run(go())
    finally:
        d.stop()


def test_sip_registration_state_reaches_health(tmp_path: Path) -> None:
    """An account whose registrar is away: the Health view says the registration failed."""
    port, reg_port = free_port(), free_port()
    account = (
        f'[{{id = "pbx", registrar = "sip:127.0.0.1:{reg_port};transport=tcp", username = "205", password = "s"}}]'
    )
    extra = {
        "APPLIANCE__SIP__ENABLED": "true", "APPLIANCE__SIP__UDP_PORT": str(port),
        "APPLIANCE__SIP__TCP_PORT": str(port), "APPLIANCE__SIP__ACCOUNTS": account,
        "APPLIANCE__VOICE__STT_MODEL": str(tmp_path / "no-such-stt-model"),
    }  # fmt: skip
    d = Daemon(tmp_path / "data", extra)

    async def go() -> None:
        app = ConsoleApp(d.socket)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.connected, 20, "console connected")
            await pilot.press("4")
            await until(pilot, lambda: "failed" in text_of(app, "#health-text"), 30, "registration failed shown")
            reg = (app.health or {})["sip"]["registration"]
            assert reg["accounts"]["pbx"]["registered"] is False

    try:
        asyncio.run(go())
    finally:
        d.stop()


def test_degraded_mode_is_an_event_and_shows_in_health(tmp_path: Path) -> None:
    """The language model is configured but missing: the brain runs on rules; staff see it."""
    from appliance.console.client import ApiClient
    from appliance.core.messages import EventType

    d = Daemon(tmp_path / "data", {"APPLIANCE__LLM__MODE": "auto", "APPLIANCE__LLM__MODEL": str(tmp_path / "x.gguf")})

    async def go() -> None:
        async with ApiClient(d.socket) as api:
            kinds: list[EventType] = []
            async for ev in api.events(recent=100):
                if ev is not None:
                    kinds.append(ev.type)
                if EventType.DEGRADED in kinds:
                    break
            assert (await api.get("/health"))["degraded"] is True

    try:
        asyncio.run(asyncio.wait_for(go(), 30))
    finally:
        d.stop()
