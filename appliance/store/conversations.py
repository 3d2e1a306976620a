"""Conversation persistence for the brain: one write transaction per turn.

The session state, the user's turn and the reply are written together, so a
crash never leaves a reply without its state (or the reverse), and a turn
costs one commit on the store's writer thread. This is the only code that
writes sessions and turns.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.core.errors import Conflict, NotFound
from appliance.store.db import Database
from appliance.store.models import TURN_STAGES, ConversationSession, Turn
from appliance.store.repos import dumps, from_db_time, to_db_time


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    tenant_id: str
    channel: str
    language: str
    state: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None = None


def _session_record(row: ConversationSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        tenant_id=row.tenant_id,
        channel=row.channel,
        language=row.language,
        state=json.loads(row.state or "{}"),
        created_at=from_db_time(row.created_at),  # type: ignore[arg-type]
        updated_at=from_db_time(row.updated_at),  # type: ignore[arg-type]
        ended_at=from_db_time(row.ended_at),
    )


def _stage_columns(timeline: dict[str, float], total_ms: float | None) -> dict[str, Any]:
    """The timeline JSON plus the main stages as columns (``TURN_STAGES``) and ``total_ms``."""
    cols: dict[str, Any] = {"timeline": dumps(timeline)}
    for stage in TURN_STAGES:
        value = timeline.get(stage)
        cols[stage] = float(value) if value is not None else None
    if total_ms is None:
        total_ms = timeline.get("total_ms")
    cols["total_ms"] = float(total_ms) if total_ms is not None else None
    return cols


class ConversationStore:
    """What :class:`appliance.brain.dialogue.brain.Brain` needs: ``get``, ``save_turn``,
    ``update_timeline``; and the web channel's ``turns`` (history of a reconnecting page).

    Scoped to one tenant: a session id of another tenant reads as absent, and writing a turn
    into it raises :class:`Conflict` (session ids are global keys; docs/PRIVACY.md "Tenancy")."""

    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    def _own_tx(self, s: Session, session_id: str) -> None:
        """Inside a write: the session is new or this tenant's (never another tenant's)."""
        sessions = _table(ConversationSession)
        owner = s.execute(select(sessions.c.tenant_id).where(sessions.c.id == session_id)).scalar()
        if owner is not None and owner != self.tenant_id:
            raise Conflict("this session id belongs to another tenant", details={"session_id": session_id})

    async def get(self, session_id: str) -> SessionRecord | None:
        def r(s: Session) -> SessionRecord | None:
            row = s.get(ConversationSession, session_id)
            return None if row is None or row.tenant_id != self.tenant_id else _session_record(row)

        return await self.db.aread(r)

    async def save_turn(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        channel: str,
        language: str,
        user_text: str | None,
        reply_text: str,
        total_ms: float | None = None,
        ended: bool = False,
        timeline: dict[str, float] | None = None,
    ) -> int:
        """Persist the state and append (user, assistant) turns. Returns the assistant turn's id."""
        now = to_db_time(self.clock())
        state_json = json.dumps(state, ensure_ascii=False, sort_keys=True, default=str)
        reply_cols = _stage_columns(dict(timeline or {}), total_ms)

        sessions, turns = _table(ConversationSession), _table(Turn)

        def w(s: Session) -> int:
            # SQLAlchemy Core, not the ORM unit of work: this runs on every turn.
            self._own_tx(s, session_id)
            ended_at = now if ended else None
            upsert = sqlite_insert(sessions).values(
                id=session_id,
                tenant_id=self.tenant_id,
                channel=channel,
                language=language,
                state=state_json,
                created_at=now,
                updated_at=now,
                ended_at=ended_at,
            )
            s.execute(
                upsert.on_conflict_do_update(
                    index_elements=[sessions.c.id],
                    set_={
                        "state": state_json,
                        "language": language,
                        "updated_at": now,
                        "ended_at": func.coalesce(sessions.c.ended_at, ended_at) if ended else None,
                    },
                )
            )
            last = s.execute(select(func.max(turns.c.seq)).where(turns.c.session_id == session_id)).scalar() or 0
            common = {"session_id": session_id, "language": language, "channel": channel, "created_at": now}
            if user_text is not None:
                last += 1
                s.execute(insert(turns).values(seq=last, role="user", text=user_text, timeline="{}", **common))
            result = s.execute(
                insert(turns).values(seq=last + 1, role="assistant", text=reply_text, **reply_cols, **common)
            )
            return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

        return await self.db.awrite(w)

    async def latest_for_caller(
        self, caller_id: str, *, channel: str, since: dt.datetime, exclude: str | None = None
    ) -> SessionRecord | None:
        """The caller's most recent session on ``channel`` touched since ``since`` (voice:
        resume a dropped call by caller ID). The caller ID lives in the state JSON."""
        sessions = _table(ConversationSession)

        def r(s: Session) -> SessionRecord | None:
            q = (
                select(ConversationSession)
                .where(sessions.c.tenant_id == self.tenant_id)
                .where(sessions.c.channel == channel)
                .where(sessions.c.updated_at >= to_db_time(since))
                .where(func.json_extract(sessions.c.state, "$.caller_id") == caller_id)
                .where(sessions.c.id != (exclude or ""))
                .order_by(sessions.c.updated_at.desc())
                .limit(1)
            )
            row = s.execute(q).scalars().first()
            return None if row is None else _session_record(row)

        return await self.db.aread(r)

    async def append_turn(self, session_id: str, *, role: str, text: str, language: str, channel: str) -> int:
        """Append one turn the AI took no part in (a staff take-over); the session row is created
        if missing and its state is left as it is. Returns the turn's id."""
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown turn role {role!r}")
        now = to_db_time(self.clock())
        sessions, turns = _table(ConversationSession), _table(Turn)

        def w(s: Session) -> int:
            self._own_tx(s, session_id)
            s.execute(
                sqlite_insert(sessions)
                .values(
                    id=session_id, tenant_id=self.tenant_id, channel=channel, language=language, state="{}",
                    created_at=now, updated_at=now,
                )
                .on_conflict_do_update(index_elements=[sessions.c.id], set_={"updated_at": now})
            )  # fmt: skip
            last = s.execute(select(func.max(turns.c.seq)).where(turns.c.session_id == session_id)).scalar() or 0
            result = s.execute(
                insert(turns).values(
                    session_id=session_id, seq=last + 1, role=role, text=text, language=language, channel=channel,
                    timeline="{}", created_at=now,
                )
            )  # fmt: skip
            return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

        return await self.db.awrite(w)

    async def update_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        """Merge later stages (e.g. ``playback_end``) into a turn's timeline."""

        def w(s: Session) -> None:
            row = s.get(Turn, turn_id)
            owner = s.get(ConversationSession, row.session_id) if row is not None else None
            if row is None or owner is None or owner.tenant_id != self.tenant_id:
                raise NotFound(f"no turn {turn_id}")
            merged = {**json.loads(row.timeline or "{}"), **stages}
            cols = _stage_columns(merged, total_ms if total_ms is not None else row.total_ms)
            for name, value in cols.items():
                setattr(row, name, value)
            s.add(row)

        await self.db.awrite(w)

    async def end_session(self, session_id: str) -> None:
        """The conversation is over (a voice call ended): ``ended_at`` is set once. A voice
        session without it after a restart was cut by a crash (``store/open_calls.py``)."""
        from appliance.store.open_calls import mark_ended

        await mark_ended(self.db, session_id, self.clock())

    async def turns(self, session_id: str) -> list[dict[str, Any]]:
        t = _table(Turn)

        def q(s: Session) -> list[dict[str, Any]]:
            cols = (t.c.seq, t.c.role, t.c.text, t.c.language, t.c.channel)
            sessions = _table(ConversationSession)
            mine = select(sessions.c.id).where(sessions.c.id == session_id, sessions.c.tenant_id == self.tenant_id)
            rows = s.execute(
                select(*cols).where(t.c.session_id == session_id, t.c.session_id.in_(mine)).order_by(t.c.seq)
            ).all()
            return [dict(r._mapping) for r in rows]

        return await self.db.aread(q)
