"""The booking rules, table-driven: validation, phone normalisation, pricing, alternatives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from appliance.booking import rules
from appliance.booking.types import BookingRequest, DateRange
from appliance.core.config import Config, load_config
from appliance.core.errors import ValidationError

TODAY = dt.date(2025, 6, 2)  # a Monday
D = dt.date


def cfg(**overrides: object) -> Config:
    return load_config(environ={}, use_system=False, overrides=overrides or None)


CONFIG = cfg()


def req(**kw: object) -> BookingRequest:
    base: dict[str, object] = {
        "pet_name": "Rex",
        "pet_type": "dog",
        "start": D(2025, 6, 10),
        "end": D(2025, 6, 13),
        "owner_name": "Ann Smith",
        "owner_phone": "5123 4567",
    }
    base.update(kw)
    return BookingRequest(**base)  # type: ignore[arg-type]


# --- validation ---------------------------------------------------------------

INVALID = [
    ("past start", {"start": D(2025, 6, 1), "end": D(2025, 6, 3)}, "start_date"),
    ("end before start", {"start": D(2025, 6, 10), "end": D(2025, 6, 9)}, "end_date"),
    ("zero nights", {"start": D(2025, 6, 10), "end": D(2025, 6, 10)}, "end_date"),
    ("too long", {"start": D(2025, 6, 10), "end": D(2025, 7, 11)}, "end_date"),
    ("too far ahead", {"start": D(2026, 6, 3), "end": D(2026, 6, 5)}, "start_date"),
    ("unknown pet type", {"pet_type": "parrot"}, "pet_type"),
    ("empty pet type", {"pet_type": "  "}, "pet_type"),
    ("empty pet name", {"pet_name": "   "}, "pet_name"),
    ("long pet name", {"pet_name": "x" * 81}, "pet_name"),
    ("control chars in name", {"owner_name": "Ann\x00"}, "owner_name"),
    ("empty owner name", {"owner_name": ""}, "owner_name"),
    ("bad phone letters", {"owner_phone": "call me"}, "owner_phone"),
    ("bad phone too short", {"owner_phone": "123"}, "owner_phone"),
    ("empty phone", {"owner_phone": ""}, "owner_phone"),
    ("invalid number for region", {"owner_phone": "+372 1234"}, "owner_phone"),
]


@pytest.mark.parametrize(("label", "changes", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_requests_name_the_slot(label: str, changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        rules.validate_request(req(**changes), CONFIG, TODAY)
    assert info.value.field == field, label
    assert info.value.details["field"] == field
    assert info.value.retryable is False


def test_today_is_a_valid_start_and_max_stay_is_allowed() -> None:
    out = rules.validate_request(req(start=TODAY, end=TODAY + dt.timedelta(days=30)), CONFIG, TODAY)
    assert out.start == TODAY


def test_min_lead_days_and_max_advance() -> None:
    config = cfg(booking={"min_lead_days": 2, "max_advance_days": 10})
    with pytest.raises(ValidationError) as info:
        rules.validate_request(req(start=D(2025, 6, 3), end=D(2025, 6, 5)), config, TODAY)
    assert info.value.field == "start_date" and info.value.details["earliest"] == "2025-06-04"
    rules.validate_request(req(start=D(2025, 6, 4), end=D(2025, 6, 5)), config, TODAY)
    rules.validate_request(req(start=D(2025, 6, 12), end=D(2025, 6, 13)), config, TODAY)
    with pytest.raises(ValidationError):
        rules.validate_request(req(start=D(2025, 6, 13), end=D(2025, 6, 14)), config, TODAY)


def test_pet_type_needs_a_resource() -> None:
    config = cfg(
        tenant={"pet_types": ["dog", "cat", "rabbit"]},
        pricing={"rules": [{"pet_type": p, "per_night": "10"} for p in ("dog", "cat", "rabbit")]},
    )
    with pytest.raises(ValidationError) as info:
        rules.validate_request(req(pet_type="rabbit"), config, TODAY)
    assert info.value.field == "pet_type"
    assert info.value.details["offered"] == ["dog", "cat"]


def test_request_is_normalised() -> None:
    out = rules.validate_request(
        req(pet_name="  Rex  the   dog ", pet_type=" DOG ", owner_name=" Ann   Smith ", owner_phone="5123 4567"),
        CONFIG,
        TODAY,
    )
    assert (out.pet_name, out.pet_type, out.owner_name, out.owner_phone) == (
        "Rex the dog",
        "dog",
        "Ann Smith",
        "+37251234567",
    )


PHONES = [
    ("5123 4567", "EE", "+37251234567"),
    ("+372 5123 4567", "EE", "+37251234567"),
    ("00372 5123 4567", "EE", "+37251234567"),
    ("tel:+37251234567", "EE", "+37251234567"),
    ("(020) 7946 0958", "GB", "+442079460958"),
    ("+1 415-555-2671", "EE", "+14155552671"),
    ("8 (912) 345-67-89", "RU", "+79123456789"),
]


@pytest.mark.parametrize(("raw", "region", "e164"), PHONES)
def test_phone_normalisation(raw: str, region: str, e164: str) -> None:
    assert rules.normalise_phone(raw, region) == e164


def test_fingerprint_ignores_case_of_names_but_not_dates() -> None:
    a = rules.validate_request(req(), CONFIG, TODAY)
    b = rules.validate_request(req(pet_name="rex", owner_phone="+37251234567"), CONFIG, TODAY)
    c = rules.validate_request(req(end=D(2025, 6, 14)), CONFIG, TODAY)
    assert rules.request_fingerprint(a) == rules.request_fingerprint(b)
    assert rules.request_fingerprint(a) != rules.request_fingerprint(c)


# --- pricing ------------------------------------------------------------------

PRICES = [
    # (pet, start, end, total_minor, {line code: quantity})
    ("dog", D(2025, 6, 2), D(2025, 6, 5), 3 * 3500, {"nights": 3}),  # Mon-Thu: no weekend night
    ("dog", D(2025, 6, 6), D(2025, 6, 9), 3 * 3500 + 2 * 500, {"nights": 3, "weekend": 2}),  # Fri, Sat nights
    ("cat", D(2025, 6, 5), D(2025, 6, 8), 3 * 2500 + 2 * 500, {"nights": 3, "weekend": 2}),  # Thu, Fri, Sat
    ("cat", D(2025, 6, 8), D(2025, 6, 9), 2500, {"nights": 1}),  # Sunday night is not a weekend night
    ("dog", D(2025, 6, 2), D(2025, 6, 16), 14 * 3500 + 4 * 500, {"nights": 14, "weekend": 4}),
]


@pytest.mark.parametrize(("pet", "start", "end", "total", "lines"), PRICES)
def test_quote_with_weekend_surcharge(
    pet: str, start: dt.date, end: dt.date, total: int, lines: dict[str, int]
) -> None:
    q = rules.quote(pet, start, end, CONFIG)
    assert q.total_minor == total
    assert q.currency == "EUR"
    assert q.nights == (end - start).days
    assert {line.code: line.quantity for line in q.lines} == lines
    assert sum(line.total_minor for line in q.lines) == q.total_minor
    assert all(line.total_minor == line.quantity * line.unit_minor for line in q.lines)


def test_quote_date_range_per_stay_and_pet_filter() -> None:
    config = cfg(
        pricing={
            "rules": [{"pet_type": "dog", "per_night": "35.005"}, {"pet_type": "cat", "per_night": "25"}],
            "surcharges": [
                {"id": "summer", "name": {"en": "summer"}, "kind": "date_range", "amount": "2.50",
                 "start": "2025-06-08", "end": "2025-06-09"},
                {"id": "bath", "name": {"en": "bath"}, "kind": "per_stay", "amount": "10", "pet_types": ["dog"]},
            ],
        }
    )  # fmt: skip
    q = rules.quote("dog", D(2025, 6, 6), D(2025, 6, 10), config)  # nights 6, 7, 8, 9
    assert {line.code: (line.quantity, line.unit_minor) for line in q.lines} == {
        "nights": (4, 3501),  # 35.005 rounds half up to 3501 cents
        "summer": (2, 250),  # the nights of the 8th and 9th (range ends inclusive)
        "bath": (1, 1000),
    }
    assert q.total_minor == 4 * 3501 + 2 * 250 + 1000
    cat = rules.quote("cat", D(2025, 6, 6), D(2025, 6, 10), config)
    assert {line.code for line in cat.lines} == {"nights", "summer"}


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("35.00"), "EUR", 3500),
        (Decimal("0.015"), "EUR", 2),
        (Decimal("1500"), "JPY", 1500),
        (Decimal("1.2345"), "KWD", 1235),
    ],
)
def test_to_minor(amount: Decimal, currency: str, minor: int) -> None:
    assert rules.to_minor(amount, currency) == minor


# --- alternatives ---------------------------------------------------------------


def _free_except(*busy_nights: dt.date):  # type: ignore[no-untyped-def]
    busy = set(busy_nights)
    return lambda s, e: not any(n in busy for n in rules.stay_nights(s, e))


def test_alternatives_are_nearest_first_and_same_length() -> None:
    # Nights 10..12 June are full: a 3-night stay from the 10th must move.
    is_free = _free_except(D(2025, 6, 10), D(2025, 6, 11), D(2025, 6, 12))
    alts = rules.alternatives(is_free, D(2025, 6, 10), D(2025, 6, 13), CONFIG, TODAY)
    assert alts == (
        DateRange(D(2025, 6, 7), D(2025, 6, 10)),  # 3 days earlier
        DateRange(D(2025, 6, 13), D(2025, 6, 16)),  # 3 days later
        DateRange(D(2025, 6, 6), D(2025, 6, 9)),  # 4 days earlier
    )
    assert all(a.nights == 3 for a in alts)


def test_alternatives_never_in_the_past_and_within_search_window() -> None:
    is_free = _free_except(*(D(2025, 6, 2) + dt.timedelta(days=i) for i in range(6)))  # 2..7 June full
    alts = rules.alternatives(is_free, D(2025, 6, 3), D(2025, 6, 5), CONFIG, TODAY)
    assert alts[0] == DateRange(D(2025, 6, 8), D(2025, 6, 10))
    assert all(a.start >= TODAY for a in alts)
    narrow = cfg(booking={"alternatives_search_days": 3})
    assert rules.alternatives(is_free, D(2025, 6, 3), D(2025, 6, 5), narrow, TODAY) == ()


def test_occupancy_and_free_units() -> None:
    used = rules.occupancy([(D(2025, 6, 1), D(2025, 6, 3)), (D(2025, 6, 2), D(2025, 6, 4))])
    assert used == {D(2025, 6, 1): 1, D(2025, 6, 2): 2, D(2025, 6, 3): 1}
    assert rules.free_units(3, used, D(2025, 6, 1), D(2025, 6, 4)) == 1
    assert rules.free_units(3, used, D(2025, 6, 4), D(2025, 6, 6)) == 3
