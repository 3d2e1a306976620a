"""The booking rules: the one place that decides what a valid booking is and what it costs.

Pure and deterministic: no I/O, no clock (``today`` is the tenant-local date,
passed in). Every rejection is a :class:`ValidationError` whose ``field`` names
the brain's slot (``pet_name``, ``pet_type``, ``start_date``, ``end_date``,
``owner_name``, ``owner_phone``) so the brain knows what to ask again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal

import phonenumbers

from appliance.booking.types import BookingRequest, DateRange, Quote, QuoteLine
from appliance.core.config import Config, Surcharge
from appliance.core.errors import ValidationError

MAX_NAME_CHARS = 80
MAX_NOTES_CHARS = 1000
MAX_ALTERNATIVES = 3

# ISO 4217 minor-unit exponents that are not 2 (the common ones).
_EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}
_WEEKEND_NIGHTS = (4, 5)  # the nights of Friday and Saturday
_SPACE_RE = re.compile(r"\s+")


# --- single fields -----------------------------------------------------------


def normalise_name(raw: str | None, field: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    """Trim, collapse whitespace, NFC-normalise; reject empty, too long or control characters."""
    text = _SPACE_RE.sub(" ", unicodedata.normalize("NFC", raw or "")).strip()
    label = field.replace("_", " ")
    if not text:
        raise ValidationError(f"{label} is empty", field=field)
    if len(text) > max_chars:
        raise ValidationError(f"{label} is longer than {max_chars} characters", field=field)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise ValidationError(f"{label} contains control characters", field=field)
    return text


def normalise_phone(raw: str | None, region: str) -> str:
    """Return the number in E.164 (``"5123 4567"``, EE -> ``"+37251234567"``) or raise."""
    text = (raw or "").strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text:
        raise ValidationError("phone number is empty", field="owner_phone")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"not a phone number: {raw!r}", field="owner_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"not a valid phone number: {raw!r}", field="owner_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_pet_type(raw: str | None, config: Config) -> str:
    """A pet type this tenant offers (listed in ``tenant.pet_types`` and served by some resource)."""
    pet_type = (raw or "").strip().lower()
    if not pet_type:
        raise ValidationError("pet type is empty", field="pet_type")
    if pet_type not in config.tenant.pet_types or not config.resources_for(pet_type):
        offered = [p for p in config.tenant.pet_types if config.resources_for(p)]
        raise ValidationError(
            f"we do not take {pet_type!r} (we take: {', '.join(offered) or 'none'})",
            field="pet_type",
            details={"offered": offered},
        )
    return pet_type


def validate_dates(start: dt.date, end: dt.date, config: Config, today: dt.date) -> None:
    """Start in [today + min_lead_days, today + max_advance_days]; 1..max_stay_nights nights."""
    rules = config.booking
    earliest = today + dt.timedelta(days=rules.min_lead_days)
    if start < earliest:
        if start < today:
            msg = f"start date {start} is in the past"
        else:
            msg = f"start date {start} is too soon (earliest {earliest})"
        raise ValidationError(msg, field="start_date", details={"earliest": earliest.isoformat()})
    latest = today + dt.timedelta(days=rules.max_advance_days)
    if start > latest:
        raise ValidationError(
            f"start date {start} is too far ahead (latest {latest})",
            field="start_date",
            details={"latest": latest.isoformat()},
        )
    if end <= start:
        raise ValidationError(f"end date {end} is not after start date {start}", field="end_date")
    nights = (end - start).days
    if nights > rules.max_stay_nights:
        raise ValidationError(
            f"{nights} nights is longer than the maximum stay of {rules.max_stay_nights}",
            field="end_date",
            details={"max_stay_nights": rules.max_stay_nights},
        )


def validate_range(pet_type: str, start: dt.date, end: dt.date, config: Config, today: dt.date) -> str:
    """Validate an availability or price question; return the normalised pet type."""
    pet = normalise_pet_type(pet_type, config)
    validate_dates(start, end, config, today)
    return pet


def validate_request(request: BookingRequest, config: Config, today: dt.date) -> BookingRequest:
    """Validate every field and return a normalised copy (names trimmed, phone in E.164)."""
    pet_name = normalise_name(request.pet_name, "pet_name")
    pet_type = normalise_pet_type(request.pet_type, config)
    validate_dates(request.start, request.end, config, today)
    owner_name = normalise_name(request.owner_name, "owner_name")
    owner_phone = normalise_phone(request.owner_phone, config.tenant.phone_region)
    notes = (request.notes or "").strip()
    if len(notes) > MAX_NOTES_CHARS:
        raise ValidationError(f"notes are longer than {MAX_NOTES_CHARS} characters", field="notes")
    return dataclasses.replace(
        request, pet_name=pet_name, pet_type=pet_type, owner_name=owner_name, owner_phone=owner_phone, notes=notes
    )


def request_fingerprint(request: BookingRequest) -> str:
    """A stable hash of what a (normalised) request asks for, to compare idempotent retries."""
    data = {
        "pet_name": request.pet_name.casefold(),
        "pet_type": request.pet_type,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "owner_name": request.owner_name.casefold(),
        "owner_phone": request.owner_phone,
        "notes": request.notes,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# --- money -------------------------------------------------------------------


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal major units -> integer minor units (half up)."""
    exp = _EXPONENTS.get(currency, 2)
    return int((Decimal(amount) * (Decimal(10) ** exp)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stay_nights(start: dt.date, end: dt.date) -> list[dt.date]:
    """The nights of a stay ``[start, end)``, each named by its date."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def _surcharge_quantity(s: Surcharge, nights: list[dt.date]) -> int:
    if s.kind == "weekend_night":
        return sum(1 for n in nights if n.weekday() in _WEEKEND_NIGHTS)
    if s.kind == "date_range":  # nights whose date lies in [s.start, s.end], both inclusive; open ends allowed
        return sum(1 for n in nights if (s.start is None or n >= s.start) and (s.end is None or n <= s.end))
    if s.kind == "per_stay":
        return 1 if nights else 0
    raise ValueError(f"unknown surcharge kind {s.kind!r}")


def quote(pet_type: str, start: dt.date, end: dt.date, config: Config) -> Quote:
    """Price a stay: nights x per-night rate for the pet type, plus matching surcharges."""
    currency = config.tenant.currency
    rule = next((r for r in config.pricing.rules if r.pet_type == pet_type), None)
    if rule is None:
        raise ValidationError(f"no price for pet type {pet_type!r}", field="pet_type")
    nights = stay_nights(start, end)
    unit = to_minor(rule.per_night, currency)
    lines = [QuoteLine(code="nights", quantity=len(nights), unit_minor=unit, total_minor=unit * len(nights))]
    for s in config.pricing.surcharges:
        if s.pet_types and pet_type not in s.pet_types:
            continue
        qty = _surcharge_quantity(s, nights)
        if qty:
            amount = to_minor(s.amount, currency)
            lines.append(QuoteLine(code=s.id, quantity=qty, unit_minor=amount, total_minor=amount * qty))
    return Quote(
        pet_type=pet_type,
        start=start,
        end=end,
        nights=len(nights),
        currency=currency,
        total_minor=sum(line.total_minor for line in lines),
        lines=tuple(lines),
    )


# --- availability ------------------------------------------------------------


def free_units(capacity: int, used_per_night: dict[dt.date, int], start: dt.date, end: dt.date) -> int:
    """Units of one resource free on every night of ``[start, end)``."""
    return min((capacity - used_per_night.get(n, 0) for n in stay_nights(start, end)), default=capacity)


def alternatives(
    is_free: Callable[[dt.date, dt.date], bool],
    start: dt.date,
    end: dt.date,
    config: Config,
    today: dt.date,
    *,
    limit: int = MAX_ALTERNATIVES,
) -> tuple[DateRange, ...]:
    """The nearest free ranges of the same length, within ``alternatives_search_days``.

    Shifts of 1, 2, ... days later and earlier are tried; a tie in distance goes
    to the earlier range. Ranges starting before the earliest allowed start
    (today + min_lead_days) or after the latest (today + max_advance_days) are skipped.
    """
    length = dt.timedelta(days=(end - start).days)
    earliest = today + dt.timedelta(days=config.booking.min_lead_days)
    latest = today + dt.timedelta(days=config.booking.max_advance_days)
    found: list[DateRange] = []
    for shift in range(1, config.booking.alternatives_search_days + 1):
        for delta in (-shift, shift):
            s = start + dt.timedelta(days=delta)
            if s < earliest or s > latest:
                continue
            if is_free(s, s + length):
                found.append(DateRange(s, s + length))
                if len(found) >= limit:
                    return tuple(found)
    return tuple(found)


def search_window(start: dt.date, end: dt.date, config: Config) -> tuple[dt.date, dt.date]:
    """The nights an alternatives search may look at (to load occupancy once)."""
    pad = dt.timedelta(days=config.booking.alternatives_search_days)
    return start - pad, end + pad


def occupancy(stays: Iterable[tuple[dt.date, dt.date]]) -> dict[dt.date, int]:
    """Count how many of ``stays`` occupy each night."""
    used: dict[dt.date, int] = {}
    for s, e in stays:
        for n in stay_nights(s, e):
            used[n] = used.get(n, 0) + 1
    return used
