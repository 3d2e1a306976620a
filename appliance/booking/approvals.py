"""Staff approval of held bookings (``bookings.require_approval``).

With approval on, :meth:`LocalBackend.create_booking` commits a booking as
``held``: it takes its room at once (capacity is checked and reserved exactly
like a confirmed booking, idempotent on the same key), and a member of staff
approves (``held -> confirmed``) or declines (``held -> cancelled``) it. A hold
nobody answers within ``bookings.hold_expiry_minutes`` stops counting towards
capacity at that moment (``LocalBackend._used_tx``) and is marked cancelled by
:meth:`Approvals.expire_due`, which the daemon runs periodically.

Every transition runs in one write transaction on the store's writer thread,
so two staff approving at once give one result: the first confirms it (one
audit row), the second finds it confirmed and gets it back unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from appliance.booking.local import LocalBackend, booking_from_row
from appliance.booking.numbers import normalise_booking_number
from appliance.booking.types import Booking, BookingStatus
from appliance.core.errors import Conflict
from appliance.store.models import BookingRow
from appliance.store.repos import audit_tx, from_db_time, to_db_time


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    booking: Booking
    changed: bool  # False: it already had this outcome (a second approval, a repeated decline)


class Approvals:
    """Approve, decline and expire held bookings of one local backend."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend

    def _expired(self, row: BookingRow) -> bool:
        created = from_db_time(row.created_at)
        return row.status == BookingStatus.HELD.value and created is not None and created < self.backend.hold_cutoff()

    def _set(self, s: Session, row: BookingRow, status: BookingStatus, action: str, actor: str, note: str) -> None:
        before = row.status
        row.status = status.value
        row.updated_at = to_db_time(self.backend.clock())
        s.add(row)
        details = {"from_status": before, **({"note": note} if note else {})}
        audit_tx(
            s, at=self.backend.clock(), actor=actor, action=action, entity="booking", entity_id=row.id, details=details
        )

    async def approve(self, booking_id: str, *, actor: str, note: str = "") -> ApprovalResult:
        number = normalise_booking_number(booking_id)

        def tx(s: Session) -> ApprovalResult:
            row = self.backend._get_tx(s, number)
            if row.status == BookingStatus.CONFIRMED.value:
                return ApprovalResult(booking_from_row(row), False)
            if self._expired(row):
                self._set(s, row, BookingStatus.CANCELLED, "booking.expire", "system", "")
                # the expiry must be kept even though the approval fails: raise after the write
                return ApprovalResult(booking_from_row(row), False)
            if row.status != BookingStatus.HELD.value:
                raise Conflict(
                    f"booking {number} is {row.status}", details={"booking_id": number, "status": row.status}
                )
            self._set(s, row, BookingStatus.CONFIRMED, "booking.approve", actor, note)
            return ApprovalResult(booking_from_row(row), True)

        result = await self.backend.db.awrite(tx)
        if result.booking.status is BookingStatus.CANCELLED:
            raise Conflict(
                f"booking {number} expired before it was approved",
                code="hold_expired",
                details={"booking_id": number, "status": "cancelled"},
            )
        return result

    async def decline(self, booking_id: str, *, actor: str, note: str = "") -> ApprovalResult:
        number = normalise_booking_number(booking_id)

        def tx(s: Session) -> ApprovalResult:
            row = self.backend._get_tx(s, number)
            if row.status == BookingStatus.CANCELLED.value:
                return ApprovalResult(booking_from_row(row), False)
            if row.status != BookingStatus.HELD.value:
                raise Conflict(
                    f"booking {number} is {row.status}, not held", details={"booking_id": number, "status": row.status}
                )
            self._set(s, row, BookingStatus.CANCELLED, "booking.decline", actor, note)
            return ApprovalResult(booking_from_row(row), True)

        return await self.backend.db.awrite(tx)

    async def expire_due(self) -> list[Booking]:
        """Mark every hold past its expiry cancelled; returns the bookings that expired now."""
        cutoff = self.backend.hold_cutoff()
        tenant = self.backend.tenant_id

        def tx(s: Session) -> list[Booking]:
            rows = s.exec(
                select(BookingRow).where(
                    BookingRow.tenant_id == tenant,
                    BookingRow.status == BookingStatus.HELD.value,
                    col(BookingRow.created_at) < cutoff,
                )
            ).all()
            out = []
            for row in rows:
                self._set(s, row, BookingStatus.CANCELLED, "booking.expire", "system", "")
                out.append(booking_from_row(row))
            return out

        return await self.backend.db.awrite(tx)

    async def held(self) -> list[Booking]:
        """Holds waiting for a decision (not yet expired), oldest first."""
        cutoff = self.backend.hold_cutoff()
        tenant = self.backend.tenant_id

        def q(s: Session) -> list[Booking]:
            rows = s.exec(
                select(BookingRow)
                .where(
                    BookingRow.tenant_id == tenant,
                    BookingRow.status == BookingStatus.HELD.value,
                    col(BookingRow.created_at) >= cutoff,
                )
                .order_by(col(BookingRow.created_at))
            ).all()
            return [booking_from_row(r) for r in rows]

        return await self.backend.db.aread(q)

    def expires_at(self, booking: Booking) -> dt.datetime | None:
        if booking.status is not BookingStatus.HELD:
            return None
        return booking.created_at + dt.timedelta(minutes=self.backend.config.bookings.hold_expiry_minutes)
