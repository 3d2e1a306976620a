"""Conversation persistence for the engine: one write transaction per turn.

The session state, the user's turn and the reply are written together, so a
crash never leaves a reply without its state (or the reverse), and a turn
costs one commit on the store's writer thread.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from appliance.core.clock import Clock, system_clock
from appliance.store.db import Database
from appliance.store.models import ConversationSession, Turn
from appliance.store.repos import SessionRecord, SessionRepository, TurnRepository, ensure_session_tx, to_db_time


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

        def w(s: Session) -> int:
            row: ConversationSession = ensure_session_tx(
                s, session_id, tenant_id=self.tenant_id, channel=channel, language=language, now=now
            )
            row.state = state_json
            row.language = language
            row.updated_at = now
            if ended and row.ended_at is None:
                row.ended_at = now
            elif not ended:
                row.ended_at = None
            s.add(row)
            last = s.exec(select(func.max(Turn.seq)).where(Turn.session_id == session_id)).one() or 0
            if user_text is not None:
                last += 1
                s.add(
                    Turn(
                        session_id=session_id,
                        seq=last,
                        role="user",
                        text=user_text,
                        language=language,
                        channel=channel,
                        created_at=now,
                    )
                )
            reply = Turn(
                session_id=session_id,
                seq=last + 1,
                role="assistant",
                text=reply_text,
                language=language,
                channel=channel,
                created_at=now,
                timeline=timeline_json,
                total_ms=total_ms,
            )
            s.add(reply)
            s.flush()
            return int(reply.id or 0)

        return await self.db.awrite(w)

    async def update_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        await self._turns.update_timeline(turn_id, stages, total_ms=total_ms)

    async def turns(self, session_id: str) -> list[dict[str, Any]]:
        def q(s: Session) -> list[dict[str, Any]]:
            rows = s.exec(select(Turn).where(Turn.session_id == session_id).order_by(Turn.seq)).all()
            return [
                {"seq": r.seq, "role": r.role, "text": r.text, "language": r.language, "channel": r.channel}
                for r in rows
            ]

        return await self.db.aread(q)

