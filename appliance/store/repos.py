"""Repositories the tools and daemon use: callback tickets and audit (sessions and turns: conversations.py).

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

from sqlmodel import Session, col, select

from appliance.core.clock import Clock, system_clock
from appliance.core.errors import NotFound
from appliance.core.tickets import CallbackTicket
from appliance.store.db import Database
from appliance.store.models import AuditLog, CallbackTicketRow


def to_db_time(at: dt.datetime) -> dt.datetime:
    """Aware UTC, the form sqlmodel's ``UTCDateTime`` columns take (naive values are taken as UTC)."""
    return at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)


def from_db_time(at: dt.datetime | None) -> dt.datetime | None:
    """sqlmodel returns aware UTC already; this also covers naive values written by raw SQL."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def dumps(data: Any) -> str:
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
            details=dumps(details),
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
                details=dumps(details),
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
            if row is None or row.tenant_id != self.tenant_id:
                raise NotFound(f"no callback ticket {ticket_id}")
            return _ticket(row)

        return await self.db.aread(q)

    async def mark_done(self, ticket_id: int) -> CallbackTicket:
        now = self.clock()

        def w(s: Session) -> CallbackTicket:
            row = s.get(CallbackTicketRow, ticket_id)
            if row is None or row.tenant_id != self.tenant_id:
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
