"""/metrics of a real ``appliance run``: it parses with prometheus_client's own text parser, and
its counters move as a scripted web chat (WebSocket and HTTP) books a room, switches language,
and a SIP caller on loopback reaches the DTMF menu and leaves a callback request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.run_daemon import Daemon
from tests.support.sip_harness import ROOT, caller


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def _doctor(d: Daemon) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APPLIANCE__METRICS__PORT": str(d.metrics_port)}
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--json", "--data-dir", str(d.data)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip
    return next(c for c in json.loads(r.stdout) if c["name"] == "metrics endpoint")


async def _ws_booking(d: Daemon) -> tuple[list[dict[str, Any]], str]:
    """A booking over the WebSocket; returns the replies and /metrics scraped while it was open."""
    replies: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{d.web}/ws") as ws:

        async def next_reply() -> dict[str, Any]:
            while True:
                msg = await ws.receive_json(timeout=60)
                if msg.get("type") in ("reply", "error"):
                    return dict(msg)

        await ws.send_json({"type": "hello", "session": "metrics-ws-1"})
        await next_reply()  # the greeting
        for text in ("I need a room for my dog Max next weekend", "Mari Tamm", "+372 5123 4567", "yes"):
            await ws.send_json({"type": "message", "text": text})
            replies.append(await next_reply())
        during = await asyncio.to_thread(d.metrics)
    return replies, during


def test_metrics_move_with_chats_and_a_call(tmp_path: Path) -> None:
    # llm.mode = auto with no model installed (models.dir is empty): the degraded, rules-only path
    empty = tmp_path / "no-models"
    empty.mkdir()
    env = {"APPLIANCE__SIP__RECORD": "false", "APPLIANCE__LLM__MODE": "auto", "APPLIANCE__MODELS__DIR": str(empty)}
    d = Daemon(tmp_path / "data", sip=True, env=env)
    try:
        before = d.metrics()
        assert value(before, "appliance_active_chats") == 0
        assert value(before, "appliance_turns_total", channel="web") == 0

        replies, during = asyncio.run(_ws_booking(d))
        assert replies[-1].get("booking_id"), replies[-1]
        assert value(during, "appliance_active_chats") == 1

        # HTTP chat: a second conversation that switches to Estonian
        d.post("metrics-http-1", "Hello, what are your opening hours?")
        d.post("metrics-http-1", "Tere, mul on vaja tuba oma koerale järgmisel nädalavahetusel")

        # a SIP call (no speech model: the DTMF menu); 1 = leave a number for a callback
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--dtmf", "1@2", "--max-s", "40")
        call.wait_event("media", 30)
        in_call = d.metrics()
        doctor = _doctor(d)
        call.wait_event("done", 60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and value(d.metrics(), "appliance_active_calls") != 0:
            time.sleep(0.2)
        after = d.metrics()
    finally:
        assert d.stop() == 0

    assert doctor["status"] == "ok" and "serving" in doctor["detail"], doctor
    # the text parses (every family), and each count moved by what happened
    assert any(f.name == "appliance_turns" for f in text_string_to_metric_families(after))
    assert value(in_call, "appliance_active_calls") == 1
    assert value(after, "appliance_active_calls") == 0
    assert value(after, "appliance_active_chats") == 0
    assert value(after, "appliance_calls_total", mode="menu") == 1
    assert value(after, "appliance_turns_total", channel="web") == 6
    assert value(after, "appliance_brain_turn_seconds_count", channel="web") == 6
    assert value(after, "appliance_bookings_total", action="create") == 1
    assert value(after, "appliance_tool_calls_total", tool="create_booking", outcome="ok") == 1
    assert value(after, "appliance_language_switches_total", from_language="en", to_language="et") == 1
    assert value(after, "appliance_callback_queue_length") == 1
    assert value(after, "appliance_callback_queue_oldest_age_seconds") >= 0
    assert value(after, "appliance_degraded") == 1
    assert value(after, "appliance_degraded_seconds_total") > 0


def test_voice_call_fills_the_stage_histograms(tmp_path: Path, test_models: dict[str, Path]) -> None:
    """A voice call (the tiny test whisper model: words are random, turns are real): the per-stage
    latency histograms and the voice turn counter move."""
    from tests.support.sip_harness import speech_wav

    turns = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(["Hello there", "I have a dog"])]
    env = {"APPLIANCE__SIP__RECORD": "false", "APPLIANCE__VOICE__STT_MODEL": str(test_models["whisper"])}
    d = Daemon(tmp_path / "data", sip=True, env=env)
    try:
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--turns", ",".join(map(str, turns)), "--max-s", "60")
        call.wait_event("done", 90)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and value(d.metrics(), "appliance_active_calls") != 0:
            time.sleep(0.2)
        after = d.metrics()
    finally:
        assert d.stop() == 0
    assert value(after, "appliance_calls_total", mode="voice") == 1
    assert value(after, "appliance_turns_total", channel="voice") >= 1
    for stage in ("end_of_turn", "stt", "brain", "first_audio"):
        assert value(after, "appliance_voice_stage_seconds_count", stage=stage) >= 1, stage
