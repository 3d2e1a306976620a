#!/usr/bin/env python3
"""Web chat benchmark: N concurrent WebSocket sessions against a real server, LLM off.

Each session says hello (greeting), books a stay in four turns (request, name, phone, "Yes") and
asks one question, so every turn runs the real engine and the booking turn writes to SQLite. The
round-trip latency of each turn (send -> reply frame, measured by the client) is reported as JSON:

    python scripts/bench_web.py                  # starts its own server (separate process, tmp data dir)
    python scripts/bench_web.py --sessions 50 --rounds 2
    python scripts/bench_web.py --url ws://127.0.0.1:8080/ws   # against a running daemon (books into it!)

Target (docs/WEB.md): p95 < 100 ms for 50 concurrent sessions on the appliance (2 cores).
The self-started server runs in its own process with a pinned clock (1 December 2026), so the
dates in the script are always bookable and the numbers do not include the client's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PINNED_NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
FIRST_MONDAY = dt.date(2027, 1, 4)
MAX_CONVERSATIONS = 270  # 6 a week from FIRST_MONDAY, within 365 days of PINNED_NOW (one more warms up)
STEPS = ("request", "name", "phone", "confirm", "question")
NAMES = ["Max", "Bella", "Luna", "Charlie", "Milo", "Daisy", "Rocky", "Molly", "Oscar", "Lucy"]


# ------------------------------------------------------------------ server


async def serve(data_dir: str) -> None:
    """Child process: a real WebServer with a real engine; prints {"port": N} and runs until stdin closes."""
    from appliance.brain.factory import build_brain
    from appliance.brain.text import verbalize
    from appliance.brain.understanding import language
    from appliance.channels.web.server import WebServer
    from appliance.core.clock import fixed_clock
    from appliance.core.config import load_config

    cfg = load_config(
        environ={},
        use_system=False,
        overrides={"store": {"data_dir": data_dir}, "llm": {"mode": "off"}, "web": {"host": "127.0.0.1", "port": 0}},
    )
    language.warm_up(tuple(cfg.tenant.languages))
    verbalize.warm_up()
    brain = await build_brain(cfg, clock=fixed_clock(PINNED_NOW))
    server = WebServer(brain, cfg)
    await server.start()
    print(json.dumps({"port": server.port}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes our stdin to stop us
    await server.stop()
    await brain.aclose()


# ------------------------------------------------------------------ client


def script_for(i: int) -> list[str]:
    """Session i books its own stay; 3 dogs and 3 cats per week always fit the default capacity."""
    pet = "dog" if i % 2 == 0 else "cat"
    start = FIRST_MONDAY + dt.timedelta(days=7 * (i // 6))
    end = start + dt.timedelta(days=2)
    name = NAMES[i % len(NAMES)]
    return [
        f"I need a room for my {pet} {name} from {start.isoformat()} to {end.isoformat()}",
        f"Alex Tamm{chr(97 + i % 26)}",
        f"+372 5{i:03d} {1000 + i:04d}",
        "Yes",
        "What are your opening hours?",
    ]


async def run_session(
    http: Any,
    url: str,
    i: int,
    rounds: int,
    stride: int,
    turns: list[float],
    hellos: list[float],
    errors: list[str],
    think: tuple[float, float] = (0.0, 0.0),
    steps: dict[str, list[float]] | None = None,
) -> int:
    """Session i runs ``rounds`` conversations; conversation r uses script number i + r * stride."""
    import aiohttp

    bookings = 0
    if think[1] > 0:  # people arrive spread out, not all in the same millisecond
        await asyncio.sleep(random.uniform(0, think[1]) / 1000)
    async with http.ws_connect(url) as ws:

        async def recv() -> dict[str, Any]:
            msg = await ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"session {i}: socket closed ({msg.type})")
            return json.loads(msg.data)

        for r in range(rounds):
            session = f"bench-{os.getpid()}-{i:03d}-{r}"
            t0 = time.perf_counter()
            await ws.send_json({"type": "hello", "session": session})
            history = await recv()
            if not history.get("turns"):
                await recv()  # the greeting
            hellos.append((time.perf_counter() - t0) * 1000)
            for step, text in zip(STEPS, script_for(i + r * stride), strict=True):
                if think[1] > 0:  # a person reads the answer and types the next message
                    await asyncio.sleep(random.uniform(*think) / 1000)
                t0 = time.perf_counter()
                await ws.send_json({"type": "message", "text": text})
                reply = await recv()
                ms = (time.perf_counter() - t0) * 1000
                turns.append(ms)
                if steps is not None:
                    steps.setdefault(step, []).append(ms)
                if reply.get("type") != "reply":
                    errors.append(f"session {i}: {reply}")
                elif reply.get("booking_id"):
                    bookings += 1
    return bookings


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 2)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(values, 50),
        "p95_ms": pct(values, 95),
        "p99_ms": pct(values, 99),
        "max_ms": round(max(values), 2) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values), 2) if values else float("nan"),
    }


async def bench(url: str, sessions: int, rounds: int, think: tuple[float, float]) -> dict[str, Any]:
    import aiohttp

    steps: dict[str, list[float]] = {}
    turns: list[float] = []
    hellos: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        # one warm-up conversation, not counted (first-use caches, SQLite pages)
        await run_session(http, url, sessions * rounds, 1, 0, [], [], [])
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                run_session(http, url, i, rounds, sessions, turns, hellos, errors, think, steps)
                for i in range(sessions)
            ),
            return_exceptions=True,
        )
        wall = time.perf_counter() - started
    bookings = 0
    for res in results:
        if isinstance(res, BaseException):
            errors.append(repr(res))
        else:
            bookings += res
    return {
        "benchmark": "web_ws_round_trip",
        "sessions": sessions,
        "rounds": rounds,
        "turns": len(turns),
        "bookings": bookings,
        "errors": len(errors),
        "first_errors": errors[:3],
        **summary(turns),
        "think_ms": list(think),
        "hello": summary(hellos),
        "by_step_p95_ms": {k: pct(v, 95) for k, v in steps.items()},
        "wall_s": round(wall, 2),
        "turns_per_s": round(len(turns) / wall, 1) if wall else None,
        "target_p95_ms": 100,
        "meets_target": bool(turns) and pct(turns, 95) < 100 and not errors,
        "llm": "off",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def start_server(data_dir: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--data-dir", data_dir],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("bench_web: the server process failed to start")
    return proc, int(json.loads(line)["port"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=50, help="concurrent WebSocket sessions (default 50)")
    ap.add_argument("--rounds", type=int, default=1, help="conversations per session (default 1)")
    ap.add_argument("--url", help="ws:// URL of a running server (default: start one)")
    ap.add_argument("--data-dir", help="data dir for the self-started server (default: a temp dir)")
    ap.add_argument(
        "--think-ms",
        default="1000-3000",
        help="pause before each message, uniform in MIN-MAX ms, like a person typing (default 1000-3000)",
    )
    ap.add_argument("--burst", action="store_true", help="no pauses: every session fires its next turn at once")
    ap.add_argument("--seed", type=int, default=1, help="random seed for the pauses")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve:
        asyncio.run(serve(args.data_dir))
        return 0
    lo, _, hi = args.think_ms.partition("-")
    think = (0.0, 0.0) if args.burst else (float(lo), float(hi or lo))
    random.seed(args.seed)
    if args.sessions * args.rounds > MAX_CONVERSATIONS:
        ap.error(f"at most {MAX_CONVERSATIONS} conversations: their stays must fit within booking.max_advance_days")
    if args.url:
        result = asyncio.run(bench(args.url, args.sessions, args.rounds, think))
        result["server"] = args.url
    else:
        with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
            proc, port = start_server(args.data_dir or tmp)
            try:
                result = asyncio.run(bench(f"ws://127.0.0.1:{port}/ws", args.sessions, args.rounds, think))
            finally:
                assert proc.stdin is not None
                proc.stdin.close()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        result["server"] = "self-started (separate process)"
    print(json.dumps(result, indent=2))
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
