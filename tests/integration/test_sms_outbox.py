"""What is texted when, on a real SQLite store and the real brain, with the transport as the one
seam (a recorder that can refuse): held booking -> "reserved" text, staff approve/decline ->
their text, reminders when due (not for a cancelled booking), opted-out numbers never texted,
retries with backoff until the last attempt, and a booking event seen twice texts once."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from appliance.booking.approvals import Approvals
from appliance.booking.serialize import booking_to_dict
from appliance.brain.factory import build_brain
from appliance.channels.sms import SmsChannel
from appliance.channels.sms.encoding import SmsPlan
from appliance.channels.sms.transport import InboundSms, Receive, SendError, SmsOrigin, SmsTransport
from appliance.core.bus import EventBus
from appliance.core.config import Config, load_config
from appliance.core.messages import Event, EventType
from appliance.store.outbox import OutboxStatus

PHONE = "+37251234567"
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


class Recorder(SmsTransport):
    name = "rec"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.refuse = 0  # refuse this many sends (a gateway that is down)

    async def start(self, receive: Receive) -> None:
        self.receive = receive

    async def send(self, recipient: str, plan: SmsPlan, *, origin: SmsOrigin | None = None) -> None:
        if self.refuse:
            self.refuse -= 1
            raise SendError("gateway down")
        self.sent.append((recipient, plan.text))

    async def stop(self) -> None:
        pass


def config(tmp_path: Path, **sms: Any) -> Config:
    return load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path)},
            "llm": {"mode": "off"},
            "bookings": {"require_approval": True},
            "sms": {"enabled": True, "outbound_transport": "kannel", "retry_base_s": 10, "max_attempts": 3, **sms},
        },
    )


async def _setup(cfg: Config, clock: Clock) -> tuple[Any, SmsChannel, Recorder, EventBus]:
    bus = EventBus()
    brain = await build_brain(cfg, clock=clock, on_event=bus.publish)
    rec = Recorder()
    sms = SmsChannel(cfg, brain, transports={"rec": rec}, clock=clock, monotonic=lambda: clock.now.timestamp())
    sms.service.transports["kannel"] = rec  # booking texts go "kannel"; the recorder stands in
    bus.listen(sms.texts.on_event)
    await rec.start(sms.service.receive)
    return brain, sms, rec, bus


async def _text(sms: SmsChannel, text: str, n: int) -> None:
    await sms.service.receive(InboundSms("rec", PHONE, text, message_id=f"m{n}"))
    await sms.texts.drain()
    await sms.service.flush()


def test_held_booking_approval_reminder_and_opt_out(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path)

    async def run() -> tuple[list[tuple[str, str]], list[Any]]:
        brain, sms, rec, bus = await _setup(cfg, clock)
        try:
            script = ["I need a room for my cat Tom next weekend", "Mari Tamm", "yes", "yes"]
            for i, line in enumerate(script):
                await _text(sms, line, i)
            held = await Approvals(brain.backend).held()
            assert len(held) == 1
            booking = held[0]
            # the same event twice (a retried publish): one text
            for _ in range(2):
                bus.publish(Event(EventType.BOOKING_HELD, booking_to_dict(booking), booking.session_id))
            result = await Approvals(brain.backend).approve(booking.id, actor="staff:test")
            bus.publish(Event(EventType.BOOKING_APPROVED, booking_to_dict(result.booking), booking.session_id))
            await sms.texts.drain()
            await sms.service.flush()
            # the reminder: not yet; then a day before check-in it goes, once
            assert not [t for _, t in rec.sent if "reminder" in t]
            clock.now = dt.datetime.combine(booking.start, dt.time(12, 30), tzinfo=cfg.tenant.tz) - dt.timedelta(1)
            await sms.service.flush()
            await sms.service.flush()
            # STOP: a receipt, then nothing more is ever texted to the number
            await _text(sms, "STOP", 99)
            bus.publish(Event(EventType.BOOKING_DECLINED, booking_to_dict(result.booking), booking.session_id))
            await sms.texts.drain()
            await sms.service.flush()
            return rec.sent, await sms.service.outbox.list()
        finally:
            await brain.aclose()

    sent, rows = asyncio.run(run())
    texts = [t for _, t in sent]
    assert all(to == PHONE for to, _ in sent)
    reserved = [t for t in texts if "we have reserved" in t]
    approved = [t for t in texts if "good news" in t]
    reminders = [t for t in texts if "a reminder" in t]
    assert len(reserved) == 1 and len(approved) == 1 and len(reminders) == 1, texts
    assert texts[-1].startswith("You will get no more texts")
    assert not [t for t in texts if "cannot take booking" in t]  # declined after STOP: never texted
    declined = [r for r in rows if r.kind == "declined"]
    assert [(r.status, r.last_error) for r in declined] == [(OutboxStatus.SKIPPED, "opted_out")]


def test_retries_back_off_then_give_up(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path, confirm_other_channels=True)

    async def run() -> list[Any]:
        brain, sms, rec, bus = await _setup(cfg, clock)
        try:
            rec.refuse = 2
            b = {"id": "123456", "pet_name": "Tom", "start": "2026-12-12", "end": "2026-12-13",
                 "owner_phone": PHONE, "channel": "web", "status": "confirmed"}  # fmt: skip
            await sms.texts.booking_event(EventType.BOOKING_CREATED, b, None)
            assert await sms.service.flush() == 1 and rec.sent == []  # refused: retry in 10 s
            assert await sms.service.flush() == 0  # not due yet
            clock.now += dt.timedelta(seconds=10)
            assert await sms.service.flush() == 1 and rec.sent == []  # refused again: next in 20 s
            clock.now += dt.timedelta(seconds=19)
            assert await sms.service.flush() == 0
            clock.now += dt.timedelta(seconds=1)
            assert await sms.service.flush() == 1 and len(rec.sent) == 1  # third attempt goes through
            # a booking never stored here whose reminder is due, and a gateway that stays down
            rec.refuse = 10
            b2 = {**b, "id": "654321", "start": "2026-12-02", "end": "2026-12-03"}
            await sms.texts.booking_event(EventType.BOOKING_CREATED, b2, None)
            for _ in range(4):
                await sms.service.flush()
                clock.now += dt.timedelta(hours=1)
            return await sms.service.outbox.list()
        finally:
            await brain.aclose()

    rows = {r.idempotency_key: r for r in asyncio.run(run())}
    assert rows["confirm:123456"].status is OutboxStatus.SENT and rows["confirm:123456"].attempts == 3
    assert rows["confirm:654321"].status is OutboxStatus.FAILED and rows["confirm:654321"].attempts == 3
    assert rows["confirm:654321"].last_error == "gateway down"


def test_a_cancelled_booking_gets_no_reminder(tmp_path: Path) -> None:
    from appliance.booking.types import BookingRequest

    clock = Clock()
    cfg = config(tmp_path, confirm_other_channels=True)

    async def run() -> list[Any]:
        brain, sms, rec, bus = await _setup(cfg, clock)
        try:
            req = BookingRequest("Tom", "cat", dt.date(2026, 12, 10), dt.date(2026, 12, 12), "Mari Tamm", PHONE)
            b = await brain.backend.create_booking(req, "sms-test-1")
            await sms.texts.booking_event(EventType.BOOKING_CREATED, {**booking_to_dict(b), "channel": "web"}, None)
            await brain.backend.cancel_booking(b.id, "sms-test-cancel-1")
            clock.now = dt.datetime(2026, 12, 9, 11, 0, tzinfo=dt.UTC)
            await sms.service.flush()
            return await sms.service.outbox.list()
        finally:
            await brain.aclose()

    rows = {r.kind.value: r for r in asyncio.run(run())}
    assert rows["confirmation"].status is OutboxStatus.SENT
    assert (rows["reminder"].status, rows["reminder"].last_error) == (OutboxStatus.SKIPPED, "booking_cancelled")


def test_staff_take_over_an_sms_conversation_and_outbound_rate_limit(tmp_path: Path) -> None:
    from appliance.core.bus import StaffDesk

    clock = Clock()
    cfg = config(tmp_path, outbound_per_hour=2)

    async def run() -> tuple[Recorder, list[Any], list[Any]]:
        bus = EventBus()
        desk = StaffDesk(bus)
        brain = await build_brain(cfg, clock=clock, on_event=bus.publish)
        rec = Recorder()
        sms = SmsChannel(cfg, brain, desk=desk, transports={"rec": rec}, clock=clock,
                         monotonic=lambda: clock.now.timestamp())  # fmt: skip
        try:
            await _text(sms, "Hello", 1)
            session = (await sms.service.inbound.list())[0].session_id
            assert session and desk.reachable(session)
            desk.take_over(session, "staff:anna")
            await _text(sms, "Is anyone there?", 2)  # the AI stays quiet
            assert await desk.reply(session, "staff:anna", "Hi, Anna here.") == 1
            assert await desk.reply(session, "staff:anna", "One more thing.") == 1
            await sms.service.flush()
            return rec, await sms.service.outbox.list(), await sms.service.inbound.list()
        finally:
            await sms.stop()
            await brain.aclose()

    rec, rows, inbound = asyncio.run(run())
    assert [t for _, t in rec.sent][1:] == ["Hi, Anna here."]  # 2 an hour: the greeting reply and Anna's first
    waiting = [r for r in rows if r.text == "One more thing."]
    assert [(r.status, r.attempts, r.last_error) for r in waiting] == [(OutboxStatus.PENDING, 0, "rate_limited")]
    assert [r.status.value for r in inbound] == ["answered", "answered"]


def test_stop_and_start_receipts_only_when_something_changes(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path)

    async def run() -> list[str]:
        brain, sms, rec, _bus = await _setup(cfg, clock)
        try:
            for i, text in enumerate(["START", "STOP", "stop", "Lõpeta", "Tere", "Alusta", "СТАРТ"]):
                await _text(sms, text, i)
            return [t for _, t in rec.sent]
        finally:
            await brain.aclose()

    sent = asyncio.run(run())
    assert [t.split(" ")[0] for t in sent] == ["You", "Texts"], sent  # one opt-out receipt, one opt-in receipt


def test_a_web_booking_is_texted_only_to_a_number_that_has_texted_us(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path)  # confirm_other_channels off: the customer's agreement decides

    async def run() -> list[str]:
        brain, sms, rec, _bus = await _setup(cfg, clock)
        try:
            web = {"id": "111111", "pet_name": "Tom", "start": "2026-12-12", "end": "2026-12-13",
                   "owner_phone": PHONE, "channel": "web", "status": "confirmed"}  # fmt: skip
            await sms.texts.booking_event(EventType.BOOKING_CREATED, web, None)  # never texted us: nothing
            await _text(sms, "Hello", 1)
            await sms.texts.booking_event(EventType.BOOKING_CREATED, {**web, "id": "222222"}, None)
            await sms.service.flush()
            return [r.idempotency_key for r in await sms.service.outbox.list() if r.kind == "confirmation"]
        finally:
            await brain.aclose()

    assert asyncio.run(run()) == ["confirm:222222"]


def test_the_session_of_a_number_resumes_within_the_window(tmp_path: Path) -> None:
    clock = Clock()
    cfg = config(tmp_path, session_window_min=60)

    async def run() -> list[str | None]:
        brain, sms, rec, _bus = await _setup(cfg, clock)
        try:
            await asyncio.gather(*(_text(sms, f"Hello {i}", i) for i in range(3)))  # at once: one session
            clock.now += dt.timedelta(minutes=50)
            await _text(sms, "I need a room for my cat", 10)  # within the hour: the same conversation
            clock.now += dt.timedelta(minutes=61)
            await _text(sms, "Hello again", 11)  # after it: a new one
            return [r.session_id for r in await sms.service.inbound.list()]
        finally:
            await brain.aclose()

    sessions = asyncio.run(run())
    assert len(set(sessions[:4])) == 1 and sessions[4] != sessions[0], sessions


def test_a_text_of_a_business_no_longer_configured_fails_and_is_not_sent(tmp_path: Path) -> None:
    """A row queued for a tenant that was since removed from the config: nobody to send it as (its
    number, its opt-outs), so it is marked failed (listed as such for staff) and never sent."""
    from appliance.store.outbox import NewMessage, Outbox, OutboxKind

    clock = Clock()
    cfg = config(tmp_path)

    async def run() -> tuple[list[Any], list[tuple[str, str]]]:
        brain, sms, rec, bus = await _setup(cfg, clock)
        try:
            gone = Outbox(sms.service.db, tenant_id="closed-clinic", clock=clock)
            msg = NewMessage("notice:gone", OutboxKind.NOTICE, "rec", PHONE, "Hello", "en", "gsm7", 1, clock.now)
            await gone.enqueue(msg)
            assert await sms.service.flush() == 1
            assert await sms.service.flush() == 0  # settled: not retried
            return await gone.list(), rec.sent
        finally:
            await brain.aclose()

    (row,), sent = asyncio.run(run())
    assert row.status is OutboxStatus.FAILED and row.last_error == "no_such_tenant" and row.attempts == 1
    assert sent == []
