"""LocalBackend on a real SQLite file with a pinned date (Monday 2 June 2025, Tallinn)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingBackend, BookingChange, BookingRequest, BookingStatus, DateRange
from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config
from appliance.core.errors import Conflict, NoAvailability, NotFound, ValidationError
from appliance.store import Database

D = dt.date
CLOCK = fixed_clock(dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC))


def make_config(tmp_path: Path, **overrides: object) -> Config:
    return load_config(environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path)}, **overrides})


def req(**kw: object) -> BookingRequest:
    base: dict[str, object] = {
        "pet_name": "Rex",
        "pet_type": "dog",
        "start": D(2025, 6, 10),
        "end": D(2025, 6, 13),
        "owner_name": "Ann Smith",
        "owner_phone": "5123 4567",
        "channel": "web",
        "session_id": "s1",
    }
    base.update(kw)
    return BookingRequest(**base)  # type: ignore[arg-type]


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path)
    db = Database.from_config(config)
    backend = LocalBackend(db, config, CLOCK)
    backend.sync_resources()
    yield backend
    db.close()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def _audit(backend: LocalBackend, booking_id: str) -> list[str]:
    return backend.db.read(
        lambda s: [
            r[0]
            for r in s.execute(
                text("SELECT action FROM audit_log WHERE entity = 'booking' AND entity_id = :id ORDER BY id"),
                {"id": booking_id},
            )
        ]
    )


def test_is_a_booking_backend(env: LocalBackend) -> None:
    assert isinstance(env, BookingBackend)
    assert env.name == "local"


def test_create_and_get(env: LocalBackend) -> None:
    b = run(env.create_booking(req(), "k1"))
    assert len(b.id) == 6 and b.id.isdigit() and b.id[0] != "0"
    assert (b.status, b.resource_id, b.owner_phone, b.total_minor, b.currency) == (
        BookingStatus.CONFIRMED,
        "dog-room",
        "+37251234567",
        3 * 3500,
        "EUR",
    )
    assert (b.channel, b.session_id, b.idempotency_key) == ("web", "s1", "k1")
    assert run(env.get_booking(b.id)) == b
    assert run(env.get_booking(f" {b.id[:3]} {b.id[3:]} ")) == b  # as a caller might say it
    assert _audit(env, b.id) == ["booking.create"]
    with pytest.raises(NotFound):
        run(env.get_booking("999999" if b.id != "999999" else "111111"))


def test_availability_counts_free_units(env: LocalBackend) -> None:
    av = run(env.check_availability("dog", D(2025, 6, 10), D(2025, 6, 13)))
    assert (av.available, av.resource_id, av.free_units) == (True, "dog-room", 3)
    run(env.create_booking(req(start=D(2025, 6, 12), end=D(2025, 6, 14)), "k1"))
    av = run(env.check_availability("dog", D(2025, 6, 10), D(2025, 6, 13)))
    assert av.free_units == 2
    # the check-out day is free: a stay ending on the 12th does not touch the night of the 12th
    assert run(env.check_availability("dog", D(2025, 6, 10), D(2025, 6, 12))).free_units == 3
    with pytest.raises(ValidationError) as info:
        run(env.check_availability("hamster", D(2025, 6, 10), D(2025, 6, 12)))
    assert info.value.field == "pet_type"


def test_full_gives_no_availability_with_alternatives(env: LocalBackend) -> None:
    for i in range(3):
        run(env.create_booking(req(pet_name=f"Dog{i}"), f"k{i}"))
    av = run(env.check_availability("dog", D(2025, 6, 10), D(2025, 6, 13)))
    assert not av.available and av.free_units == 0 and av.resource_id is None
    assert av.alternatives == (
        DateRange(D(2025, 6, 7), D(2025, 6, 10)),
        DateRange(D(2025, 6, 13), D(2025, 6, 16)),
        DateRange(D(2025, 6, 6), D(2025, 6, 9)),
    )
    with pytest.raises(NoAvailability) as info:
        run(env.create_booking(req(pet_name="Late"), "k-late"))
    assert info.value.details["alternatives"][0] == {"start": "2025-06-07", "end": "2025-06-10"}
    assert run(env.count_live()) == 3
    # cats live elsewhere
    assert run(env.create_booking(req(pet_type="cat", pet_name="Tom"), "k-cat")).resource_id == "cat-room"


def test_idempotency_sequential_and_concurrent(env: LocalBackend) -> None:
    first = run(env.create_booking(req(), "same"))
    again = run(env.create_booking(req(owner_phone="+372 5123 4567", pet_name="rex"), "same"))
    assert again == first

    async def many() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(env.create_booking(req(pet_name="Bella"), "other") for _ in range(20)))

    results = run(many())
    assert len({b.id for b in results}) == 1
    rows = env.db.read(lambda s: s.execute(text("SELECT count(*) FROM bookings")).scalar_one())
    assert rows == 2
    with pytest.raises(Conflict):
        run(env.create_booking(req(end=D(2025, 6, 14)), "same"))
    with pytest.raises(ValidationError):
        run(env.create_booking(req(), ""))


def test_validation_errors_surface(env: LocalBackend) -> None:
    with pytest.raises(ValidationError) as info:
        run(env.create_booking(req(owner_phone="12"), "k"))
    assert info.value.field == "owner_phone"
    with pytest.raises(ValidationError) as info:
        run(env.create_booking(req(start=D(2025, 6, 1)), "k"))
    assert info.value.field == "start_date"


def test_cancel(env: LocalBackend) -> None:
    b = run(env.create_booking(req(), "k1"))
    c = run(env.cancel_booking(b.id, "c1"))
    assert c.status == BookingStatus.CANCELLED and c.id == b.id
    assert run(env.cancel_booking(b.id, "c1")) == c  # replayed key
    assert run(env.cancel_booking(b.id)) == c  # already cancelled: returned unchanged
    assert _audit(env, b.id) == ["booking.create", "booking.cancel"]
    other = run(env.create_booking(req(pet_name="Max"), "k2"))
    with pytest.raises(Conflict):
        run(env.cancel_booking(other.id, "c1"))  # key used for another booking
    with pytest.raises(NotFound):
        run(env.cancel_booking("000000"))
    # a cancelled booking frees its room
    assert run(env.check_availability("dog", D(2025, 6, 10), D(2025, 6, 13))).free_units == 2


def test_change_rechecks_capacity_excluding_itself_and_reprices(env: LocalBackend) -> None:
    a = run(env.create_booking(req(pet_name="A"), "ka"))
    run(env.create_booking(req(pet_name="B", start=D(2025, 6, 13), end=D(2025, 6, 15)), "kb"))
    run(env.create_booking(req(pet_name="C", start=D(2025, 6, 13), end=D(2025, 6, 15)), "kc"))
    run(env.create_booking(req(pet_name="D", start=D(2025, 6, 13), end=D(2025, 6, 15)), "kd"))
    run(env.create_booking(req(pet_name="E"), "ke"))
    run(env.create_booking(req(pet_name="F"), "kf"))  # 10..13 June is now full too (A, E, F)
    # extending A into the 13th: the 13th is full (B, C, D)
    with pytest.raises(NoAvailability):
        run(env.change_booking(a.id, BookingChange(end=D(2025, 6, 14)), "ch0"))
    # shifting A inside its own (full) nights only competes with itself: A is left out of the count
    moved = run(env.change_booking(a.id, BookingChange(start=D(2025, 6, 11), end=D(2025, 6, 13)), "ch1"))
    assert (moved.start, moved.end, moved.total_minor) == (D(2025, 6, 11), D(2025, 6, 13), 2 * 3500)
    assert run(env.change_booking(a.id, BookingChange(start=D(2025, 6, 11), end=D(2025, 6, 13)), "ch1")) == moved
    with pytest.raises(Conflict):
        run(env.change_booking(a.id, BookingChange(start=D(2025, 6, 12)), "ch1"))
    renamed = run(env.change_booking(a.id, BookingChange(owner_name="Ann Jones", owner_phone="5999 9999"), "ch2"))
    assert (renamed.owner_name, renamed.owner_phone) == ("Ann Jones", "+37259999999")
    assert renamed.total_minor == moved.total_minor
    with pytest.raises(ValidationError) as info:
        run(env.change_booking(a.id, BookingChange(start=D(2025, 6, 1)), "ch3"))
    assert info.value.field == "start_date"
    weekend = run(env.change_booking(a.id, BookingChange(start=D(2025, 6, 6), end=D(2025, 6, 9)), "ch4"))
    assert weekend.total_minor == 3 * 3500 + 2 * 500
    assert _audit(env, a.id) == ["booking.create", "booking.change", "booking.change", "booking.change"]
    changes = env.db.read(
        lambda s: s.execute(
            text("SELECT details FROM audit_log WHERE action = 'booking.change' ORDER BY id LIMIT 1")
        ).scalar_one()
    )
    assert json.loads(changes)["changed"]["start"] == ["2025-06-10", "2025-06-11"]
    run(env.cancel_booking(a.id))
    with pytest.raises(Conflict):
        run(env.change_booking(a.id, BookingChange(pet_name="Z"), "ch5"))
    assert env.db.check().ok


def test_find(env: LocalBackend) -> None:
    rex = run(env.create_booking(req(), "k1"))
    bella = run(env.create_booking(req(pet_name="Bella", start=D(2025, 6, 20), end=D(2025, 6, 22)), "k2"))
    run(env.create_booking(req(owner_phone="+37255555555", pet_name="Rex"), "k3"))
    assert run(env.find_bookings(booking_id=rex.id)) == [rex]
    assert run(env.find_bookings(booking_id="000000")) == []
    assert run(env.find_bookings(phone="+372 5123 4567")) == [rex, bella]
    assert run(env.find_bookings(phone="51234567", pet_name="  BELLA ")) == [bella]
    with pytest.raises(ValidationError):
        run(env.find_bookings(pet_name="Rex"))
    listed = run(env.list_bookings(status="confirmed"))
    assert len(listed) == 3 and listed[-1] == bella


def test_quote_price(env: LocalBackend) -> None:
    q = run(env.quote_price("Dog", D(2025, 6, 6), D(2025, 6, 9)))
    assert q.total_minor == 3 * 3500 + 2 * 500
    with pytest.raises(ValidationError):
        run(env.quote_price("dog", D(2025, 6, 9), D(2025, 6, 6)))


def test_resources_sync_follows_config(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = Database.from_config(config)
    try:
        LocalBackend(db, config, CLOCK).sync_resources()
        b = run(LocalBackend(db, config, CLOCK).create_booking(req(pet_type="cat", pet_name="Tom"), "k1"))
        fewer = make_config(
            tmp_path,
            resources=[{"id": "dog-room", "name": {"en": "dog room"}, "pet_types": ["dog"], "capacity": 1}],
            tenant={"pet_types": ["dog"]},
            pricing={"rules": [{"pet_type": "dog", "per_night": "40"}]},
        )
        LocalBackend(db, fewer, CLOCK).sync_resources()
        rows = db.read(lambda s: s.execute(text("SELECT id, capacity, active FROM resources ORDER BY id")).all())
        assert rows == [("cat-room", 5, 0), ("dog-room", 1, 1)]
        assert db.check().ok  # the old cat booking still points at a (now inactive) resource
        assert run(LocalBackend(db, fewer, CLOCK).get_booking(b.id)).resource_id == "cat-room"
    finally:
        db.close()


def test_check_finds_capacity_exceeded(env: LocalBackend) -> None:
    for i in range(3):
        run(env.create_booking(req(pet_name=f"Dog{i}"), f"k{i}"))
    env.db.write(lambda s: s.execute(text("UPDATE resources SET capacity = 2 WHERE id = 'dog-room'")))
    report = env.db.check()
    assert not report.ok
    assert any("capacity 2" in p for p in report.problems)


def test_open_owns_its_database(tmp_path: Path) -> None:
    backend = LocalBackend.open(make_config(tmp_path), CLOCK)
    b = run(backend.create_booking(req(), "k1"))
    run(backend.aclose())
    again = LocalBackend.open(make_config(tmp_path), CLOCK)
    assert run(again.get_booking(b.id)) == b
    run(again.aclose())
