"""Repositories the brain, tools and daemon use: sessions, turns, callback tickets, audit.

Each repository has async methods (work runs on the writer thread or the reader
pool, never on the event loop). The module-level ``*_tx`` helpers take an open
:class:`sqlmodel.Session` so other writers (the booking backend) can add rows in
their own transaction, e.g. the audit row of every booking change.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from appliance.booking.types import CallbackTicket
from appliance.core.clock import Clock, system_clock
from appliance.core.errors import NotFound, StoreError
from appliance.store.db import Database
from appliance.store.models import TURN_STAGES, AuditLog, CallbackTicketRow, ConversationSession, Turn


def to_db_time(at: dt.datetime) -> dt.datetime:
    """Aware UTC, the form sqlmodel's ``UTCDateTime`` columns take (naive values are taken as UTC)."""
    return at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)


def from_db_time(at: dt.datetime | None) -> dt.datetime | None:
    """sqlmodel returns aware UTC already; this also covers naive values written by raw SQL."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def _dumps(data: Any) -> str:
    return json.dumps(data or {}, ensure_ascii=False, sort_keys=True, default=str)


# --- audit --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any] = field(default_factory=dict)


def audit_tx(
    session: Session,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit row inside the caller's write transaction."""
    session.add(
        AuditLog(
            at=to_db_time(at),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            details=_dumps(details),
        )
    )


def _audit_entry(row: AuditLog) -> AuditEntry:
    return AuditEntry(
        id=row.id or 0,
        at=from_db_time(row.at),  # type: ignore[arg-type]
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        details=json.loads(row.details or "{}"),
    )


class AuditRepository:
    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    async def append(
        self, *, actor: str, action: str, entity: str, entity_id: str, details: dict[str, Any] | None = None
    ) -> None:
        at = self.clock()
        await self.db.awrite(
            lambda s: audit_tx(
                s, at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, details=details
            )
        )

    async def list(
        self, *, entity: str | None = None, entity_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        def q(s: Session) -> list[AuditEntry]:
            stmt = select(AuditLog)
            if entity is not None:
                stmt = stmt.where(AuditLog.entity == entity)
            if entity_id is not None:
                stmt = stmt.where(AuditLog.entity_id == entity_id)
            rows = s.exec(stmt.order_by(col(AuditLog.id).desc()).limit(limit)).all()
            return [_audit_entry(r) for r in rows]

        return await self.db.aread(q)


# --- conversation sessions ----------------------------------------------------


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


def ensure_session_tx(
    s: Session, session_id: str, *, tenant_id: str, channel: str, language: str, now: dt.datetime
) -> ConversationSession:
    row = s.get(ConversationSession, session_id)
    if row is None:
        t = to_db_time(now)
        row = ConversationSession(
            id=session_id,
            tenant_id=tenant_id,
            channel=channel,
            language=language,
            state="{}",
            created_at=t,
            updated_at=t,
        )
        s.add(row)
        s.flush()
    return row


class SessionRepository:
    """Conversation sessions: state is the brain's JSON-able dict."""

    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def get(self, session_id: str) -> SessionRecord | None:
        def r(s: Session) -> SessionRecord | None:
            row = s.get(ConversationSession, session_id)
            return None if row is None else _session_record(row)

        return await self.db.aread(r)

    async def get_or_create(self, session_id: str, *, channel: str, language: str) -> SessionRecord:
        now = self.clock()
        return await self.db.awrite(
            lambda s: _session_record(
                ensure_session_tx(s, session_id, tenant_id=self.tenant_id, channel=channel, language=language, now=now)
            )
        )

    async def save_state(self, session_id: str, state: dict[str, Any], *, language: str | None = None) -> SessionRecord:
        now, text = self.clock(), _dumps(state)

        def w(s: Session) -> SessionRecord:
            row = s.get(ConversationSession, session_id)
            if row is None:
                raise NotFound(f"no session {session_id!r}")
            row.state = text
            if language:
                row.language = language
            row.updated_at = to_db_time(now)
            s.add(row)
            return _session_record(row)

        return await self.db.awrite(w)

    async def latest_for_caller(
        self, caller_id: str, *, channel: str, since: dt.datetime, exclude: str | None = None
    ) -> SessionRecord | None:
        """The caller's most recent session on ``channel`` touched since ``since`` (voice:
        resume a dropped call by caller ID). The caller ID lives in the state JSON."""

        def r(s: Session) -> SessionRecord | None:
            q = (
                select(ConversationSession)
                .where(ConversationSession.tenant_id == self.tenant_id)
                .where(ConversationSession.channel == channel)
                .where(col(ConversationSession.updated_at) >= to_db_time(since))
                .where(func.json_extract(ConversationSession.state, "$.caller_id") == caller_id)
                .where(ConversationSession.id != (exclude or ""))
                .order_by(col(ConversationSession.updated_at).desc())
                .limit(1)
            )
            row = s.exec(q).first()
            return None if row is None else _session_record(row)

        return await self.db.aread(r)

    async def end(self, session_id: str) -> SessionRecord:
        """Mark the session ended (idempotent: the first end time is kept)."""
        now = self.clock()

        def w(s: Session) -> SessionRecord:
            row = s.get(ConversationSession, session_id)
            if row is None:
                raise NotFound(f"no session {session_id!r}")
            if row.ended_at is None:
                row.ended_at = row.updated_at = to_db_time(now)
                s.add(row)
            return _session_record(row)

        return await self.db.awrite(w)


# --- turns --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnRecord:
    id: int
    session_id: str
    seq: int
    role: str
    text: str
    language: str
    channel: str
    created_at: dt.datetime
    timeline: dict[str, float] = field(default_factory=dict)
    total_ms: float | None = None

    def stage(self, name: str) -> float | None:
        return self.timeline.get(name)


def _turn_record(row: Turn) -> TurnRecord:
    return TurnRecord(
        id=row.id or 0,
        session_id=row.session_id,
        seq=row.seq,
        role=row.role,
        text=row.text,
        language=row.language,
        channel=row.channel,
        created_at=from_db_time(row.created_at),  # type: ignore[arg-type]
        timeline=json.loads(row.timeline or "{}"),
        total_ms=row.total_ms,
    )


def _apply_timeline(row: Turn, timeline: dict[str, float], total_ms: float | None) -> None:
    row.timeline = _dumps(timeline)
    for stage in TURN_STAGES:
        value = timeline.get(stage)
        setattr(row, stage, float(value) if value is not None else None)
    if total_ms is None:
        total_ms = timeline.get("total_ms")
    row.total_ms = float(total_ms) if total_ms is not None else None


class TurnRepository:
    """Turns with their latency timeline (``{stage: seconds}``; the main stages also get columns)."""

    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def append(
        self,
        session_id: str,
        *,
        role: str,
        text: str,
        language: str,
        channel: str,
        timeline: dict[str, float] | None = None,
        total_ms: float | None = None,
    ) -> TurnRecord:
        """Append the next turn (seq = last + 1); creates the session row if missing."""
        if role not in ("user", "assistant"):
            raise StoreError(f"unknown turn role {role!r}")
        now = self.clock()

        def w(s: Session) -> TurnRecord:
            ensure_session_tx(s, session_id, tenant_id=self.tenant_id, channel=channel, language=language, now=now)
            last = s.exec(select(func.max(Turn.seq)).where(Turn.session_id == session_id)).one()
            row = Turn(
                session_id=session_id,
                seq=(last or 0) + 1,
                role=role,
                text=text,
                language=language,
                channel=channel,
                created_at=to_db_time(now),
            )
            _apply_timeline(row, dict(timeline or {}), total_ms)
            s.add(row)
            s.flush()
            return _turn_record(row)

        return await self.db.awrite(w)

    async def update_timeline(
        self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None
    ) -> TurnRecord:
        """Merge later stages (e.g. ``playback_end``) into a turn's timeline."""

        def w(s: Session) -> TurnRecord:
            row = s.get(Turn, turn_id)
            if row is None:
                raise NotFound(f"no turn {turn_id}")
            merged = {**json.loads(row.timeline or "{}"), **stages}
            _apply_timeline(row, merged, total_ms if total_ms is not None else row.total_ms)
            s.add(row)
            return _turn_record(row)

        return await self.db.awrite(w)

    async def list(self, session_id: str) -> list[TurnRecord]:
        def q(s: Session) -> list[TurnRecord]:
            rows = s.exec(select(Turn).where(Turn.session_id == session_id).order_by(col(Turn.seq))).all()
            return [_turn_record(r) for r in rows]

        return await self.db.aread(q)


# --- callback tickets ---------------------------------------------------------


def _ticket(row: CallbackTicketRow) -> CallbackTicket:
    return CallbackTicket(
        id=row.id or 0,
        tenant_id=row.tenant_id,
        phone=row.phone,
        name=row.name,
        reason=row.reason,
        language=row.language,
        session_id=row.session_id,
        channel=row.channel,
        status=row.status,
        created_at=from_db_time(row.created_at),  # type: ignore[arg-type]
        details=json.loads(row.details or "{}"),
    )


class CallbackRepository:
    """Callback tickets: the fallback when a booking cannot be made now, or a human is wanted."""

    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock, actor: str = "system") -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock
        self.actor = actor

    async def create(
        self,
        *,
        phone: str | None,
        name: str | None,
        reason: str,
        language: str,
        session_id: str | None,
        channel: str,
        details: dict[str, Any] | None = None,
    ) -> CallbackTicket:
        now = self.clock()

        def w(s: Session) -> CallbackTicket:
            row = CallbackTicketRow(
                tenant_id=self.tenant_id,
                phone=phone,
                name=name,
                reason=reason,
                language=language,
                session_id=session_id,
                channel=str(channel),
                status="open",
                details=_dumps(details),
                created_at=to_db_time(now),
            )
            s.add(row)
            s.flush()
            audit_tx(
                s, at=now, actor=self.actor, action="callback.create", entity="callback", entity_id=str(row.id),
                details={"reason": reason, "session_id": session_id, "channel": str(channel)},
            )  # fmt: skip
            return _ticket(row)

        return await self.db.awrite(w)

    async def list(self, *, status: str | None = None, limit: int = 100) -> list[CallbackTicket]:
        def q(s: Session) -> list[CallbackTicket]:
            stmt = select(CallbackTicketRow).where(CallbackTicketRow.tenant_id == self.tenant_id)
            if status is not None:
                stmt = stmt.where(CallbackTicketRow.status == status)
            rows = s.exec(stmt.order_by(col(CallbackTicketRow.id)).limit(limit)).all()
            return [_ticket(r) for r in rows]

        return await self.db.aread(q)

    async def get(self, ticket_id: int) -> CallbackTicket:
        def q(s: Session) -> CallbackTicket:
            row = s.get(CallbackTicketRow, ticket_id)
            if row is None:
                raise NotFound(f"no callback ticket {ticket_id}")
            return _ticket(row)

        return await self.db.aread(q)

    async def mark_done(self, ticket_id: int) -> CallbackTicket:
        now = self.clock()

        def w(s: Session) -> CallbackTicket:
            row = s.get(CallbackTicketRow, ticket_id)
            if row is None:
                raise NotFound(f"no callback ticket {ticket_id}")
            if row.status != "done":
                row.status = "done"
                row.done_at = to_db_time(now)
                s.add(row)
                audit_tx(
                    s, at=now, actor=self.actor, action="callback.done", entity="callback", entity_id=str(ticket_id)
                )
            return _ticket(row)

        return await self.db.awrite(w)
