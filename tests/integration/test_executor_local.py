"""The executor with the real local stack: LocalBackend and CallbackRepository on a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingBackend
from appliance.core.clock import fixed_clock
from appliance.core.config import ToolsConfig, load_config
from appliance.core.errors import BackendUnavailable
from appliance.core.messages import OutcomeStatus
from appliance.store import Database
from appliance.store.repos import CallbackRepository
from appliance.tools import CallbackSink, ToolContext, ToolExecutor, default_registry

CLOCK = fixed_clock(dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.UTC))
FAST = ToolsConfig(timeout_s=5.0, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02, slow_notice_s=0)
BOOKING = {
    "pet_type": "dog",
    "start_date": "2030-06-01",
    "end_date": "2030-06-04",
    "pet_name": "Rex",
    "owner_name": "Mari Maasikas",
    "owner_phone": "5555 1234",
}


class Flaky:
    """Wraps a backend; its first ``failures`` mutating calls commit and then 'lose the answer'."""

    def __init__(self, inner: LocalBackend, failures: int) -> None:
        self.inner = inner
        self.name = "flaky"
        self.failures = failures

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)

    async def create_booking(self, request, idempotency_key):  # type: ignore[no-untyped-def]
        booking = await self.inner.create_booking(request, idempotency_key)
        if self.failures > 0:
            self.failures -= 1
            raise BackendUnavailable("answer lost after commit")
        return booking


def run_local(
    tmp_path: Path, body: Callable[..., Awaitable[Any]], *, wrap: Callable[[LocalBackend], Any] = lambda b: b
):
    config = load_config(environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path / "data")}})

    async def go() -> Any:
        db = await asyncio.to_thread(Database.from_config, config)
        try:
            backend = LocalBackend(db, config, CLOCK)
            callbacks = CallbackRepository(db, tenant_id=config.tenant.id, clock=CLOCK)
            assert isinstance(backend, BookingBackend) and isinstance(callbacks, CallbackSink)
            ctx = ToolContext(
                backend=wrap(backend),
                callbacks=callbacks,
                config=config,
                session_id="s-local",
                channel="voice",
                language="ru",
                caller_id="+37255550000",
            )
            return await body(ToolExecutor(default_registry(), FAST), ctx, backend, callbacks)
        finally:
            await asyncio.to_thread(db.close)

    return asyncio.run(go())


def test_booking_flow_on_sqlite(tmp_path):
    async def body(ex: ToolExecutor, ctx: ToolContext, backend: LocalBackend, callbacks: CallbackRepository):
        avail = await ex.execute("check_availability", BOOKING, ctx)
        quote = await ex.execute("quote_price", BOOKING, ctx)
        created = await ex.execute("create_booking", BOOKING, ctx, idempotency_key="turn-1")
        again = await ex.execute("create_booking", BOOKING, ctx, idempotency_key="turn-1")
        found = await ex.execute("find_bookings", {"phone": "5555 1234"}, ctx)
        assert created.data is not None
        changed = await ex.execute("change_booking", {"booking_id": created.data["id"], "end_date": "2030-06-05"}, ctx)
        cancelled = await ex.execute("cancel_booking", {"booking_id": created.data["id"]}, ctx)
        return avail, quote, created, again, found, changed, cancelled

    avail, quote, created, again, found, changed, cancelled = run_local(tmp_path, body)
    assert avail.ok and avail.data is not None and avail.data["available"] is True
    assert quote.ok and quote.data is not None and quote.data["currency"] == "EUR"
    assert created.ok and created.data is not None and created.data["start"] == "2030-06-01"
    assert again.data == created.data  # same key: the same booking
    assert found.data is not None and found.data["count"] == 1
    assert changed.ok and changed.data is not None and changed.data["nights"] == 4
    assert cancelled.ok and cancelled.data is not None and cancelled.data["status"] == "cancelled"


def test_domain_rule_violation_needs_clarification(tmp_path):
    async def body(ex: ToolExecutor, ctx: ToolContext, *_: Any):
        return await ex.execute("quote_price", {**BOOKING, "start_date": "2030-06-04", "end_date": "2030-06-01"}, ctx)

    result = run_local(tmp_path, body)
    assert result.status is OutcomeStatus.NEEDS_CLARIFICATION and result.attempts == 1
    assert result.error_code == "validation_error" and result.error_field


def test_retry_after_lost_answer_books_once(tmp_path):
    async def body(ex: ToolExecutor, ctx: ToolContext, backend: LocalBackend, _: Any):
        result = await ex.execute("create_booking", BOOKING, ctx)
        return result, await backend.find_bookings(phone="5555 1234")

    result, bookings = run_local(tmp_path, body, wrap=lambda b: Flaky(b, failures=2))
    assert result.ok and result.attempts == 3
    assert [b.id for b in bookings] == [result.data["id"]]  # type: ignore[index]


def test_fallback_ticket_lands_in_sqlite(tmp_path):
    async def body(ex: ToolExecutor, ctx: ToolContext, backend: LocalBackend, callbacks: CallbackRepository):
        result = await ex.execute("create_booking", BOOKING, ctx)
        return result, await callbacks.list(), await backend.find_bookings(phone="5555 1234")

    result, tickets, bookings = run_local(tmp_path, body, wrap=lambda b: Flaky(b, failures=10))
    assert result.status is OutcomeStatus.FALLBACK and result.attempts == 3
    (ticket,) = tickets
    assert ticket.id == result.fallback_ticket_id
    assert (ticket.name, ticket.language, ticket.channel) == ("Mari Maasikas", "ru", "voice")
    assert ticket.details["tool"] == "create_booking"
    assert ticket.details["idempotency_key"] == result.idempotency_key
    assert len(bookings) == 1  # committed once; the ticket's key lets staff find it


def test_request_callback_and_transfer(tmp_path):
    async def body(ex: ToolExecutor, ctx: ToolContext, backend: LocalBackend, callbacks: CallbackRepository):
        cb = await ex.execute("request_callback", {"phone": "+372 5555 9999", "reason": "vaccination question"}, ctx)
        voice = await ex.execute("transfer_to_staff", {"reason": "wants a person"}, ctx)
        web = await ex.execute("transfer_to_staff", {}, ToolContext(**{**_fields(ctx), "channel": "web"}))
        return cb, voice, web, await callbacks.list()

    cb, voice, web, tickets = run_local(tmp_path, body)
    assert cb.ok and cb.data is not None and cb.data["ticket_id"] == tickets[0].id
    assert voice.data == {"transfer_to": "100", "reason": "wants a person", "ticket_id": None}
    assert web.data is not None and web.data["transfer_to"] is None and web.data["ticket_id"] == tickets[1].id
    assert tickets[1].phone == "+37255550000"


def _fields(ctx: ToolContext) -> dict[str, Any]:
    return {f: getattr(ctx, f) for f in ctx.__dataclass_fields__}
