"""Conversation persistence for the engine: one write transaction per turn.

The session state, the user's turn and the reply are written together, so a
crash never leaves a reply without its state (or the reverse), and a turn
costs one commit on the store's writer thread.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.store.db import Database
from appliance.store.models import ConversationSession, Turn
from appliance.store.repos import SessionRecord, SessionRepository, TurnRepository, to_db_time


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


class ConversationStore:
    """What :class:`appliance.brain.engine.Engine` needs: ``get`` and ``save_turn``."""

    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock
        self._sessions = SessionRepository(db, tenant_id=tenant_id, clock=clock)
        self._turns = TurnRepository(db, tenant_id=tenant_id, clock=clock)

    async def get(self, session_id: str) -> SessionRecord | None:
        return await self._sessions.get(session_id)

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
        timeline_json = json.dumps(timeline or {}, sort_keys=True)

        sessions, turns = _table(ConversationSession), _table(Turn)

        def w(s: Session) -> int:
            # SQLAlchemy Core, not the ORM unit of work: this runs on every turn.
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
                insert(turns).values(
                    seq=last + 1, role="assistant", text=reply_text, timeline=timeline_json, total_ms=total_ms, **common
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

        return await self.db.awrite(w)

    async def latest_for_caller(
        self, caller_id: str, *, channel: str, since: dt.datetime, exclude: str | None = None
    ) -> SessionRecord | None:
        return await self._sessions.latest_for_caller(caller_id, channel=channel, since=since, exclude=exclude)

    async def update_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        await self._turns.update_timeline(turn_id, stages, total_ms=total_ms)

    async def turns(self, session_id: str) -> list[dict[str, Any]]:
        t = _table(Turn)

        def q(s: Session) -> list[dict[str, Any]]:
            cols = (t.c.seq, t.c.role, t.c.text, t.c.language, t.c.channel)
            rows = s.execute(select(*cols).where(t.c.session_id == session_id).order_by(t.c.seq)).all()
            return [dict(r._mapping) for r in rows]

        return await self.db.aread(q)
