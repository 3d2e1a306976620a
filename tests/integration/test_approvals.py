"""bookings.require_approval: held bookings reserve capacity; staff approve or decline; holds expire."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from appliance.booking.approvals import Approvals
from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingRequest, BookingStatus
from appliance.core.control import ApiError, ErrorCode
from appliance.core.errors import Conflict, NoAvailability
from appliance.store.db import Database
from tests.support.control_harness import NOW, front_desk, make_config, recv, say

START, END = dt.date(2026, 12, 10), dt.date(2026, 12, 12)


class Clock:
    """A clock the test moves forward."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def request(i: int, pet: str = "dog") -> BookingRequest:
    return BookingRequest(f"Pet{i}", pet, START, END, "Mari Tamm", f"+372 5123 45{i:02d}")


def open_backend(tmp_path: Path, clock: Clock, **bookings: Any) -> tuple[Database, LocalBackend, Approvals]:
    cfg = make_config(tmp_path, bookings={"require_approval": True, "hold_expiry_minutes": 60, **bookings})
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    db = Database.from_config(cfg)
    backend = LocalBackend(db, cfg, clock)
    backend.sync_resources()
    return db, backend, Approvals(backend)


def test_held_blocks_capacity_approve_confirms_decline_frees(tmp_path: Path) -> None:
    clock = Clock(NOW)
    db, backend, approvals = open_backend(tmp_path, clock)

    async def go() -> None:
        held = [await backend.create_booking(request(i), f"key-{i}") for i in range(3)]  # 3 dog rooms
        assert {b.status for b in held} == {BookingStatus.HELD}
        again = await backend.create_booking(request(0), "key-0")  # idempotent as before
        assert again.id == held[0].id
        with pytest.raises(NoAvailability):
            await backend.create_booking(request(9), "key-9")
        assert [b.id for b in await approvals.held()] == [b.id for b in held]
        ok = await approvals.approve(held[0].id, actor="staff:anna")
        assert ok.changed and ok.booking.status is BookingStatus.CONFIRMED
        no = await approvals.decline(held[1].id, actor="staff:anna", note="no vaccination papers")
        assert no.changed and no.booking.status is BookingStatus.CANCELLED
        freed = await backend.create_booking(request(9), "key-9")  # the declined hold's room
        assert freed.status is BookingStatus.HELD
        with pytest.raises(Conflict):
            await approvals.decline(held[0].id, actor="staff:anna")  # confirmed: not a hold any more
        assert (await approvals.decline(held[1].id, actor="staff:bob")).changed is False

    try:
        asyncio.run(go())
    finally:
        db.close()


def test_expired_holds_free_capacity_and_cannot_be_approved(tmp_path: Path) -> None:
    clock = Clock(NOW)
    db, backend, approvals = open_backend(tmp_path, clock)

    async def go() -> None:
        held = [await backend.create_booking(request(i), f"key-{i}") for i in range(3)]
        with pytest.raises(NoAvailability):
            await backend.create_booking(request(8), "key-8")
        clock.at = NOW + dt.timedelta(minutes=61)
        av = await backend.check_availability("dog", START, END)
        assert av.available and av.free_units == 3  # expired holds no longer take rooms, even before the sweep
        with pytest.raises(Conflict) as err:
            await approvals.approve(held[0].id, actor="staff:anna")
        assert err.value.code == "hold_expired"
        expired = await approvals.expire_due()
        assert sorted(b.id for b in expired) == sorted(b.id for b in held[1:])
        for b in held:
            assert (await backend.get_booking(b.id)).status is BookingStatus.CANCELLED
        assert await approvals.expire_due() == []

    try:
        asyncio.run(go())
    finally:
        db.close()


def test_two_staff_approving_at_once_give_one_result(tmp_path: Path) -> None:
    clock = Clock(NOW)
    db, backend, approvals = open_backend(tmp_path, clock)

    async def go() -> None:
        b = await backend.create_booking(request(1), "key-1")
        results = await asyncio.gather(*(approvals.approve(b.id, actor=f"staff:{n}") for n in ("anna", "bob", "cy")))
        assert sum(r.changed for r in results) == 1
        assert {r.booking.status for r in results} == {BookingStatus.CONFIRMED}

        def audit(s: Any) -> list[Any]:
            from sqlmodel import text

            return list(s.exec(text("select actor from audit_log where action = 'booking.approve'")).all())

        assert len(await db.aread(audit)) == 1

    try:
        asyncio.run(go())
    finally:
        db.close()


def test_chat_booking_is_held_caller_told_staff_approve_over_the_api(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, bookings={"require_approval": True})

    async def go() -> None:
        async with front_desk(cfg, lambda: NOW) as desk:
            ws = await desk.chat("approval-chat-1")
            await say(ws, "I need a room for my dog Max from 10 December to 12 December")
            await say(ws, "Mari Tamm")
            await say(ws, "+372 5123 4567")
            r = await say(ws, "yes")
            assert r["booking_id"] and "staff will confirm" in r["text"].lower().replace("a member of ", "")
            held = (await desk.api.get("/bookings", status="held"))["bookings"]
            assert [b["id"] for b in held] == [r["booking_id"]] and held[0]["expires_at"]
            results = await asyncio.gather(
                desk.api.post(f"/bookings/{r['booking_id']}/approve"),
                desk.api.post(f"/bookings/{r['booking_id']}/approve"),
            )
            assert sorted(x["changed"] for x in results) == [False, True]
            assert {x["status"] for x in results} == {"confirmed"}
            told = await recv(ws)  # the caller's open chat page hears the outcome (once)
            assert told["staff"] is True and "is confirmed" in told["text"] and r["booking_id"][-2:] in told["text"]
            with pytest.raises(ApiError) as err:
                await desk.api.post(f"/bookings/{r['booking_id']}/decline")
            assert err.value.code is ErrorCode.CONFLICT
            await ws.close()

    asyncio.run(go())


@pytest.mark.parametrize("lang,text", [("et", "kinnitab"), ("ru", "подтвердит")])
def test_held_reply_in_the_callers_language(tmp_path: Path, lang: str, text: str) -> None:
    from appliance.brain.text.render import Part, Renderer

    part = Part("booking_held", {"pet_name": "Max", "start": START, "end": END, "booking_id": "AB12"})
    out, _speak, _sms = Renderer("Hotel", {}, {}).render([part], lang)
    assert text in out
