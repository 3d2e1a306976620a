"""SVG snapshots of the console at 80x24 and 120x40 (tests/snapshots/; UPDATE_SNAPSHOTS=1 rewrites them).

The data comes through the real control API; the live sessions are published on the daemon's bus with
fixed latencies so the pictures do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from appliance.console.app import ConsoleApp
from appliance.console.forms import HelpScreen
from appliance.core.messages import Event, EventType
from tests.support.console_pilot import assert_svg_snapshot, until
from tests.support.control_harness import NOW, Desk, front_desk, make_config

LATER = NOW + dt.timedelta(minutes=12)


def _seed_live(desk: Desk) -> None:
    pub = desk.control.bus.publish
    chat = "web-7f3a9c2e"
    pub(Event(EventType.TURN, {"user": "Hi! I need a room for my dog Max next weekend", "text":
        "Happy to help! From which day would you like the room?", "language": "en", "channel": "web",
        "ms": 212.0}, chat))  # fmt: skip
    pub(Event(EventType.TURN, {"user": "12 to 14 December", "text": "What name should I put the booking under?",
                               "language": "en", "channel": "web", "ms": 187.0}, chat))  # fmt: skip
    pub(Event(EventType.SLOTS, {"slots": {"pet_type": "dog", "pet_name": "Max", "start_date": "2026-12-12",
                                          "end_date": "2026-12-14"}, "awaiting": "owner_name"}, chat))  # fmt: skip
    pub(Event(EventType.TOOL_ACTION, {"tool": "check_availability", "status": "ok", "ms": 4.0}, chat))
    call = "sip-0c1d2e3f4a5b"
    pub(Event(EventType.CALL_STARTED, {"caller_id": "+3725551234", "mode": "voice"}, call))
    pub(Event(EventType.TURN, {"user": "Tere, kas teil on kassile koht?", "text": "Tere! Mis kuupäevadeks?",
                               "language": "et", "channel": "voice", "caller_id": "+3725551234", "ms": 640.0},
              call))  # fmt: skip


async def _seed_desk(desk: Desk) -> None:
    await desk.brain.callbacks.create(
        phone="+37255551234", name="Jaan Tamm", reason="all_lines_busy", language="et",
        session_id=None, channel="voice", details={},
    )  # fmt: skip
    for i, (pet, kind, start, end) in enumerate(
        [("Max", "dog", "2026-12-10", "2026-12-13"), ("Muri", "cat", "2026-12-11", "2026-12-12"),
         ("Rex", "dog", "2026-12-12", "2026-12-16")]
    ):  # fmt: skip
        await desk.api.post(
            "/bookings",
            {"pet_name": pet, "pet_type": kind, "start_date": start, "end_date": end,
             "owner_name": "Mari Tamm", "owner_phone": f"+372 5123 456{i}"},
        )  # fmt: skip


def _numbers(desk: Desk) -> Any:
    """Booking numbers are random: pin them for the picture."""
    counter = iter(f"SNAP{i:02d}" for i in range(100))
    desk.brain.backend.number_factory = lambda: next(counter)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_console_snapshots(tmp_path: Path, size: tuple[int, int]) -> None:
    async def go() -> None:
        async with front_desk(make_config(tmp_path), lambda: NOW) as desk:
            _numbers(desk)
            await _seed_desk(desk)
            app = ConsoleApp(desk.cfg.api_socket, now=lambda: LATER, today=dt.date(2026, 12, 10))
            async with app.run_test(size=size) as pilot:
                await until(pilot, lambda: app.connected)
                _seed_live(desk)
                await until(pilot, lambda: len(app.sessions) == 2 and app.sessions["sip-0c1d2e3f4a5b"].turns)
                await pilot.pause(0.3)
                tag = f"{size[0]}x{size[1]}"
                assert_svg_snapshot(f"live_{tag}", app.export_screenshot())
                await pilot.press("2")
                await until(pilot, lambda: len(app.tickets) == 1)
                await pilot.pause(0.3)
                assert_svg_snapshot(f"callbacks_{tag}", app.export_screenshot())
                await pilot.press("3")
                await until(pilot, lambda: app.query_one("#bk-list").row_count == 1)
                await pilot.press("w")
                await until(pilot, lambda: app.query_one("#bk-list").row_count == 3)
                await pilot.pause(0.3)
                assert_svg_snapshot(f"bookings_{tag}", app.export_screenshot())
                await pilot.press("question_mark")
                await until(pilot, lambda: isinstance(app.screen, HelpScreen))
                await pilot.pause(0.3)
                assert_svg_snapshot(f"help_{tag}", app.export_screenshot())

    asyncio.run(go())
