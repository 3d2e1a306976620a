"""Voice sessions whose call has no recorded end: what a SIGKILL (or a crash) leaves behind.

A SIP call's session gets ``ended_at`` when the call ends (``ConversationStore.end_session``).
A session of the voice channel without it, seen before the SIP channel starts, belonged to a
call that the previous process never finished. ``brain/dialogue/cut_calls.py`` decides what
staff get for each; this module only reads and marks the rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from appliance.store.conversations import SessionRecord, _session_record, _table
from appliance.store.db import Database
from appliance.store.models import CallbackTicketRow, ConversationSession
from appliance.store.repos import to_db_time


async def open_sessions(db: Database, *, tenant_id: str, channel: str) -> list[SessionRecord]:
    """Sessions of ``channel`` with no end recorded, oldest first."""
    sessions = _table(ConversationSession)

    def r(s: Session) -> list[SessionRecord]:
        q = (
            select(ConversationSession)
            .where(sessions.c.tenant_id == tenant_id)
            .where(sessions.c.channel == channel)
            .where(sessions.c.ended_at.is_(None))
            .order_by(sessions.c.updated_at)
        )
        return [_session_record(row) for row in s.execute(q).scalars().all()]

    return await db.aread(r)


async def has_ticket(db: Database, session_id: str, reason: str) -> bool:
    """A callback ticket with ``reason`` points at the session already (idempotency)."""

    def r(s: Session) -> bool:
        n = s.execute(
            select(func.count())
            .select_from(CallbackTicketRow)
            .where(col(CallbackTicketRow.session_id) == session_id)
            .where(col(CallbackTicketRow.reason) == reason)
        ).scalar()
        return bool(n)

    return await db.aread(r)


async def mark_ended(db: Database, session_id: str, at: dt.datetime) -> bool:
    """Record the end of a session (kept if one is recorded already). True when a row changed."""
    sessions = _table(ConversationSession)

    def w(s: Session) -> bool:
        result = s.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .where(sessions.c.ended_at.is_(None))
            .values(ended_at=to_db_time(at))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    return await db.awrite(w)
