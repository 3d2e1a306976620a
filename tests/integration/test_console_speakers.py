"""The console's call detail shows an ended call's speaker turns (the diarization job's result,
read through the control API's ``/sessions/{sid}/speakers``), under Textual's Pilot against a
real front desk and store."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from appliance.console.app import ConsoleApp
from appliance.core.messages import Event, EventType
from appliance.store import diarization as repo
from tests.support.console_pilot import text_of, until
from tests.support.control_harness import NOW, front_desk, make_config

SID = "sip-speakers-0001"
TURNS = [("SPEAKER_00", 0.4, 2.1, 1), ("SPEAKER_01", 2.6, 4.9, 2), ("SPEAKER_00", 5.2, 6.0, None)]


def test_an_ended_call_shows_who_spoke_when(tmp_path: Path) -> None:
    async def go() -> None:
        async with front_desk(make_config(tmp_path), lambda: NOW) as desk:
            await desk.brain.sessions.db.awrite(
                lambda s: repo.save_turns(s, f"20261201-100000-{SID}", tenant_id=desk.cfg.tenant.id, session_id=SID,
                                          turns=TURNS, model="tiny", now=NOW)
            )  # fmt: skip
            got = await desk.api.get(f"/sessions/{SID}/speakers")
            assert [(t["speaker"], t["transcript_turn"]) for t in got["diarizations"][0]["turns"]] == [
                ("SPEAKER_00", 1), ("SPEAKER_01", 2), ("SPEAKER_00", None)
            ]  # fmt: skip
            app = ConsoleApp(desk.cfg.api_socket, now=lambda: NOW + dt.timedelta(minutes=5),
                             today=dt.date(2026, 12, 1), retry_s=0.2)  # fmt: skip
            async with app.run_test(size=(100, 40)) as pilot:
                await until(pilot, lambda: app.connected, what="console connected")
                bus: Any = desk.control.bus
                bus.publish(Event(EventType.CALL_STARTED, {"caller_id": "+37251112233", "mode": "voice"}, SID))
                bus.publish(Event(EventType.CALL_ENDED, {"caller_id": "+37251112233", "outcome": "ended"}, SID))
                await until(pilot, lambda: SID in text_of(app, "#live-head"), what="the call selected")
                await until(pilot, lambda: "speakers: 2" in text_of(app, "#live-lines"), what="speaker turns shown")
                lines = text_of(app, "#live-lines")
                assert "SPEAKER_00 2.5 s" in lines and "SPEAKER_01 2.3 s" in lines, lines
                assert "2.6-4.9 s  SPEAKER_01  turn 2" in lines, lines

    asyncio.run(asyncio.wait_for(go(), 120))
