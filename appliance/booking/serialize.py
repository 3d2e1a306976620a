"""Domain objects -> plain JSON-able dicts (ISO dates, integer minor units).

Used for tool results (what the brain and the LLM see) and by the HTTP backend
contract (``docs/HTTP_BACKEND.md``), so both speak the same shapes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from appliance.booking.types import (
    Availability,
    Booking,
    BookingChange,
    BookingRequest,
    BookingStatus,
    DateRange,
    Quote,
    QuoteLine,
)
from appliance.core.messages import to_dict


def date_range_to_dict(r: DateRange) -> dict[str, Any]:
    return {"start": r.start.isoformat(), "end": r.end.isoformat(), "nights": r.nights}


def availability_to_dict(a: Availability) -> dict[str, Any]:
    out = to_dict(a)
    out["nights"] = (a.end - a.start).days
    out["alternatives"] = [date_range_to_dict(r) for r in a.alternatives]
    return out


def quote_to_dict(q: Quote) -> dict[str, Any]:
    return to_dict(q)


def booking_to_dict(b: Booking) -> dict[str, Any]:
    out = to_dict(b)
    out["nights"] = b.nights
    return out


def request_to_dict(r: BookingRequest) -> dict[str, Any]:
    return to_dict(r)


def change_to_dict(c: BookingChange) -> dict[str, Any]:
    """Only the fields that change."""
    return {k: v for k, v in to_dict(c).items() if v is not None}


# --- the reverse direction (HTTP backend answers) ------------------------------


def _date(data: dict[str, Any], key: str) -> dt.date:
    return dt.date.fromisoformat(str(data[key]))


def _datetime(value: Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def date_range_from_dict(d: dict[str, Any]) -> DateRange:
    return DateRange(_date(d, "start"), _date(d, "end"))


def availability_from_dict(d: dict[str, Any]) -> Availability:
    return Availability(
        pet_type=str(d["pet_type"]),
        start=_date(d, "start"),
        end=_date(d, "end"),
        available=bool(d["available"]),
        resource_id=d.get("resource_id"),
        free_units=int(d.get("free_units") or 0),
        alternatives=tuple(date_range_from_dict(r) for r in d.get("alternatives") or ()),
    )


def quote_from_dict(d: dict[str, Any]) -> Quote:
    return Quote(
        pet_type=str(d["pet_type"]),
        start=_date(d, "start"),
        end=_date(d, "end"),
        nights=int(d["nights"]),
        currency=str(d["currency"]),
        total_minor=int(d["total_minor"]),
        lines=tuple(
            QuoteLine(str(x["code"]), int(x["quantity"]), int(x["unit_minor"]), int(x["total_minor"]))
            for x in d.get("lines") or ()
        ),
    )


def booking_from_dict(d: dict[str, Any]) -> Booking:
    return Booking(
        id=str(d["id"]),
        tenant_id=str(d.get("tenant_id") or ""),
        resource_id=str(d.get("resource_id") or ""),
        pet_name=str(d["pet_name"]),
        pet_type=str(d["pet_type"]),
        start=_date(d, "start"),
        end=_date(d, "end"),
        owner_name=str(d["owner_name"]),
        owner_phone=str(d["owner_phone"]),
        status=BookingStatus(d["status"]),
        total_minor=int(d["total_minor"]),
        currency=str(d["currency"]),
        created_at=_datetime(d["created_at"]),
        updated_at=_datetime(d.get("updated_at") or d["created_at"]),
        channel=str(d.get("channel") or "cli"),
        session_id=d.get("session_id"),
        idempotency_key=d.get("idempotency_key"),
        notes=str(d.get("notes") or ""),
    )


def jsonable(value: Any) -> Any:
    """Arguments and results as plain data (dates as ISO strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return to_dict(value)
    return value
