"""Calls cut by a SIGKILL (no end recorded): at start, each unfinished booking gets one callback
ticket holding the transcript so far and the slots; finished calls, calls without a booking under
way and old sessions get none; a second start (or one after a crash in the middle of the scan)
makes no duplicate. Real SQLite, the real brain."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from appliance.brain.dialogue.cut_calls import REASON, ticket_cut_calls
from appliance.brain.factory import build_brain
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.messages import Channel, Utterance
from appliance.store.open_calls import open_sessions

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PHONE = "+37251234567"
BOOKING = "I need a room for my dog Max from the 10th to the 15th of December"


def _cfg(tmp_path: Path) -> Any:
    return load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"}}
    )


async def _call(brain: Any, session: str, caller: str | None, *texts: str) -> None:
    await brain.greet(session, Channel.VOICE, caller_id=caller)
    for text in texts:
        await brain.handle(Utterance(session, Channel.VOICE, text, caller_id=caller))


def _start(tmp_path: Path, at: dt.datetime = NOW, **kw: Any) -> list[Any]:
    """One daemon start: the scan, with the clock at ``at`` (``only=``: a SIP worker died)."""

    async def main() -> list[Any]:
        cfg = _cfg(tmp_path)
        brain = await build_brain(cfg, clock=fixed_clock(at), llm=None)
        try:
            return await ticket_cut_calls(
                brain.sessions, brain.callbacks, tenant_id=cfg.tenant.id, clock=brain.clock, **kw
            )
        finally:
            await brain.aclose()

    return asyncio.run(main())


def _calls(tmp_path: Path, at: dt.datetime = NOW) -> None:
    async def main() -> None:
        brain = await build_brain(_cfg(tmp_path), clock=fixed_clock(at), llm=None)
        try:
            await _call(brain, "cut", PHONE, BOOKING)  # SIGKILLed mid-booking: no end recorded
            await _call(brain, "finished", "+3725550001", BOOKING)  # other numbers: no resume offers
            await brain.end_session("finished")  # the call ended (hang-up: its own ticket path)
            await _call(brain, "chat-only", "+3725550002", "What are your opening hours?")  # nothing under way
            await _call(brain, "anonymous", None, BOOKING)  # no number to call back
            await brain.handle(Utterance("web-1", Channel.WEB, BOOKING))  # not a call
        finally:
            await brain.aclose()

    asyncio.run(main())


def _open(tmp_path: Path, channel: str = "voice") -> list[str]:
    async def main() -> list[str]:
        cfg = _cfg(tmp_path)
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
        try:
            return [r.id for r in await open_sessions(brain.sessions.db, tenant_id=cfg.tenant.id, channel=channel)]
        finally:
            await brain.aclose()

    return asyncio.run(main())


def test_a_cut_booking_call_gets_one_ticket_with_its_transcript_and_slots(tmp_path: Path) -> None:
    _calls(tmp_path)
    assert sorted(_open(tmp_path)) == ["anonymous", "chat-only", "cut"]
    (ticket,) = _start(tmp_path)
    assert (ticket.reason, ticket.phone, ticket.session_id, ticket.channel) == (REASON, PHONE, "cut", "voice")
    d = ticket.details
    assert d["slots"]["pet_name"] == "Max" and d["slots"]["start_date"] == "2026-12-10", d
    assert d["awaiting"] == "owner_name" and d["task"] == "book", d
    roles = [t["role"] for t in d["transcript"]]
    assert roles == ["assistant", "user", "assistant"], d["transcript"]
    assert d["transcript"][1]["text"] == BOOKING
    assert _open(tmp_path) == []  # every voice session is closed now
    assert _open(tmp_path, "web") == ["web-1"]  # chats are not calls
    assert _start(tmp_path) == []  # a second start: nothing new


def test_a_crash_between_the_ticket_and_the_end_makes_no_second_ticket(tmp_path: Path) -> None:
    _calls(tmp_path)
    assert len(_start(tmp_path)) == 1

    async def reopen() -> None:  # as if the process died before the sessions were marked ended
        brain = await build_brain(_cfg(tmp_path), clock=fixed_clock(NOW), llm=None)
        try:
            await brain.handle(Utterance("cut", Channel.VOICE, "Rex", caller_id=PHONE))
        finally:
            await brain.aclose()

    asyncio.run(reopen())
    assert _open(tmp_path) == ["cut"]
    assert _start(tmp_path) == []
    assert _open(tmp_path) == []


def test_sessions_older_than_the_window_are_closed_without_a_ticket(tmp_path: Path) -> None:
    _calls(tmp_path, at=NOW - dt.timedelta(days=3))  # a database from before ends were recorded
    assert _start(tmp_path) == []
    assert _open(tmp_path) == []


def test_a_dead_sip_worker_tickets_only_the_calls_it_held(tmp_path: Path) -> None:
    """``sip.workers > 1``: a worker died holding "cut"; the calls of the workers still running
    ("live", a booking under way too) are left alone, open, for their own end."""
    _calls(tmp_path)

    async def live_call() -> None:
        brain = await build_brain(_cfg(tmp_path), clock=fixed_clock(NOW), llm=None)
        try:
            await _call(brain, "live", "+3725550003", BOOKING)
        finally:
            await brain.aclose()

    asyncio.run(live_call())
    (ticket,) = _start(tmp_path, only=["cut", "anonymous"], source="sip_worker_1_died")
    assert (ticket.reason, ticket.session_id, ticket.details["source"]) == (REASON, "cut", "sip_worker_1_died")
    assert ticket.details["slots"]["pet_name"] == "Max", ticket.details
    assert sorted(_open(tmp_path)) == ["chat-only", "live"]  # "anonymous" (no number) was closed without one
    assert _start(tmp_path, only=["cut"]) == []  # once
    (later,) = _start(tmp_path)  # the next daemon start: "live" never ended, so it is cut now
    assert later.session_id == "live" and later.details["source"] == "restart_recovery"
