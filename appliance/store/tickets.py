"""Staff work on callback tickets: claim, complete and reopen, each with an optional note.

The table keeps ``status`` open/done (its CHECK constraint); who claimed a
ticket and the staff notes live in the ticket's ``details`` JSON
(``claimed_by``, ``claimed_at``, ``notes``: a list of ``{at, by, action, note}``).
Every change writes an audit row in the same transaction, and each runs on
the writer thread, so two staff claiming at once give one owner.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from appliance.core.clock import Clock, system_clock
from appliance.core.errors import Conflict, NotFound
from appliance.core.tickets import CallbackTicket
from appliance.store.db import Database
from appliance.store.models import CallbackTicketRow
from appliance.store.repos import _ticket, audit_tx, to_db_time

MAX_NOTE_CHARS = 2000


class TicketDesk:
    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    def _row(self, s: Session, ticket_id: int) -> CallbackTicketRow:
        row = s.get(CallbackTicketRow, ticket_id)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFound(f"no callback ticket {ticket_id}", details={"ticket_id": ticket_id})
        return row

    def _note(self, s: Session, row: CallbackTicketRow, actor: str, action: str, note: str, **extra: Any) -> None:
        now = self.clock()
        details = json.loads(row.details or "{}")
        details.update(extra)
        if note:
            details.setdefault("notes", []).append(
                {"at": now.isoformat(), "by": actor, "action": action, "note": note[:MAX_NOTE_CHARS]}
            )
        row.details = json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)
        s.add(row)
        audit_tx(
            s, at=now, actor=actor, action=f"callback.{action}", entity="callback", entity_id=str(row.id),
            details={"note": note[:MAX_NOTE_CHARS]} if note else None,
        )  # fmt: skip

    async def claim(self, ticket_id: int, *, actor: str, note: str = "") -> CallbackTicket:
        """Take a ticket; claiming one someone else holds is a Conflict, claiming your own is a no-op."""

        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            owner = json.loads(row.details or "{}").get("claimed_by")
            if row.status == "done":
                raise Conflict(f"callback {ticket_id} is done", details={"ticket_id": ticket_id})
            if owner and owner != actor:
                raise Conflict(f"callback {ticket_id} is claimed by {owner}", details={"claimed_by": owner})
            if owner != actor:
                self._note(s, row, actor, "claim", note, claimed_by=actor, claimed_at=self.clock().isoformat())
            return _ticket(row)

        return await self.db.awrite(w)

    async def complete(self, ticket_id: int, *, actor: str, note: str = "") -> CallbackTicket:
        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            if row.status != "done":
                row.status = "done"
                row.done_at = to_db_time(self.clock())
                self._note(s, row, actor, "done", note, done_by=actor)
            return _ticket(row)

        return await self.db.awrite(w)

    async def reopen(self, ticket_id: int, *, actor: str, note: str = "") -> CallbackTicket:
        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            if row.status == "done":
                row.status = "open"
                row.done_at = None
                self._note(s, row, actor, "reopen", note, claimed_by=None, done_by=None)
            return _ticket(row)

        return await self.db.awrite(w)

    async def list(self, *, status: str | None = None, limit: int = 200) -> list[CallbackTicket]:
        """Oldest first (the queue order)."""

        def q(s: Session) -> list[CallbackTicket]:
            stmt = select(CallbackTicketRow).where(CallbackTicketRow.tenant_id == self.tenant_id)
            if status is not None:
                stmt = stmt.where(CallbackTicketRow.status == status)
            rows = s.exec(stmt.order_by(col(CallbackTicketRow.created_at), col(CallbackTicketRow.id)).limit(limit))
            return [_ticket(r) for r in rows.all()]

        return await self.db.aread(q)

    async def get(self, ticket_id: int) -> CallbackTicket:
        return await self.db.aread(lambda s: _ticket(self._row(s, ticket_id)))
