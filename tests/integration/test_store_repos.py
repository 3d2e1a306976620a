"""Repositories on a real SQLite file: sessions, turns with latency, callback tickets, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from appliance.core.clock import fixed_clock
from appliance.core.errors import NotFound
from appliance.core.tickets import CallbackTicket
from appliance.store import Database
from appliance.store.repos import AuditRepository, CallbackRepository, SessionRepository, TurnRepository

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
CLOCK = fixed_clock(NOW)


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "appliance.db")
    yield database
    database.close()


def test_sessions(db: Database) -> None:
    repo = SessionRepository(db, tenant_id="demo", clock=CLOCK)

    async def main() -> None:
        assert await repo.get("s1") is None
        rec = await repo.get_or_create("s1", channel="web", language="en")
        assert (rec.id, rec.channel, rec.language, rec.state, rec.ended_at) == ("s1", "web", "en", {}, None)
        assert rec.created_at == NOW
        again = await repo.get_or_create("s1", channel="voice", language="ru")
        assert again.channel == "web"  # existing session kept
        saved = await repo.save_state("s1", {"slots": {"pet_name": "Pätu"}, "awaiting": "start_date"}, language="et")
        assert saved.state["slots"]["pet_name"] == "Pätu" and saved.language == "et"
        ended = await repo.end("s1")
        assert ended.ended_at == NOW
        assert (await repo.get("s1")).state == saved.state  # type: ignore[union-attr]
        with pytest.raises(NotFound):
            await repo.save_state("nope", {})

    asyncio.run(main())


def test_turns_with_timeline(db: Database) -> None:
    turns = TurnRepository(db, tenant_id="demo", clock=CLOCK)

    async def main() -> None:
        t1 = await turns.append(
            "call-1",
            role="user",
            text="I want to book",
            language="en",
            channel="voice",
            timeline={"speech_start": 0.0, "speech_end": 1.2, "stt_done": 1.45},
        )
        t2 = await turns.append(
            "call-1",
            role="assistant",
            text="For which dates?",
            language="en",
            channel="voice",
            timeline={"first_output": 1.9, "first_audio": 2.1},
            total_ms=2100.0,
        )
        assert (t1.seq, t2.seq) == (1, 2)
        t2b = await turns.update_timeline(t2.id, {"playback_end": 3.4, "interrupted": 3.0})
        assert t2b.timeline == {"first_output": 1.9, "first_audio": 2.1, "playback_end": 3.4, "interrupted": 3.0}
        assert t2b.total_ms == 2100.0
        listed = await turns.list("call-1")
        assert [t.text for t in listed] == ["I want to book", "For which dates?"]
        assert listed[0].stage("stt_done") == 1.45

        def columns(s):  # type: ignore[no-untyped-def]
            from sqlalchemy import text

            return s.execute(
                text(
                    "SELECT speech_end, stt_done, first_audio, playback_end, interrupted, total_ms FROM turns ORDER BY seq"
                )
            ).all()

        assert await db.aread(columns) == [(1.2, 1.45, None, None, None, None), (None, None, 2.1, 3.4, 3.0, 2100.0)]
        with pytest.raises(Exception, match="role"):
            await turns.append("call-1", role="system", text="x", language="en", channel="voice")

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
