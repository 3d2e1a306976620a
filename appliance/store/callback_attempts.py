"""The automatic callbacks' record on each ticket: every attempt and how it ended.

It lives in the ticket's ``details`` JSON under ``auto_callback``::

    {"attempts": [{"at": ISO, "outcome": "dialing|booked|declined|answered|no_answer|busy|failed",
                   "session_id": ..., "booking_id": ..., "sip_code": ...}],
     "stopped": null | "max_attempts" | "expired" | "no_calling_hours" | "booked" | "declined"}

An attempt is written as ``dialing`` *before* the call is placed and completed after it, on the
writer thread with an audit row each time, so staff see a call in progress and a daemon that
dies mid-call has still used up that attempt (it is never redialled at once in a loop).
A booked or declined callback closes the ticket (``status = done``, ``done_by = auto_callback``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlmodel import Session, col, select

from appliance.core.callback_policy import FINAL, Attempt, AttemptOutcome
from appliance.core.clock import Clock, system_clock
from appliance.core.errors import NotFound
from appliance.core.tickets import CallbackTicket
from appliance.store.db import Database
from appliance.store.models import CallbackTicketRow
from appliance.store.repos import _ticket, audit_tx, dumps, to_db_time

ACTOR = "auto_callback"


def auto_record(ticket: CallbackTicket) -> dict[str, Any]:
    rec = ticket.details.get("auto_callback")
    return rec if isinstance(rec, dict) else {"attempts": [], "stopped": None}


def attempts_of(ticket: CallbackTicket) -> list[Attempt]:
    out = []
    for a in auto_record(ticket).get("attempts") or []:
        try:
            out.append(Attempt(dt.datetime.fromisoformat(a["at"]), AttemptOutcome(a["outcome"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


class CallbackAttempts:
    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    def _row(self, s: Session, ticket_id: int) -> CallbackTicketRow:
        row = s.get(CallbackTicketRow, ticket_id)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFound(f"no callback ticket {ticket_id}", details={"ticket_id": ticket_id})
        return row

    async def open_unclaimed(self, limit: int = 200) -> list[CallbackTicket]:
        """Open tickets no staff member has claimed and the automatic callbacks have not given up on."""

        def q(s: Session) -> list[CallbackTicket]:
            stmt = (
                select(CallbackTicketRow)
                .where(CallbackTicketRow.tenant_id == self.tenant_id, CallbackTicketRow.status == "open")
                .order_by(col(CallbackTicketRow.created_at), col(CallbackTicketRow.id))
                .limit(limit)
            )
            out = []
            for row in s.exec(stmt).all():
                t = _ticket(row)
                if not t.details.get("claimed_by") and not auto_record(t).get("stopped"):
                    out.append(t)
            return out

        return await self.db.aread(q)

    def _update(
        self, s: Session, row: CallbackTicketRow, rec: dict[str, Any], action: str, note: dict[str, Any]
    ) -> None:
        details = json.loads(row.details or "{}")
        details["auto_callback"] = rec
        row.details = dumps(details)
        s.add(row)
        audit_tx(
            s, at=self.clock(), actor=ACTOR, action=f"callback.auto_{action}", entity="callback",
            entity_id=str(row.id), details=note,
        )  # fmt: skip

    async def begin(self, ticket_id: int, session_id: str) -> CallbackTicket:
        """Record an attempt as ``dialing``, before the call is placed."""
        now = self.clock()

        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            rec = auto_record(_ticket(row))
            rec.setdefault("attempts", []).append(
                {"at": now.isoformat(), "outcome": str(AttemptOutcome.DIALING), "session_id": session_id}
            )
            self._update(s, row, rec, "dial", {"session_id": session_id, "attempt": len(rec["attempts"])})
            return _ticket(row)

        return await self.db.awrite(w)

    async def finish(
        self,
        ticket_id: int,
        session_id: str,
        outcome: AttemptOutcome,
        *,
        booking_id: str | None = None,
        sip_code: int | None = None,
    ) -> CallbackTicket:
        """Complete the attempt of ``session_id``; a booked or declined one closes the ticket."""
        now = self.clock()

        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            rec = auto_record(_ticket(row))
            attempts = rec.setdefault("attempts", [])
            entry = next((a for a in attempts if a.get("session_id") == session_id), None)
            if entry is None:
                entry = {"at": now.isoformat(), "session_id": session_id}
                attempts.append(entry)
            entry.update(outcome=str(outcome), ended_at=now.isoformat())
            if booking_id:
                entry["booking_id"] = booking_id
            if sip_code is not None:
                entry["sip_code"] = sip_code
            if outcome in FINAL:
                rec["stopped"] = str(outcome)
                if row.status != "done":
                    row.status = "done"
                    row.done_at = to_db_time(now)
                    details = json.loads(row.details or "{}")
                    details["done_by"] = ACTOR
                    row.details = dumps(details)
            self._update(s, row, rec, "result", {"session_id": session_id, "outcome": str(outcome),
                                                 "booking_id": booking_id})  # fmt: skip
            return _ticket(row)

        return await self.db.awrite(w)

    async def stop(self, ticket_id: int, reason: str) -> CallbackTicket:
        """No more automatic attempts (``max_attempts``, ``expired``, ...): the ticket stays open for staff."""

        def w(s: Session) -> CallbackTicket:
            row = self._row(s, ticket_id)
            rec = auto_record(_ticket(row))
            if rec.get("stopped") != reason:
                rec["stopped"] = reason
                self._update(s, row, rec, "stop", {"reason": reason})
            return _ticket(row)

        return await self.db.awrite(w)
