"""Booking texts over a booking's life, on a real SQLite store and the real brain (the recorder
transport of ``test_sms_outbox`` is the one seam): a change is confirmed and reminded on the
new date, never the old one; a booking that is gone (erased) gets no reminder."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import text

from appliance.booking.serialize import booking_to_dict
from appliance.booking.types import BookingChange, BookingRequest
from appliance.core.messages import Event, EventType
from appliance.privacy.erase import erase
from appliance.privacy.find import subject_for_phone
from appliance.store.outbox import OutboxStatus
from tests.integration.test_sms_outbox import PHONE, Clock, _setup, config

OTHER = "+37255551234"


def test_a_changed_booking_is_confirmed_and_reminded_on_the_new_date_only(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path, confirm_other_channels=True)

    async def run() -> tuple[list[tuple[str, str]], list[Any]]:
        brain, sms, rec, bus = await _setup(cfg, clock)
        try:
            req = BookingRequest("Tom", "cat", dt.date(2026, 12, 10), dt.date(2026, 12, 12), "Mari Tamm", PHONE)
            b = await brain.backend.create_booking(req, "sms-change-1")
            bus.publish(Event(EventType.BOOKING_CREATED, {**booking_to_dict(b), "channel": "web"}))
            await sms.texts.drain()
            change = BookingChange(start=dt.date(2026, 12, 15), end=dt.date(2026, 12, 17))
            changed = await brain.backend.change_booking(b.id, change, "sms-change-2")
            for _ in range(2):  # seen twice: one change text
                bus.publish(Event(EventType.BOOKING_CHANGED, {**booking_to_dict(changed), "channel": "web"}))
            await sms.texts.drain()
            await sms.service.flush()
            clock.now = dt.datetime(2026, 12, 9, 11, 0, tzinfo=dt.UTC)  # the old date's reminder is due
            await sms.service.flush()
            assert not [t for _, t in rec.sent if "a reminder" in t]
            clock.now = dt.datetime(2026, 12, 14, 11, 0, tzinfo=dt.UTC)  # the new date's
            await sms.service.flush()
            await sms.service.flush()
            return rec.sent, await sms.service.outbox.list()
        finally:
            await brain.aclose()

    sent, rows = asyncio.run(run())
    texts = [t for _, t in sent]
    assert len([t for t in texts if "is confirmed" in t]) == 1, texts
    changes = [t for t in texts if "is changed" in t]
    assert len(changes) == 1 and "15" in changes[0] and "17" in changes[0], texts
    reminders = [t for t in texts if "a reminder" in t]
    assert len(reminders) == 1 and "15" in reminders[0], texts
    by_key = {r.idempotency_key.rsplit(":", 1)[-1]: r for r in rows if r.kind == "reminder"}
    assert (by_key["2026-12-10"].status, by_key["2026-12-10"].last_error) == (OutboxStatus.SKIPPED, "booking_changed")
    assert by_key["2026-12-15"].status is OutboxStatus.SENT


def test_a_booking_that_is_gone_gets_no_reminder(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path, confirm_other_channels=True)

    async def run() -> tuple[list[tuple[str, str]], list[Any]]:
        brain, sms, rec, _bus = await _setup(cfg, clock)
        try:
            gone = await brain.backend.create_booking(
                BookingRequest("Tom", "cat", dt.date(2026, 12, 10), dt.date(2026, 12, 12), "Jaan Kask", OTHER), "g-1"
            )
            erased = await brain.backend.create_booking(
                BookingRequest("Miu", "cat", dt.date(2026, 12, 10), dt.date(2026, 12, 12), "Mari Tamm", PHONE), "e-1"
            )
            for b in (gone, erased):
                await sms.texts.booking_event(EventType.BOOKING_CREATED, {**booking_to_dict(b), "channel": "web"}, None)
            await sms.service.flush()
            rec.sent.clear()

            def delete(s: Any) -> None:  # removed behind the outbox's back (its reminder row stays)
                s.execute(text("DELETE FROM idempotency_keys WHERE booking_id = :b"), {"b": gone.id})
                s.execute(text("DELETE FROM bookings WHERE id = :b"), {"b": gone.id})

            await sms.service.db.awrite(delete)
            erase(cfg, sms.service.db, subject_for_phone(cfg, PHONE), reason="asked", by="anna")
            clock.now = dt.datetime(2026, 12, 9, 11, 0, tzinfo=dt.UTC)
            await sms.service.flush()
            return rec.sent, await sms.service.outbox.list()
        finally:
            await brain.aclose()

    sent, rows = asyncio.run(run())
    assert sent == []
    reminders = [(r.recipient, r.status, r.last_error) for r in rows if r.kind == "reminder"]
    assert reminders == [(OTHER, OutboxStatus.SKIPPED, "booking_gone")]  # the erased caller's rows are gone
    assert not [r for r in rows if r.recipient == PHONE]
