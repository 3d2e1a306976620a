"""The durable SMS outbox, the inbound SMS log and the opt-out list.

Every text the appliance sends goes through :class:`Outbox`: a row is written
(once per idempotency key: ``confirm:<booking>``, ``reply:<inbound id>``...)
before anything is sent, a sender claims due rows (``pending`` -> ``sending``,
one attempt counted), and marks each ``sent``, back to ``pending`` with a later
``not_before`` (retry with backoff) or ``failed``. A daemon killed mid-send
leaves rows in ``sending``; :meth:`Outbox.recover` puts them back to
``pending`` at start, so a message is sent at least once and, short of a
crash inside the gateway's own HTTP call, exactly once.

:class:`InboundLog` keeps every received text whatever came of it (answered,
rate limited, unreadable), deduplicated by the gateway's message id.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from appliance.core.clock import Clock, system_clock
from appliance.store.db import Database
from appliance.store.models import OutboxRow, SmsInboundRow, SmsOptOut
from appliance.store.repos import from_db_time, to_db_time


class OutboxKind(enum.StrEnum):
    REPLY = "reply"
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    APPROVED = "approved"
    DECLINED = "declined"
    NOTICE = "notice"  # opt-out/opt-in receipts, "could not read your message"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt
    SKIPPED = "skipped"  # never sent: the number opted out, or the kind is switched off


class InboundStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet handled (stays so if handling failed)
    ANSWERED = "answered"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    RATE_LIMITED = "rate_limited"
    UNREADABLE = "unreadable"
    IGNORED = "ignored"  # from an opted-out number: kept, not answered


@dataclass(frozen=True, slots=True)
class NewMessage:
    idempotency_key: str
    kind: OutboxKind
    transport: str
    recipient: str
    text: str
    language: str
    encoding: str
    segments: int
    not_before: dt.datetime
    booking_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    idempotency_key: str
    kind: OutboxKind
    transport: str
    recipient: str
    text: str
    language: str
    encoding: str
    segments: int
    status: OutboxStatus
    attempts: int
    not_before: dt.datetime
    created_at: dt.datetime
    booking_id: str | None = None
    session_id: str | None = None
    last_error: str | None = None
    sent_at: dt.datetime | None = None
    tenant_id: str = ""  # whose text it is: sent from that tenant's number (channels/sms/tenants.py)


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id or 0, idempotency_key=row.idempotency_key, kind=OutboxKind(row.kind), transport=row.transport,
        recipient=row.recipient, text=row.text, language=row.language, encoding=row.encoding,
        segments=row.segments, status=OutboxStatus(row.status), attempts=row.attempts,
        not_before=from_db_time(row.not_before) or row.not_before, created_at=from_db_time(row.created_at) or row.created_at,
        booking_id=row.booking_id, session_id=row.session_id, last_error=row.last_error,
        sent_at=from_db_time(row.sent_at), tenant_id=row.tenant_id,
    )  # fmt: skip


class Outbox:
    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def enqueue(self, msg: NewMessage, *, skip_reason: str | None = None) -> tuple[OutboxMessage, bool]:
        """Add a message unless its idempotency key is known; return (the row, whether it is new).

        ``skip_reason`` stores it as skipped (an opted-out number): visible, never sent."""

        def w(s: Session) -> tuple[OutboxMessage, bool]:
            old = s.exec(select(OutboxRow).where(OutboxRow.idempotency_key == msg.idempotency_key)).first()
            if old is not None:
                return _message(old), False
            now = to_db_time(self.clock())
            row = OutboxRow(
                tenant_id=self.tenant_id, idempotency_key=msg.idempotency_key, kind=msg.kind.value,
                transport=msg.transport, recipient=msg.recipient, text=msg.text, language=msg.language,
                encoding=msg.encoding, segments=msg.segments, booking_id=msg.booking_id, session_id=msg.session_id,
                status=(OutboxStatus.SKIPPED if skip_reason else OutboxStatus.PENDING).value,
                last_error=skip_reason, not_before=to_db_time(msg.not_before), created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _message(row), True

        return await self.db.awrite(w)

    async def has(self, idempotency_key: str) -> bool:
        def r(s: Session) -> bool:
            return s.exec(select(OutboxRow.id).where(OutboxRow.idempotency_key == idempotency_key)).first() is not None

        return await self.db.aread(r)

    async def recover(self) -> int:
        """At start: rows a killed daemon left in ``sending`` go back to ``pending``."""

        def w(s: Session) -> int:
            rows = s.exec(select(OutboxRow).where(OutboxRow.status == OutboxStatus.SENDING.value)).all()
            for row in rows:
                row.status = OutboxStatus.PENDING.value
                row.updated_at = to_db_time(self.clock())
                s.add(row)
            return len(rows)

        return await self.db.awrite(w)

    async def claim_due(self, limit: int = 20) -> list[OutboxMessage]:
        """Pending rows whose time has come, marked ``sending`` with one more attempt counted."""
        now = to_db_time(self.clock())

        def w(s: Session) -> list[OutboxMessage]:
            rows = s.exec(
                select(OutboxRow)
                .where(OutboxRow.status == OutboxStatus.PENDING.value, col(OutboxRow.not_before) <= now)
                .order_by(col(OutboxRow.not_before), col(OutboxRow.id))
                .limit(limit)
            ).all()
            for row in rows:
                row.status = OutboxStatus.SENDING.value
                row.attempts += 1
                row.updated_at = now
                s.add(row)
            return [_message(r) for r in rows]

        return await self.db.awrite(w)

    async def _update(
        self, msg_id: int, status: OutboxStatus, *, error: str | None, at: dt.datetime | None, uncount: bool = False
    ) -> None:
        now = to_db_time(self.clock())

        def w(s: Session) -> None:
            row = s.get(OutboxRow, msg_id)
            if row is None or row.tenant_id != self.tenant_id:
                return
            if uncount:
                row.attempts = max(row.attempts - 1, 0)
            row.status = status.value
            row.last_error = error
            row.updated_at = now
            if status is OutboxStatus.SENT:
                row.sent_at = now
            if at is not None:
                row.not_before = to_db_time(at)
            s.add(row)

        await self.db.awrite(w)

    async def mark_sent(self, msg_id: int) -> None:
        await self._update(msg_id, OutboxStatus.SENT, error=None, at=None)

    async def retry_later(self, msg_id: int, error: str, at: dt.datetime, *, attempted: bool = True) -> None:
        """Back to pending until ``at``; ``attempted=False``: it was never tried (a rate limit), so the
        attempt claim_due counted is given back."""
        await self._update(msg_id, OutboxStatus.PENDING, error=error[:500], at=at, uncount=not attempted)

    async def mark_failed(self, msg_id: int, error: str) -> None:
        await self._update(msg_id, OutboxStatus.FAILED, error=error[:500], at=None)

    async def mark_skipped(self, msg_id: int, reason: str) -> None:
        await self._update(msg_id, OutboxStatus.SKIPPED, error=reason, at=None)

    async def list(self, *, status: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        def r(s: Session) -> list[OutboxMessage]:
            q = select(OutboxRow).where(OutboxRow.tenant_id == self.tenant_id)
            if status:
                q = q.where(OutboxRow.status == status)
            rows = s.exec(q.order_by(col(OutboxRow.id).desc()).limit(limit)).all()
            return [_message(x) for x in rows]

        return await self.db.aread(r)

    async def counts(self) -> dict[str, int]:
        """Rows per status (the console's health pane)."""
        from sqlalchemy import func

        def r(s: Session) -> dict[str, int]:
            q = select(OutboxRow.status, func.count()).where(OutboxRow.tenant_id == self.tenant_id)
            return {str(st): int(n) for st, n in s.exec(q.group_by(OutboxRow.status)).all()}

        return await self.db.aread(r)

    async def next_due(self) -> dt.datetime | None:
        """When the earliest pending row becomes due (the sender sleeps until then)."""

        def r(s: Session) -> dt.datetime | None:
            row = s.exec(
                select(OutboxRow.not_before)
                .where(OutboxRow.status == OutboxStatus.PENDING.value)
                .order_by(col(OutboxRow.not_before))
                .limit(1)
            ).first()
            return from_db_time(row) if row is not None else None

        return await self.db.aread(r)


@dataclass(frozen=True, slots=True)
class InboundRecord:
    id: int
    sender: str
    text: str
    status: InboundStatus
    session_id: str | None
    received_at: dt.datetime


class InboundLog:
    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def record(
        self, *, transport: str, sender: str, text: str, status: InboundStatus,
        message_id: str | None = None, raw_hex: str | None = None,
    ) -> int | None:  # fmt: skip
        """Store one received text; None when the gateway delivered this message id before."""

        def w(s: Session) -> int | None:
            if message_id and s.exec(select(SmsInboundRow.id).where(SmsInboundRow.message_id == message_id)).first():
                return None
            row = SmsInboundRow(
                tenant_id=self.tenant_id, transport=transport, sender=sender, message_id=message_id or None,
                text=text, raw_hex=raw_hex, status=status.value, received_at=to_db_time(self.clock()),
            )  # fmt: skip
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # pragma: no cover - the select above makes this a race only
                return None
            return row.id

        return await self.db.awrite(w)

    async def settle(self, inbound_id: int, status: InboundStatus, session_id: str | None = None) -> None:
        def w(s: Session) -> None:
            row = s.get(SmsInboundRow, inbound_id)
            if row is not None and row.tenant_id == self.tenant_id:
                row.status = status.value
                row.session_id = session_id
                s.add(row)

        await self.db.awrite(w)

    async def has_texted(self, sender: str) -> bool:
        """Whether this number has ever texted us (its consent to get texts back)."""

        def r(s: Session) -> bool:
            q = select(SmsInboundRow.id).where(
                SmsInboundRow.tenant_id == self.tenant_id, SmsInboundRow.sender == sender
            )
            return s.exec(q.limit(1)).first() is not None

        return await self.db.aread(r)

    async def list(self, *, sender: str | None = None, limit: int = 100) -> list[InboundRecord]:
        def r(s: Session) -> list[InboundRecord]:
            q = select(SmsInboundRow).where(SmsInboundRow.tenant_id == self.tenant_id)
            if sender:
                q = q.where(SmsInboundRow.sender == sender)
            rows = s.exec(q.order_by(col(SmsInboundRow.id)).limit(limit)).all()
            return [
                InboundRecord(x.id or 0, x.sender, x.text, InboundStatus(x.status), x.session_id,
                              from_db_time(x.received_at) or x.received_at)
                for x in rows
            ]  # fmt: skip

        return await self.db.aread(r)


class OptOuts:
    def __init__(self, db: Database, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    def _row(self, s: Session, phone: str) -> SmsOptOut | None:
        """This tenant's opt-out of ``phone``: one business's STOP does not stop another's texts."""
        return s.exec(select(SmsOptOut).where(SmsOptOut.tenant_id == self.tenant_id, SmsOptOut.phone == phone)).first()

    async def is_opted_out(self, phone: str) -> bool:
        def r(s: Session) -> bool:
            return self._row(s, phone) is not None

        return await self.db.aread(r)

    async def opt_out(self, phone: str, keyword: str) -> None:
        def w(s: Session) -> None:
            if self._row(s, phone) is None:
                s.add(SmsOptOut(phone=phone, tenant_id=self.tenant_id, keyword=keyword[:40],
                                created_at=to_db_time(self.clock())))  # fmt: skip

        await self.db.awrite(w)

    async def opt_in(self, phone: str) -> None:
        def w(s: Session) -> None:
            row = self._row(s, phone)
            if row is not None:
                s.delete(row)

        await self.db.awrite(w)


# --- what the SMS channel reads of sessions and bookings --------------------------------


@dataclass(frozen=True, slots=True)
class SessionSeen:
    id: str
    updated_at: dt.datetime
    ended: bool


async def latest_session(db: Database, prefix: str, tenant_id: str) -> SessionSeen | None:
    """The newest conversation of ``tenant_id`` whose id starts with ``prefix`` (the SMS sessions
    of one number with one business)."""
    from appliance.store.models import ConversationSession

    def r(s: Session) -> SessionSeen | None:
        row = s.exec(
            select(ConversationSession)
            .where(
                ConversationSession.tenant_id == tenant_id,
                col(ConversationSession.id).startswith(prefix, autoescape=True),
            )
            .order_by(col(ConversationSession.updated_at).desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return SessionSeen(row.id, from_db_time(row.updated_at) or row.updated_at, row.ended_at is not None)

    return await db.aread(r)


async def recent_bookings(db: Database, tenant_id: str, since: dt.datetime) -> list[dict[str, object]]:
    """Bookings created since ``since`` (the notifier's restart sweep), as plain dicts."""
    from appliance.store.models import BookingRow

    def r(s: Session) -> list[dict[str, object]]:
        rows = s.exec(
            select(BookingRow).where(BookingRow.tenant_id == tenant_id, col(BookingRow.created_at) >= to_db_time(since))
        ).all()
        return [
            {"id": b.id, "tenant_id": b.tenant_id, "pet_name": b.pet_name, "start": b.start_date.isoformat(), "end": b.end_date.isoformat(),
             "owner_phone": b.owner_phone, "status": b.status, "channel": b.channel, "session_id": b.session_id}
            for b in rows
        ]  # fmt: skip

    return await db.aread(r)
