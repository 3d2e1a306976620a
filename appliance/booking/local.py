"""The local SQLite booking backend.

Every rule comes from :mod:`appliance.booking.rules`; this module only loads
occupancy and writes rows. The guarantees:

- **No double booking.** The capacity check and the insert run in one write
  callable on the store's writer thread, inside ``BEGIN IMMEDIATE``: SQLite's
  write lock is held from before the check until the commit, so no other
  thread or process can book the same night in between.
- **Idempotent.** ``create_booking`` looks up its key (``bookings.idempotency_key``,
  unique) under the same lock: the same key returns the same booking; the same
  key with different data raises :class:`Conflict`. Cancel and change keys
  live in ``idempotency_keys``.
- **Audited.** Every create, cancel and change writes an ``audit_log`` row in
  the same transaction.

Cancelling an already cancelled booking returns it unchanged (no error, no new
audit row): the caller wanted it cancelled and it is.

Why one module of ~550 lines: each operation's check and write must share one write callable
(the guarantees above), so the operations and the row helpers they share stay together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from appliance.booking import rules
from appliance.booking.numbers import new_booking_number, normalise_booking_number
from appliance.booking.types import (
    Availability,
    Booking,
    BookingChange,
    BookingRequest,
    BookingStatus,
    DateRange,
    Quote,
)
from appliance.core.clock import Clock, local_today, system_clock
from appliance.core.config import Config
from appliance.core.errors import Conflict, NoAvailability, NotFound, StoreError, ValidationError
from appliance.store.db import Database
from appliance.store.models import BookingRow, Customer, IdempotencyKey, Pet, Resource, Tenant
from appliance.store.repos import audit_tx, from_db_time, to_db_time

log = logging.getLogger(__name__)

_LIVE = (BookingStatus.HELD.value, BookingStatus.CONFIRMED.value)
_NUMBER_ATTEMPTS = 50


class _ResourceValues(TypedDict):
    """The configured columns of a resource row (what a config sync compares and writes)."""

    name: str
    pet_types: str
    capacity: int
    sort_order: int
    active: bool


def booking_from_row(row: BookingRow) -> Booking:
    return Booking(
        id=row.id,
        tenant_id=row.tenant_id,
        resource_id=row.resource_id,
        pet_name=row.pet_name,
        pet_type=row.pet_type,
        start=row.start_date,
        end=row.end_date,
        owner_name=row.owner_name,
        owner_phone=row.owner_phone,
        status=BookingStatus(row.status),
        total_minor=row.total_minor,
        currency=row.currency,
        created_at=from_db_time(row.created_at),  # type: ignore[arg-type]
        updated_at=from_db_time(row.updated_at),  # type: ignore[arg-type]
        channel=row.channel,
        session_id=row.session_id,
        idempotency_key=row.idempotency_key,
        notes=row.notes,
    )


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class LocalBackend:
    """:class:`~appliance.booking.types.BookingBackend` on the appliance's own SQLite store.

    ``db`` is borrowed (``aclose`` leaves it open) unless the backend was made
    with :meth:`open`, which owns its database.
    """

    name = "local"

    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Clock = system_clock,
        *,
        actor: str = "system",
        number_factory: Callable[[], str] = new_booking_number,
        owns_db: bool = False,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.actor = actor
        self.number_factory = number_factory
        self.tenant_id = config.tenant.id
        self._owns_db = owns_db
        self._synced = False

    @classmethod
    def open(cls, config: Config, clock: Clock = system_clock, **kw: Any) -> LocalBackend:
        """Open ``config.db_path``, sync resources, and own the database (closed by ``aclose``)."""
        backend = cls(Database.from_config(config), config, clock, owns_db=True, **kw)
        backend.sync_resources()
        return backend

    def hold_cutoff(self) -> dt.datetime:
        """Holds created before this have expired (``bookings.hold_expiry_minutes``)."""
        return to_db_time(self.clock()) - dt.timedelta(minutes=self.config.bookings.hold_expiry_minutes)

    def today(self) -> dt.date:
        """Today in the tenant's timezone."""
        return local_today(self.clock, self.config.tenant.tz)

    # -- resources -----------------------------------------------------------------

    def sync_resources(self) -> None:
        """Upsert the tenant and the configured resources (blocking: call at startup, off the loop)."""
        self.db.write(self._sync_tx)
        self._synced = True

    async def _ensure_synced(self) -> None:
        if not self._synced:
            await self.db.awrite(self._sync_tx)
            self._synced = True

    def _sync_tx(self, s: Session) -> None:
        now = to_db_time(self.clock())
        t = self.config.tenant
        tenant = s.get(Tenant, t.id)
        if tenant is None:
            s.add(
                Tenant(id=t.id, name=t.name, timezone=t.timezone, currency=t.currency, created_at=now, updated_at=now)
            )
        elif (tenant.name, tenant.timezone, tenant.currency) != (t.name, t.timezone, t.currency):
            tenant.name, tenant.timezone, tenant.currency, tenant.updated_at = t.name, t.timezone, t.currency, now
            s.add(tenant)
        s.flush()
        wanted = {r.id: (i, r) for i, r in enumerate(self.config.resources)}
        existing = {r.id: r for r in s.exec(select(Resource).where(Resource.tenant_id == t.id)).all()}
        changed: list[str] = []
        for rid, (order, rc) in wanted.items():
            values: _ResourceValues = {
                "name": json.dumps(rc.name, ensure_ascii=False, sort_keys=True),
                "pet_types": json.dumps(rc.pet_types),
                "capacity": rc.capacity,
                "sort_order": order,
                "active": True,
            }
            row = existing.get(rid)
            if row is None:
                s.add(Resource(id=rid, tenant_id=t.id, updated_at=now, **values))
                changed.append(rid)
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                row.updated_at = now
                s.add(row)
                changed.append(rid)
        for rid, row in existing.items():
            if rid not in wanted and row.active:  # keep the row: old bookings point at it
                row.active, row.updated_at = False, now
                s.add(row)
                changed.append(rid)
        if changed:
            audit_tx(
                s, at=self.clock(), actor=self.actor, action="resources.sync", entity="tenant", entity_id=t.id,
                details={"changed": sorted(changed)},
            )  # fmt: skip

    # -- occupancy (run inside a read or write transaction) ------------------------------

    def _resources_tx(self, s: Session, pet_type: str) -> list[Resource]:
        rows = s.exec(
            select(Resource)
            .where(Resource.tenant_id == self.tenant_id, col(Resource.active).is_(True))
            .order_by(col(Resource.sort_order), col(Resource.id))
        ).all()
        return [r for r in rows if pet_type in json.loads(r.pet_types)]

    def _used_tx(
        self, s: Session, resource_ids: Sequence[str], start: dt.date, end: dt.date, exclude_id: str | None
    ) -> dict[str, dict[dt.date, int]]:
        """Live bookings per resource per night, for nights in ``[start, end)``."""
        if not resource_ids:
            return {}
        stmt = select(col(BookingRow.resource_id), col(BookingRow.start_date), col(BookingRow.end_date)).where(
            BookingRow.tenant_id == self.tenant_id,
            col(BookingRow.resource_id).in_(list(resource_ids)),
            col(BookingRow.status).in_(_LIVE),
            BookingRow.start_date < end,
            BookingRow.end_date > start,
            # a hold nobody approved in time no longer takes a room (approvals.py marks it expired)
            or_(col(BookingRow.status) != BookingStatus.HELD.value, col(BookingRow.created_at) >= self.hold_cutoff()),
        )
        if exclude_id is not None:
            stmt = stmt.where(BookingRow.id != exclude_id)
        stays: dict[str, list[tuple[dt.date, dt.date]]] = {rid: [] for rid in resource_ids}
        for rid, b_start, b_end in s.exec(stmt).all():
            stays[rid].append((max(b_start, start), min(b_end, end)))
        return {rid: rules.occupancy(v) for rid, v in stays.items()}

    def _availability_tx(
        self,
        s: Session,
        pet_type: str,
        start: dt.date,
        end: dt.date,
        *,
        exclude_id: str | None = None,
        prefer: str | None = None,
    ) -> Availability:
        """Pick the first resource (``prefer`` first) free on every night; else list alternatives."""
        resources = self._resources_tx(s, pet_type)
        if prefer is not None:
            resources.sort(key=lambda r: r.id != prefer)
        lo, hi = rules.search_window(start, end, self.config)
        used = self._used_tx(s, [r.id for r in resources], lo, hi, exclude_id)

        def free(r: Resource, a: dt.date, b: dt.date) -> int:
            return rules.free_units(r.capacity, used.get(r.id, {}), a, b)

        for r in resources:
            units = free(r, start, end)
            if units > 0:
                return Availability(pet_type, start, end, True, resource_id=r.id, free_units=units)
        alternatives = rules.alternatives(
            lambda a, b: any(free(r, a, b) > 0 for r in resources), start, end, self.config, self.today()
        )
        return Availability(pet_type, start, end, False, alternatives=alternatives)

    @staticmethod
    def _no_availability(av: Availability) -> NoAvailability:
        alts = [{"start": a.start.isoformat(), "end": a.end.isoformat()} for a in av.alternatives]
        return NoAvailability(
            f"no free {av.pet_type} room for {av.start}..{av.end}",
            details={
                "pet_type": av.pet_type,
                "start": av.start.isoformat(),
                "end": av.end.isoformat(),
                "alternatives": alts,
            },
        )

    # -- customers and pets ---------------------------------------------------------

    def _customer_tx(self, s: Session, name: str, phone: str, now: dt.datetime) -> Customer:
        row = s.exec(select(Customer).where(Customer.tenant_id == self.tenant_id, Customer.phone == phone)).first()
        if row is None:
            row = Customer(tenant_id=self.tenant_id, name=name, phone=phone, created_at=now, updated_at=now)
        elif row.name != name:
            row.name, row.updated_at = name, now
        s.add(row)
        s.flush()
        return row

    def _pet_tx(self, s: Session, customer_id: int, name: str, pet_type: str, now: dt.datetime) -> Pet:
        row = s.exec(
            select(Pet).where(Pet.customer_id == customer_id, Pet.name == name, Pet.pet_type == pet_type)
        ).first()
        if row is None:
            row = Pet(customer_id=customer_id, name=name, pet_type=pet_type, created_at=now)
            s.add(row)
            s.flush()
        return row

    def _new_number_tx(self, s: Session) -> str:
        for _ in range(_NUMBER_ATTEMPTS):
            number = self.number_factory()
            if s.get(BookingRow, number) is None:
                return number
        raise StoreError("could not draw a free booking number", retryable=True)

    def _get_tx(self, s: Session, booking_id: str) -> BookingRow:
        row = s.get(BookingRow, normalise_booking_number(booking_id))
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFound(f"no booking {booking_id!r}", details={"booking_id": booking_id})
        return row

    def _audit(self, s: Session, action: str, booking_id: str, details: dict[str, Any]) -> None:
        audit_tx(
            s, at=self.clock(), actor=self.actor, action=action, entity="booking", entity_id=booking_id, details=details
        )

    # -- BookingBackend --------------------------------------------------------------

    async def check_availability(self, pet_type: str, start: dt.date, end: dt.date) -> Availability:
        pet = rules.validate_range(pet_type, start, end, self.config, self.today())
        await self._ensure_synced()
        return await self.db.aread(lambda s: self._availability_tx(s, pet, start, end))

    async def quote_price(self, pet_type: str, start: dt.date, end: dt.date) -> Quote:
        pet = rules.validate_range(pet_type, start, end, self.config, self.today())
        return rules.quote(pet, start, end, self.config)

    async def create_booking(self, request: BookingRequest, idempotency_key: str) -> Booking:
        if not idempotency_key:
            raise ValidationError("an idempotency key is required", field="idempotency_key")
        req = rules.validate_request(request, self.config, self.today())
        fingerprint = rules.request_fingerprint(req)
        price = rules.quote(req.pet_type, req.start, req.end, self.config)
        await self._ensure_synced()

        def tx(s: Session) -> Booking:
            existing = s.exec(select(BookingRow).where(BookingRow.idempotency_key == idempotency_key)).first()
            if existing is not None:
                if existing.tenant_id != self.tenant_id:  # the key is global: never another tenant's booking
                    raise Conflict(
                        "this idempotency key was used for a different booking",
                        details={"idempotency_key": idempotency_key},
                    )
                if existing.request_hash != fingerprint:
                    raise Conflict(
                        "this idempotency key was used for a different booking",
                        details={"idempotency_key": idempotency_key, "booking_id": existing.id},
                    )
                return booking_from_row(existing)
            av = self._availability_tx(s, req.pet_type, req.start, req.end)
            if not av.available or av.resource_id is None:
                raise self._no_availability(av)
            now = to_db_time(self.clock())
            customer = self._customer_tx(s, req.owner_name, req.owner_phone, now)
            pet = self._pet_tx(s, customer.id or 0, req.pet_name, req.pet_type, now)
            row = BookingRow(
                id=self._new_number_tx(s),
                tenant_id=self.tenant_id,
                resource_id=av.resource_id,
                customer_id=customer.id or 0,
                pet_id=pet.id or 0,
                pet_name=req.pet_name,
                pet_type=req.pet_type,
                start_date=req.start,
                end_date=req.end,
                nights=(req.end - req.start).days,
                owner_name=req.owner_name,
                owner_phone=req.owner_phone,
                status=(BookingStatus.HELD if self.config.bookings.require_approval else BookingStatus.CONFIRMED).value,
                total_minor=price.total_minor,
                currency=price.currency,
                channel=str(req.channel),
                session_id=req.session_id,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                notes=req.notes,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            self._audit(
                s, "booking.create", row.id,
                {"resource_id": row.resource_id, "start": req.start.isoformat(), "end": req.end.isoformat(),
                 "pet_type": req.pet_type, "total_minor": row.total_minor, "channel": row.channel,
                 "session_id": req.session_id},
            )  # fmt: skip
            return booking_from_row(row)

        return await self.db.awrite(tx)

    def _claim_key_tx(self, s: Session, key: str | None, operation: str, booking_id: str, fingerprint: str) -> bool:
        """True when ``key`` was already used for exactly this call (replay); Conflict when for another."""
        if not key:
            return False
        row = s.get(IdempotencyKey, key)
        if row is None:
            return False
        if (row.operation, row.booking_id, row.request_hash) != (operation, booking_id, fingerprint):
            raise Conflict(
                f"this idempotency key was used for another {row.operation}",
                details={"idempotency_key": key, "booking_id": row.booking_id},
            )
        return True

    def _record_key_tx(self, s: Session, key: str | None, operation: str, booking_id: str, fingerprint: str) -> None:
        if key:
            s.add(
                IdempotencyKey(
                    key=key, operation=operation, booking_id=booking_id, request_hash=fingerprint,
                    created_at=to_db_time(self.clock()),
                )
            )  # fmt: skip

    async def cancel_booking(self, booking_id: str, idempotency_key: str | None = None) -> Booking:
        """Cancel; an already cancelled booking is returned unchanged."""
        number = normalise_booking_number(booking_id)
        fingerprint = _hash({"op": "cancel", "booking_id": number})

        def tx(s: Session) -> Booking:
            row = self._get_tx(s, number)
            if self._claim_key_tx(s, idempotency_key, "cancel", number, fingerprint):
                return booking_from_row(row)
            if row.status != BookingStatus.CANCELLED.value:
                before = row.status
                row.status = BookingStatus.CANCELLED.value
                row.updated_at = to_db_time(self.clock())
                s.add(row)
                self._audit(s, "booking.cancel", number, {"from_status": before})
            self._record_key_tx(s, idempotency_key, "cancel", number, fingerprint)
            return booking_from_row(row)

        return await self.db.awrite(tx)

    async def change_booking(self, booking_id: str, change: BookingChange, idempotency_key: str) -> Booking:
        """Change dates, pet or owner details; capacity is re-checked (excluding this booking) and re-priced."""
        if not idempotency_key:
            raise ValidationError("an idempotency key is required", field="idempotency_key")
        number = normalise_booking_number(booking_id)
        region = self.config.tenant.phone_region
        norm: dict[str, Any] = {}  # normalised new values, validated before any I/O
        if change.pet_name is not None:
            norm["pet_name"] = rules.normalise_name(change.pet_name, "pet_name")
        if change.owner_name is not None:
            norm["owner_name"] = rules.normalise_name(change.owner_name, "owner_name")
        if change.owner_phone is not None:
            norm["owner_phone"] = rules.normalise_phone(change.owner_phone, region)
        if change.pet_type is not None:
            norm["pet_type"] = rules.normalise_pet_type(change.pet_type, self.config)
        if change.start is not None:
            norm["start"] = change.start
        if change.end is not None:
            norm["end"] = change.end
        fingerprint = _hash({"op": "change", "booking_id": number, **norm})
        today = self.today()
        await self._ensure_synced()

        def tx(s: Session) -> Booking:
            row = self._get_tx(s, number)
            if self._claim_key_tx(s, idempotency_key, "change", number, fingerprint):
                return booking_from_row(row)
            if row.status == BookingStatus.CANCELLED.value:
                raise Conflict(f"booking {number} is cancelled", details={"booking_id": number})
            before = booking_from_row(row)
            start, end = norm.get("start", row.start_date), norm.get("end", row.end_date)
            pet_type = norm.get("pet_type", row.pet_type)
            moved = (start, end, pet_type) != (row.start_date, row.end_date, row.pet_type)
            if (start, end) != (row.start_date, row.end_date):
                rules.validate_dates(start, end, self.config, today)
            now = to_db_time(self.clock())
            if moved:
                av = self._availability_tx(s, pet_type, start, end, exclude_id=number, prefer=row.resource_id)
                if not av.available or av.resource_id is None:
                    raise self._no_availability(av)
                price = rules.quote(pet_type, start, end, self.config)
                row.resource_id, row.total_minor, row.currency = av.resource_id, price.total_minor, price.currency
                row.start_date, row.end_date, row.nights, row.pet_type = start, end, (end - start).days, pet_type
            row.pet_name = norm.get("pet_name", row.pet_name)
            row.owner_name = norm.get("owner_name", row.owner_name)
            row.owner_phone = norm.get("owner_phone", row.owner_phone)
            after = booking_from_row(row)
            if after != before:
                customer = self._customer_tx(s, row.owner_name, row.owner_phone, now)
                row.customer_id = customer.id or 0
                row.pet_id = self._pet_tx(s, row.customer_id, row.pet_name, row.pet_type, now).id or 0
                row.updated_at = now
                s.add(row)
                diff = {
                    f.name: [str(getattr(before, f.name)), str(getattr(after, f.name))]
                    for f in dataclasses.fields(Booking)
                    if getattr(before, f.name) != getattr(after, f.name)
                }
                self._audit(s, "booking.change", number, {"changed": diff})
            self._record_key_tx(s, idempotency_key, "change", number, fingerprint)
            s.flush()
            return booking_from_row(row)

        return await self.db.awrite(tx)

    async def find_bookings(
        self, *, booking_id: str | None = None, phone: str | None = None, pet_name: str | None = None
    ) -> list[Booking]:
        """By booking number, or by phone (optionally narrowed by pet name). Oldest stay first."""
        if booking_id:
            number = normalise_booking_number(booking_id)

            def by_id(s: Session) -> list[Booking]:
                row = s.get(BookingRow, number)
                ok = row is not None and row.tenant_id == self.tenant_id
                return [booking_from_row(row)] if ok and row is not None else []

            return await self.db.aread(by_id)
        if not phone:
            raise ValidationError("give a booking number or a phone number", field="owner_phone")
        e164 = rules.normalise_phone(phone, self.config.tenant.phone_region)
        wanted_pet = rules.normalise_name(pet_name, "pet_name").casefold() if pet_name else None

        def by_phone(s: Session) -> list[Booking]:
            rows = s.exec(
                select(BookingRow)
                .where(BookingRow.tenant_id == self.tenant_id, BookingRow.owner_phone == e164)
                .order_by(col(BookingRow.start_date), col(BookingRow.id))
            ).all()
            return [booking_from_row(r) for r in rows if wanted_pet is None or r.pet_name.casefold() == wanted_pet]

        return await self.db.aread(by_phone)

    async def get_booking(self, booking_id: str) -> Booking:
        return await self.db.aread(lambda s: booking_from_row(self._get_tx(s, booking_id)))

    async def list_bookings(
        self,
        *,
        status: BookingStatus | str | None = None,
        start_from: dt.date | None = None,
        start_to: dt.date | None = None,
        limit: int = 200,
    ) -> list[Booking]:
        """For the admin CLI: bookings by start date, optionally filtered."""

        def q(s: Session) -> list[Booking]:
            stmt = select(BookingRow).where(BookingRow.tenant_id == self.tenant_id)
            if status is not None:
                stmt = stmt.where(BookingRow.status == str(status))
            if start_from is not None:
                stmt = stmt.where(BookingRow.start_date >= start_from)
            if start_to is not None:
                stmt = stmt.where(BookingRow.start_date <= start_to)
            rows = s.exec(stmt.order_by(col(BookingRow.start_date), col(BookingRow.id)).limit(limit)).all()
            return [booking_from_row(r) for r in rows]

        return await self.db.aread(q)

    async def count_live(self) -> int:
        return await self.db.aread(
            lambda s: s.exec(
                select(func.count())
                .select_from(BookingRow)
                .where(BookingRow.tenant_id == self.tenant_id, col(BookingRow.status).in_(_LIVE))
            ).one()
        )

    async def aclose(self) -> None:
        if self._owns_db:
            await self.db.aclose()


__all__ = ["LocalBackend", "booking_from_row", "DateRange"]
