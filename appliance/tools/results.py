"""What the tools return: typed values the dialogue uses as they are.

``Availability``, ``Quote`` and ``Booking`` come from the booking domain, ``CallbackTicket``
from core; the two shapes only the tools make are here. :func:`to_plain` is the one
conversion to JSON-able dicts, used only where a result leaves the process (the
``Action`` a reply carries to the web page, the API and the logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.booking.serialize import (
    availability_to_dict,
    booking_to_dict,
    date_range_from_dict,
    jsonable,
    quote_to_dict,
)
from appliance.booking.types import Availability, Booking, DateRange, Quote
from appliance.core.tickets import CallbackTicket


@dataclass(frozen=True, slots=True)
class FoundBookings:
    """``find_bookings``: every booking that matched (cancelled ones included)."""

    bookings: tuple[Booking, ...] = ()


@dataclass(frozen=True, slots=True)
class Transfer:
    """``transfer_to_staff``: the extension a call goes to (voice), or the ticket staff call back on."""

    transfer_to: str | None
    reason: str
    ticket_id: int | None = None


ToolValue = Availability | Quote | Booking | FoundBookings | CallbackTicket | Transfer


def to_plain(value: Any) -> Any:
    """A tool's value as plain data for the LLM, web and API boundaries."""
    if isinstance(value, Availability):
        return availability_to_dict(value)
    if isinstance(value, Quote):
        return quote_to_dict(value)
    if isinstance(value, Booking):
        return booking_to_dict(value)
    if isinstance(value, FoundBookings):
        return {"count": len(value.bookings), "bookings": [booking_to_dict(b) for b in value.bookings]}
    if isinstance(value, CallbackTicket):
        return {"ticket_id": value.id, "phone": value.phone, "name": value.name, "reason": value.reason}
    if isinstance(value, Transfer):
        return {"transfer_to": value.transfer_to, "reason": value.reason, "ticket_id": value.ticket_id}
    return jsonable(value)


def alternatives_of(details: dict[str, Any]) -> tuple[DateRange, ...]:
    """The nearby free ranges a ``no_availability`` error carries, typed (backends send ISO dicts)."""
    out: list[DateRange] = []
    for item in details.get("alternatives") or ():
        if isinstance(item, DateRange):
            out.append(item)
        elif isinstance(item, dict):
            try:
                out.append(date_range_from_dict(item))
            except (KeyError, TypeError, ValueError):
                continue  # a malformed alternative from a remote backend is skipped, not fatal
    return tuple(out)
