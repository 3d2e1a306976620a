"""The store on a real SQLite file: sessions, turns with latency, callback tickets, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from appliance.core.clock import fixed_clock
from appliance.core.errors import NotFound
from appliance.core.tickets import CallbackTicket
from appliance.store import Database
from appliance.store.conversations import ConversationStore
from appliance.store.repos import AuditRepository, CallbackRepository

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
CLOCK = fixed_clock(NOW)


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "appliance.db")
    yield database
    database.close()


def test_sessions(db: Database) -> None:
    store = ConversationStore(db, tenant_id="demo", clock=CLOCK)

    async def main() -> None:
        assert await store.get("s1") is None
        await store.save_turn("s1", {}, channel="web", language="en", user_text=None, reply_text="Hello")
        rec = await store.get("s1")
        assert rec is not None
        assert (rec.id, rec.channel, rec.language, rec.state, rec.ended_at) == ("s1", "web", "en", {}, None)
        assert rec.created_at == NOW
        state = {"slots": {"pet_name": "Pätu"}, "awaiting": "start_date"}
        await store.save_turn("s1", state, channel="voice", language="et", user_text="Pätu", reply_text="Millal?")
        saved = await store.get("s1")
        assert saved is not None and saved.state["slots"]["pet_name"] == "Pätu" and saved.language == "et"
        assert saved.channel == "web"  # the session keeps its first channel
        await store.save_turn(
            "s1", state, channel="web", language="et", user_text="aitäh", reply_text="Head aega", ended=True
        )
        ended = await store.get("s1")
        assert ended is not None and ended.ended_at == NOW and ended.state == state
        with pytest.raises(NotFound):
            await store.update_timeline(999, {"playback_end": 1.0})

    asyncio.run(main())


def test_turns_with_timeline(db: Database) -> None:
    store = ConversationStore(db, tenant_id="demo", clock=CLOCK)

    async def main() -> None:
        first = await store.save_turn(
            "call-1", {}, channel="voice", language="en", user_text="I want to book", reply_text="For which dates?",
            timeline={"first_output": 1.9, "first_audio": 2.1}, total_ms=2100.0,
        )  # fmt: skip
        await store.update_timeline(first, {"playback_end": 3.4, "interrupted": 3.0})
        second = await store.save_turn(
            "call-1", {}, channel="voice", language="en", user_text="June", reply_text="Which pet?"
        )
        assert second > first
        listed = await store.turns("call-1")
        assert [(t["seq"], t["role"], t["text"]) for t in listed] == [
            (1, "user", "I want to book"),
            (2, "assistant", "For which dates?"),
            (3, "user", "June"),
            (4, "assistant", "Which pet?"),
        ]

        def columns(s):  # type: ignore[no-untyped-def]
            from sqlalchemy import text

            return s.execute(
                text("SELECT first_audio, playback_end, interrupted, total_ms, timeline FROM turns WHERE seq = 2")
            ).one()

        first_audio, playback_end, interrupted, total_ms, timeline = await db.aread(columns)
        assert (first_audio, playback_end, interrupted, total_ms) == (2.1, 3.4, 3.0, 2100.0)
        assert json.loads(timeline) == {
            "first_output": 1.9,
            "first_audio": 2.1,
            "playback_end": 3.4,
            "interrupted": 3.0,
        }

    asyncio.run(main())


def test_callback_tickets_and_audit(db: Database) -> None:
    callbacks = CallbackRepository(db, tenant_id="demo", clock=CLOCK)
    audit = AuditRepository(db, clock=CLOCK)

    async def main() -> None:
        t = await callbacks.create(
            phone="+37251234567",
            name="Ann",
            reason="booking_backend_down",
            language="et",
            session_id="s1",
            channel="voice",
            details={"pet_name": "Rex", "start": "2025-06-10"},
        )
        assert isinstance(t, CallbackTicket)
        assert (t.status, t.tenant_id, t.details["pet_name"], t.created_at) == ("open", "demo", "Rex", NOW)
        await callbacks.create(
            phone=None, name=None, reason="human", language="en", session_id=None, channel="web", details=None
        )
        assert [x.reason for x in await callbacks.list(status="open")] == ["booking_backend_down", "human"]
        done = await callbacks.mark_done(t.id)
        assert done.status == "done"
        assert [x.id for x in await callbacks.list(status="open")] != [t.id]
        assert (await callbacks.get(t.id)).status == "done"
        with pytest.raises(NotFound):
            await callbacks.mark_done(999)
        await audit.append(actor="cli", action="db.backup", entity="db", entity_id="appliance.db", details={"to": "x"})
        entries = await audit.list()
        assert [e.action for e in entries] == ["db.backup", "callback.done", "callback.create", "callback.create"]
        assert (await audit.list(entity="callback", entity_id=str(t.id)))[0].action == "callback.done"

    asyncio.run(main())
