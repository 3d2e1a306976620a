#!/usr/bin/env python3
"""Console speed: turn committed in the brain -> shown in the console, and key press -> redraw,
while N web chats stream turns. Prints one JSON object.

Everything is real, in three processes as in production (timestamps from CLOCK_MONOTONIC, the
same clock in every process): the daemon's parts (brain on a temp SQLite file, web chat on
127.0.0.1:0, control API on a temp Unix socket); N WebSocket chat clients; and the Textual
console, headless (``App.run_test``), talking to the API.

- ``turn_to_console_ms``: from the moment the brain publishes a committed turn (after its
  transaction) to the moment the console has drawn that turn into its Live view.
- ``key_to_redraw_ms``: from a key press (down/up in the Live list, posted as the terminal
  driver posts it) to the detail pane holding the newly selected session (painted on the next
  frame).

Usage: python scripts/bench_console.py [--sessions 20] [--seconds 30] [--gap 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from appliance.api import ApiServer, Control  # noqa: E402
from appliance.booking.approvals import Approvals  # noqa: E402
from appliance.brain.factory import build_brain  # noqa: E402
from appliance.channels.web.server import WebServer  # noqa: E402
from appliance.console.app import ConsoleApp  # noqa: E402
from appliance.console.panes import LivePane  # noqa: E402
from appliance.core.bus import EventBus, StaffDesk  # noqa: E402
from appliance.core.config import load_config  # noqa: E402
from appliance.core.live import LiveBoard  # noqa: E402
from appliance.core.messages import Event, EventType  # noqa: E402
from appliance.store.tickets import TicketDesk  # noqa: E402

SCRIPT = [
    "I need a room for my dog Max from 10 December to 12 December",
    "Mari Tamm",
    "+372 5123 4567",
    "no",
    "what are your opening hours?",
    "how much is a night for a cat?",
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 0.5),
        "p95": pct(values, 0.95),
        "max": round(max(values), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


class TimedConsole(ConsoleApp):
    """The console, noting when each session's n-th assistant turn is first drawn."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.shown: dict[tuple[str, int], float] = {}

    def drawn(self, sessions: set[str]) -> None:
        now = time.perf_counter()
        for sid in sessions:
            s = self.sessions.get(sid)
            if s is not None:
                n = sum(1 for t in s.turns if t.role == "assistant")
                for i in range(1, n + 1):
                    self.shown.setdefault((sid, i), now)


async def chat_client(http: aiohttp.ClientSession, url: str, idx: int, stop: float, gap: float) -> int:
    turns, round_ = 0, 0
    while time.monotonic() < stop:
        round_ += 1
        async with http.ws_connect(url + "/ws") as ws:
            await ws.send_json({"type": "hello", "session": f"bench-{idx:02d}-{round_:03d}"})
            await ws.receive_json()
            await ws.receive_json()
            for text in SCRIPT:
                if time.monotonic() >= stop:
                    break
                await ws.send_json({"type": "message", "text": text})
                await ws.receive_json()
                turns += 1
                await asyncio.sleep(gap)
    return turns


def daemon_side(sock: str, data: str, ready: Any, stop_evt: Any, out: Any) -> None:
    """Process 1: the daemon's parts (brain, web chat, control API); notes when each turn is committed."""

    async def run() -> None:
        cfg = load_config(
            environ={}, use_system=False,
            overrides={"store": {"data_dir": data}, "llm": {"mode": "off"}, "web": {"port": 0},
                       "sip": {"enabled": False}, "api": {"socket": sock}},
        )  # fmt: skip
        bus = EventBus(cfg.api.client_queue)
        committed: dict[str, float] = {}
        counts: dict[str, int] = {}

        def on_turn(ev: Event) -> None:
            if ev.type is EventType.TURN and ev.session_id and ev.data.get("text"):
                counts[ev.session_id] = counts.get(ev.session_id, 0) + 1
                committed[f"{ev.session_id}#{counts[ev.session_id]}"] = time.perf_counter()  # CLOCK_MONOTONIC

        bus.listen(on_turn)
        brain = await build_brain(cfg, on_event=bus.publish, knowledge=None)
        control = Control(
            cfg, bus, StaffDesk(bus), LiveBoard(bus), brain, lambda: {}, approvals=Approvals(brain.backend),
            tickets=TicketDesk(brain.db, tenant_id=cfg.tenant.id),
        )  # fmt: skip
        api, web = ApiServer(control, cfg.api_socket), WebServer(brain, cfg, desk=control.desk)
        await api.start()
        await web.start()
        ready.send(web.url.rstrip("/"))
        while not stop_evt.is_set():
            await asyncio.sleep(0.1)
        await web.stop()
        await api.stop()
        await brain.aclose()
        out.send(committed)

    asyncio.run(run())


def callers_side(url: str, sessions: int, seconds: float, gap: float, out: Any, go: Any) -> None:
    """Process 2: N web chats, each talking turn after turn (once the console watches)."""
    go.wait()

    async def run() -> int:
        stop = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            return sum(await asyncio.gather(*(chat_client(http, url, i, stop, gap) for i in range(sessions))))

    out.send(asyncio.run(run()))


async def console_side(sock: str, seconds: float, start_callers: Any) -> tuple[TimedConsole, list[float]]:
    """This process: the console, headless, plus key presses while the chats stream."""
    app = TimedConsole(sock)
    keys: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.connected:
            await pilot.pause(0.05)
        start_callers()  # only now: every turn the callers make happens while the console watches
        stop = time.monotonic() + seconds
        pane = app.query_one(LivePane)
        await asyncio.sleep(2)
        direction = "down"
        while time.monotonic() < stop - 1:
            before = pane.selected
            t0 = time.perf_counter()
            app.simulate_key(direction)  # as the terminal driver delivers a key (Pilot.press waits for idle)
            while (pane.selected == before or pane.shown_id != pane.selected) and time.perf_counter() - t0 < 2:
                await asyncio.sleep(0.002)
            if pane.selected != before and pane.shown_id == pane.selected:
                keys.append((time.perf_counter() - t0) * 1000)
            else:
                direction = "up" if direction == "down" else "down"
            await asyncio.sleep(0.2)
        await pilot.pause(1.5)
    return app, keys


def main(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    sock = str(tmp / "appliance.sock")
    ready_r, ready_w = ctx.Pipe(False)
    done_r, done_w = ctx.Pipe(False)
    turns_r, turns_w = ctx.Pipe(False)
    stop_evt = ctx.Event()
    daemon = ctx.Process(target=daemon_side, args=(sock, str(tmp), ready_w, stop_evt, done_w))
    daemon.start()
    url = ready_r.recv()
    go = ctx.Event()
    callers = ctx.Process(target=callers_side, args=(url, args.sessions, args.seconds, args.gap, turns_w, go))
    callers.start()  # forked before this process runs an event loop; it waits for `go`
    app, keys = asyncio.run(console_side(sock, args.seconds, go.set))
    turns = turns_r.recv()
    callers.join()
    stop_evt.set()
    committed: dict[str, float] = done_r.recv()
    daemon.join()
    lat = []
    for key, t in committed.items():
        sid, n = key.rsplit("#", 1)
        if (sid, int(n)) in app.shown:
            lat.append((app.shown[(sid, int(n))] - t) * 1000)
    return {
        "bench": "console",
        "sessions": args.sessions,
        "seconds": args.seconds,
        "processes": "daemon parts | 20 chat clients | console (headless Textual), one CLOCK_MONOTONIC",
        "turns": turns,
        "turns_seen_in_console": len(lat),
        "turn_to_console_ms": summary(lat),
        "key_to_redraw_ms": summary(keys),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds each chat waits between its turns")
    print(json.dumps(main(parser.parse_args()), indent=2))
