#!/usr/bin/env python3
"""Benchmark: one text turn end to end through the engine on the rules path (LLM off).

Runs N scripted booking conversations (en/et/ru, each ending in a committed
booking) on a real SQLite file and prints JSON with per-turn latency
percentiles, split into turns that only talk and turns that call tools.
Target (2-core box): p95 <= 20 ms.

    .venv/bin/python scripts/bench_brain.py --conversations 60
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.brain.factory import build_brain  # noqa: E402
from appliance.core.clock import fixed_clock  # noqa: E402
from appliance.core.config import load_config  # noqa: E402
from appliance.core.messages import Channel, Utterance  # noqa: E402

SCRIPTS = {
    "en": [
        "Hi, I need a room for my dog {name} from the {d1}th to the {d2}th",
        "Mari Tamm",
        "+372 5123 4567",
        "yes",
        "Which vaccinations does my dog need?",
        "thanks",
    ],
    "et": [
        "Tere, sooviks broneerida kassile {name}",
        "{d1}. detsembrist {d2}. detsembrini",
        "Mari Tamm",
        "5123 4567",
        "jah",
        "aitäh",
    ],
    "ru": [
        "Здравствуйте, хочу забронировать место для собаки {name} с {d1} по {d2} декабря",
        "Иван Петров",
        "+372 5123 4567",
        "да",
        "спасибо",
    ],
}
NAMES = ["Max", "Bella", "Luna", "Rocky", "Muri", "Miisu", "Bobby", "Tom"]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 3)


async def main(n: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="bench-brain-"))
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(data)},
            "llm": {"mode": "off"},
            "resources": [
                {"id": "dog-room", "name": {"en": "dog room"}, "pet_types": ["dog"], "capacity": 1000},
                {"id": "cat-room", "name": {"en": "cat room"}, "pet_types": ["cat"], "capacity": 1000},
            ],
        },
    )
    now = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    brain = await build_brain(cfg, clock=fixed_clock(now))
    engine = brain
    talk, tools, all_ms = [], [], []
    bookings = 0
    # warm-up (language detector, templates, first queries), as the daemon does at start
    from appliance.brain.text import verbalize
    from appliance.brain.understanding import language

    language.warm_up(tuple(cfg.tenant.languages))
    verbalize.warm_up()
    await engine.handle(Utterance("warmup-session", Channel.CLI, "Hello"))
    for i in range(n):
        lang = ("en", "et", "ru")[i % 3]
        session = f"bench-{i:05d}"
        d1 = 10 + i % 10
        for line in SCRIPTS[lang]:
            text = line.format(name=NAMES[i % len(NAMES)], d1=d1, d2=d1 + 2)
            t0 = time.perf_counter()
            reply = await engine.handle(Utterance(session, Channel.CLI, text))
            ms = (time.perf_counter() - t0) * 1000
            all_ms.append(ms)
            (tools if reply.actions else talk).append(ms)
            bookings += bool(reply.booking_id)
    await brain.aclose()
    return {
        "benchmark": "brain_text_turn",
        "conversations": n,
        "turns": len(all_ms),
        "bookings": bookings,
        "p50_ms": pct(all_ms, 50),
        "p95_ms": pct(all_ms, 95),
        "p99_ms": pct(all_ms, 99),
        "max_ms": round(max(all_ms), 3),
        "mean_ms": round(statistics.fmean(all_ms), 3),
        "talk_turns_p95_ms": pct(talk, 95),
        "tool_turns_p95_ms": pct(tools, 95),
        "target_p95_ms": 20,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--conversations", type=int, default=60)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main(args.conversations)), indent=2))
