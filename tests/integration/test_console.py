"""The staff console under Textual's Pilot, against a real front desk (brain, store, web chat, control API)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from appliance.api import ApiServer
from appliance.console.app import ConsoleApp
from appliance.console.forms import FormScreen, HelpScreen
from appliance.core.messages import Event, EventType
from tests.support.console_pilot import fill_form, notifications, text_of, until
from tests.support.control_harness import NOW, Desk, front_desk, make_config, recv, say

LATER = NOW + dt.timedelta(minutes=12)
Scenario = Callable[[Desk, ConsoleApp, Pilot[Any]], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, size: tuple[int, int] = (80, 24), **cfg: Any) -> None:
    async def go() -> None:
        async with front_desk(make_config(tmp_path, **cfg), lambda: NOW) as desk:
            app = ConsoleApp(desk.cfg.api_socket, now=lambda: LATER, today=dt.date(2026, 12, 10), retry_s=0.2)
            async with app.run_test(size=size) as pilot:
                await until(pilot, lambda: app.connected, what="console connected")
                await asyncio.wait_for(scenario(desk, app, pilot), 120)

    asyncio.run(go())


def test_live_shows_transcript_slots_and_take_over_reply_hand_back(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        ws = await desk.chat("console-live-01")
        await say(ws, "I need a room for my dog Max from 10 December to 12 December")
        await until(pilot, lambda: "Max" in text_of(app, "#live-head"), what="slots on screen")
        assert "I need a room for my dog Max" in text_of(app, "#live-lines")
        assert "slots 4/6" in text_of(app, "#live-head") and "awaiting owner_name" in text_of(app, "#live-head")
        await say(ws, "Mari Tamm")
        await until(pilot, lambda: "Mari Tamm" in text_of(app, "#live-lines"), what="second turn")
        await pilot.press("t")
        await until(pilot, lambda: desk.control.desk.is_taken("console-live-01"), what="taken over")
        await until(pilot, lambda: "taken over by" in text_of(app, "#live-head"))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, text="Hello from the front desk, Anna here.")
        msg = await recv(ws)
        assert msg["staff"] is True and msg["text"] == "Hello from the front desk, Anna here."
        await until(pilot, lambda: "Anna here" in text_of(app, "#live-lines"), what="staff turn shown")
        await pilot.press("b")
        await until(pilot, lambda: not desk.control.desk.is_taken("console-live-01"), what="handed back")
        await pilot.press("x")  # no SIP call control in this harness: a clear error, not a crash
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, extension="101")
        await until(pilot, lambda: any("unavailable" in n for n in notifications(app)), what="transfer error")
        await pilot.press("e")
        await until(pilot, lambda: sum("unavailable" in n for n in notifications(app)) >= 2, what="end error")
        await ws.close()

    run(tmp_path, scenario)


def test_hostile_caller_text_is_shown_inert(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        hostile = "\x1b[31mRED\x1b[0m [bold red]markup[/] [link=http://x]l[/link] \x07 " + "A" * 10_000
        desk.control.bus.publish(
            Event(
                EventType.TURN,
                {"user": hostile, "text": "ok", "language": "en", "channel": "web", "ms": 5.0},
                "hostile-1",
            )
        )
        await until(pilot, lambda: "hostile-1" in app.sessions, what="hostile session")
        shown = text_of(app, "#live-lines")
        assert "␛[31mRED␛[0m" in shown and "[bold red]markup[/]" in shown and "[link=http://x]" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        assert "chars]" in shown and len(shown) < 2000  # a 10 kB line is cut with a marker

    run(tmp_path, scenario, size=(120, 40))


def test_callbacks_claim_done_reopen_and_toggle(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        ws = await desk.chat("console-cb-01")
        await say(ws, "hello")
        t = await desk.brain.callbacks.create(
            phone="+37255551234", name="Jaan", reason="transfer_failed", language="et",
            session_id="console-cb-01", channel="voice", details={},
        )  # fmt: skip
        desk.control.bus.publish(Event(EventType.CALLBACK_REQUESTED, {"reason": "transfer_failed"}, "console-cb-01"))
        await pilot.press("2")
        await until(pilot, lambda: app.tickets and app.tickets[0].id == t.id, what="ticket listed")
        await until(pilot, lambda: "hello" in text_of(app, "#cb-text"), what="transcript shown")
        assert "+37255551234" in text_of(app, "#cb-text") and "transfer_failed" in text_of(app, "#cb-text")
        await pilot.press("c")
        await until(pilot, lambda: app.tickets and app.tickets[0].claimed_by, what="claimed")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, note="called back, booked")
        await until(pilot, lambda: app.tickets == [], what="done leaves the open queue")
        await pilot.press("a")
        await until(pilot, lambda: app.show_done and app.tickets, what="done list")
        await until(pilot, lambda: "called back, booked" in text_of(app, "#cb-text"))
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, note="no answer")
        await until(pilot, lambda: (desk.control.tickets is not None) and app.tickets == [], what="reopened")
        assert (await desk.control.tickets.get(t.id)).status == "open"
        await ws.close()

    run(tmp_path, scenario)


def test_bookings_new_search_day_week_change_cancel(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, pet_name="Muri", pet_type="cat", start_date="2026-12-10", end_date="2026-12-12",
                        owner_name="Kati Kask", owner_phone="+372 5555 1111")  # fmt: skip
        await until(pilot, lambda: app.query_one("#bk-list").row_count == 1, what="booking listed")
        [b] = await desk.brain.backend.list_bookings()
        assert b.channel == "console" and b.pet_name == "Muri"
        assert "1/5" in str(app.query_one("#bk-occupancy").get_row_at(1))
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.query_one("#bk-list").row_count == 0, what="next days empty")
        await pilot.press("w")
        await until(pilot, lambda: len(app.query_one("#bk-occupancy").columns) == 8, what="week view")
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, q="kask")
        await until(pilot, lambda: app.query_one("#bk-list").row_count == 1, what="search hit")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await fill_form(pilot, start_date="", end_date="2026-12-13")
        await booking_becomes(pilot, desk, b.id, "end", dt.date(2026, 12, 13))
        await pilot.press("k")
        await booking_becomes(pilot, desk, b.id, "status", "cancelled")

    run(tmp_path, scenario)


async def booking_becomes(pilot: Pilot[Any], desk: Desk, bid: str, field: str, want: Any) -> None:
    for _ in range(200):
        b = await desk.brain.backend.get_booking(bid)
        if getattr(b, field) == want:
            return
        await pilot.pause(0.05)
    raise AssertionError(f"booking {bid}: {field} never became {want!r}")


def test_bookings_approve_and_decline_held(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        first = await desk.api.post("/bookings", {"pet_name": "A", "pet_type": "dog", "start_date": "2026-12-10",
                                                  "end_date": "2026-12-11", "owner_name": "Ann Aas",
                                                  "owner_phone": "+372 5555 0001"})  # fmt: skip
        assert first["status"] == "held"
        await pilot.press("3")
        await until(pilot, lambda: app.query_one("#bk-list").row_count == 1, what="held listed")
        await pilot.press("y")
        await booking_becomes(pilot, desk, first["id"], "status", "confirmed")
        second = await desk.api.post("/bookings", {"pet_name": "B", "pet_type": "dog", "start_date": "2026-12-10",
                                                   "end_date": "2026-12-11", "owner_name": "Bo Bee",
                                                   "owner_phone": "+372 5555 0002"})  # fmt: skip
        await until(pilot, lambda: app.query_one("#bk-list").row_count == 2, what="second listed")
        table = app.query_one("#bk-list")
        table.move_cursor(row=[str(k.value) for k in table.rows].index(second["id"]))
        await pilot.press("D")
        await booking_becomes(pilot, desk, second["id"], "status", "cancelled")

    run(tmp_path, scenario, bookings={"require_approval": True})


def test_health_help_and_pause(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await until(pilot, lambda: "language model" in text_of(app, "#health-text"))
        assert "off" in text_of(app, "#health-text") and "open callbacks" in text_of(app, "#health-text")
        await pilot.press("p")
        await until(pilot, lambda: desk.control.desk.ai_paused, what="AI paused")
        await until(pilot, lambda: "YES" in text_of(app, "#health-text"))
        await pilot.press("p")
        await until(pilot, lambda: not desk.control.desk.ai_paused, what="AI resumed")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

    run(tmp_path, scenario)


def test_reconnects_by_itself_when_the_daemon_restarts(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        api: ApiServer = desk.api_server
        await api.stop()
        await until(pilot, lambda: not app.connected, what="noticed the daemon is gone")
        assert "not reachable" in text_of(app, "#conn")
        await asyncio.sleep(0.5)
        await api.start()
        await until(pilot, lambda: app.connected, what="reconnected")
        assert any("Reconnected" in n for n in notifications(app))
        assert "connected to the daemon" in text_of(app, "#conn")

    run(tmp_path, scenario)


def test_hostile_ticket_fields_are_shown_inert(tmp_path: Path) -> None:
    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await desk.brain.callbacks.create(
            phone="+37255551234", name="[b]Boss[/b]\x1b[2J", reason="[link=x]click[/link]", language="en",
            session_id=None, channel="web", details={},
        )  # fmt: skip
        desk.control.bus.publish(Event(EventType.CALLBACK_REQUESTED, {}, None))
        await pilot.press("2")
        await until(pilot, lambda: "[b]Boss[/b]␛[2J" in text_of(app, "#cb-text"), what="inert ticket")
        assert "[link=x]click[/link]" in text_of(app, "#cb-text")
        row = [str(c) for c in app.query_one("#cb-list").get_row_at(0)]
        assert "[link=x]click[/link]" in row and "[b]Boss[/b]␛[2J" in row

    run(tmp_path, scenario, size=(120, 40))


def test_a_crashed_worker_or_service_is_a_notice_and_shows_in_health(tmp_path: Path) -> None:
    """A SIP worker or a model service dies and is restarted (the daemon's events, its health
    report): staff get a notice on whatever tab they are on, and the Health tab says which."""

    def status(workers_up: bool) -> dict[str, Any]:
        return {
            "sip": {"enabled": True, "workers": [{"up": True, "restarts": 0}, {"up": workers_up, "restarts": 1}]},
            "services": {"stt": {"pid": 4242 if workers_up else None, "restarts": 1}, "tts": {"pid": 4343}},
        }

    async def scenario(desk: Desk, app: ConsoleApp, pilot: Pilot[Any]) -> None:
        desk.control.status = lambda: status(False)
        await pilot.press("4")
        down = {"component": "sip_worker", "worker": 1, "state": "down", "exit": -9}
        desk.control.bus.publish(Event(EventType.DEGRADED, down))
        await until(pilot, lambda: any("sip worker 1 failed" in n for n in notifications(app)), what="notice")
        await until(pilot, lambda: "1 of 2 up, 1 restarts" in text_of(app, "#health-text"), what="workers")
        assert "stt service" in text_of(app, "#health-text") and "RESTARTING (1 restarts)" in text_of(
            app, "#health-text"
        )
        desk.control.status = lambda: status(True)
        desk.control.bus.publish(Event(EventType.DEGRADED_OFF, {**down, "state": "up", "exit": None}))
        await until(pilot, lambda: any("sip worker 1 is back" in n for n in notifications(app)), what="back")
        await until(pilot, lambda: "all 2 up, 1 restarts" in text_of(app, "#health-text"), what="workers up")
        assert "RESTARTING" not in text_of(app, "#health-text")

    run(tmp_path, scenario)
