"""Booking domain types and the backend contract.

Every booking backend (the local SQLite one, an HTTP one for a business's
existing system) implements :class:`BookingBackend`. Money is integer minor
units (cents) everywhere; dates are ``datetime.date``; a stay occupies the
nights ``[start, end)`` (``end`` is the check-out day).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class BookingStatus(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DateRange:
    start: dt.date
    end: dt.date

    @property
    def nights(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class Availability:
    pet_type: str
    start: dt.date
    end: dt.date
    available: bool
    resource_id: str | None = None  # the room kind that would be used
    free_units: int = 0  # rooms free on every night of the range
    alternatives: tuple[DateRange, ...] = ()  # nearest free ranges of the same length


@dataclass(frozen=True, slots=True)
class QuoteLine:
    code: str  # "nights" or a surcharge id
    quantity: int
    unit_minor: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class Quote:
    pet_type: str
    start: dt.date
    end: dt.date
    nights: int
    currency: str
    total_minor: int
    lines: tuple[QuoteLine, ...] = ()


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What the brain has collected. Normalised and validated by the domain rules."""

    pet_name: str
    pet_type: str
    start: dt.date
    end: dt.date
    owner_name: str
    owner_phone: str  # raw or E.164; normalised with the tenant's region
    channel: str = "cli"
    session_id: str | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Booking:
    id: str  # the booking number read back to the customer
    tenant_id: str
    resource_id: str
    pet_name: str
    pet_type: str
    start: dt.date
    end: dt.date
    owner_name: str
    owner_phone: str  # E.164
    status: BookingStatus
    total_minor: int
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime
    channel: str = "cli"
    session_id: str | None = None
    idempotency_key: str | None = None
    notes: str = ""

    @property
    def nights(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class BookingChange:
    """Fields to change on an existing booking; ``None`` keeps the current value."""

    start: dt.date | None = None
    end: dt.date | None = None
    pet_name: str | None = None
    pet_type: str | None = None
    owner_name: str | None = None
    owner_phone: str | None = None


@runtime_checkable
class BookingBackend(Protocol):
    """The storage contract behind the booking tools.

    Implementations raise errors from :mod:`appliance.core.errors`:
    ``ValidationError``/``NoAvailability``/``NotFound``/``Conflict`` (client
    errors, never retried) and ``BackendUnavailable``/``BackendTimeout``
    (transient, retried by the executor). ``create_booking`` and
    ``change_booking`` are idempotent on ``idempotency_key``: the same key
    returns the same booking and never makes a second one.
    """

    name: str

    async def check_availability(self, pet_type: str, start: dt.date, end: dt.date) -> Availability: ...

    async def quote_price(self, pet_type: str, start: dt.date, end: dt.date) -> Quote: ...

    async def create_booking(self, request: BookingRequest, idempotency_key: str) -> Booking: ...

    async def cancel_booking(self, booking_id: str, idempotency_key: str | None = None) -> Booking: ...

    async def change_booking(self, booking_id: str, change: BookingChange, idempotency_key: str) -> Booking: ...

    async def find_bookings(
        self, *, booking_id: str | None = None, phone: str | None = None, pet_name: str | None = None
    ) -> list[Booking]: ...

    async def get_booking(self, booking_id: str) -> Booking: ...

    async def aclose(self) -> None: ...
