"""HttpBackend against the real local contract server: shapes, headers, and the failure mapping."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from appliance.booking.http import HttpBackend, _error_for
from appliance.booking.types import (
    Availability,
    Booking,
    BookingBackend,
    BookingChange,
    BookingRequest,
    BookingStatus,
    DateRange,
    Quote,
)
from appliance.core.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Conflict,
    NoAvailability,
    NotFound,
    ValidationError,
)
from tests.support.http_backend_server import BookingServer, serve_in_thread

D = dt.date
REQUEST = BookingRequest(
    pet_name="Rex",
    pet_type="dog",
    start=D(2030, 6, 1),
    end=D(2030, 6, 4),
    owner_name="Mari Maasikas",
    owner_phone="+372 5555 1234",
    channel="web",
    session_id="s-1",
)


@pytest.fixture
def server() -> Iterator[BookingServer]:
    with serve_in_thread() as srv:
        yield srv


def with_backend(server: BookingServer, body: Callable[[HttpBackend], Awaitable[Any]], **kw: Any) -> Any:
    async def go() -> Any:
        kw.setdefault("token", server.token)
        async with HttpBackend(server.base_url, **kw) as backend:
            return await body(backend)

    return asyncio.run(go())


def test_implements_the_protocol():
    assert isinstance(HttpBackend("http://127.0.0.1:1"), BookingBackend)
    with pytest.raises(ValueError):
        HttpBackend("127.0.0.1:8000")


def test_round_trip_of_every_endpoint(server):
    async def body(b: HttpBackend) -> dict[str, Any]:
        out: dict[str, Any] = {"health": await b.health()}
        out["avail"] = await b.check_availability("dog", D(2030, 6, 1), D(2030, 6, 4))
        out["quote"] = await b.quote_price("cat", D(2030, 6, 1), D(2030, 6, 3))
        booking = out["created"] = await b.create_booking(REQUEST, "key-1")
        out["got"] = await b.get_booking(booking.id)
        out["by_phone"] = await b.find_bookings(phone="5555 1234")
        out["by_pet"] = await b.find_bookings(pet_name="rex")
        out["by_id"] = await b.find_bookings(booking_id=booking.id)
        out["none"] = await b.find_bookings(pet_name="Nobody")
        out["changed"] = await b.change_booking(booking.id, BookingChange(end=D(2030, 6, 5)), "key-2")
        out["cancelled"] = await b.cancel_booking(booking.id, "key-3")
        return out

    out = with_backend(server, body)
    assert out["health"] is True
    avail = out["avail"]
    assert isinstance(avail, Availability) and avail.available and avail.free_units == 2
    quote = out["quote"]
    assert isinstance(quote, Quote) and quote.total_minor == 5000 and quote.lines[0].unit_minor == 2500
    created = out["created"]
    assert isinstance(created, Booking)
    assert created.start == D(2030, 6, 1) and created.status is BookingStatus.CONFIRMED
    assert created.total_minor == 3 * 3500 and created.currency == "EUR"
    assert created.channel == "web" and created.session_id == "s-1" and created.idempotency_key == "key-1"
    assert created.created_at.tzinfo is not None
    assert out["got"] == created
    assert (
        [b.id for b in out["by_phone"]] == [b.id for b in out["by_pet"]] == [b.id for b in out["by_id"]] == [created.id]
    )
    assert out["none"] == []
    assert out["changed"].end == D(2030, 6, 5) and out["changed"].total_minor == 4 * 3500
    assert out["cancelled"].status is BookingStatus.CANCELLED
    # idempotency keys only on the mutating calls
    assert [k for _, k in server.seen_keys if k] == ["key-1", "key-2", "key-3"]
    assert {ep for ep, k in server.seen_keys if k} == {"create", "change", "cancel"}


def test_one_client_session_is_reused_and_closed(server):
    async def go() -> None:
        backend = HttpBackend(server.base_url, token=server.token)
        assert not backend.is_open
        await backend.quote_price("dog", D(2030, 6, 1), D(2030, 6, 2))
        await backend.quote_price("dog", D(2030, 6, 1), D(2030, 6, 2))
        assert backend.is_open and backend.sessions_opened == 1
        await backend.aclose()
        assert not backend.is_open

    asyncio.run(go())


def test_unavailable_dates_carry_alternatives(server):
    server.capacity["dog"] = 1

    async def body(b: HttpBackend) -> tuple[Availability, NoAvailability]:
        await b.create_booking(REQUEST, "k-a")
        avail = await b.check_availability("dog", D(2030, 6, 1), D(2030, 6, 4))
        with pytest.raises(NoAvailability) as info:
            await b.create_booking(REQUEST, "k-b")
        return avail, info.value

    avail, err = with_backend(server, body)
    assert not avail.available and avail.alternatives[0] == DateRange(D(2030, 5, 29), D(2030, 6, 1))
    assert err.retryable is False and err.details["alternatives"][0] == {"start": "2030-05-29", "end": "2030-06-01"}


def _raises(server: BookingServer, call: Callable[[HttpBackend], Awaitable[Any]], **kw: Any) -> Exception:
    async def body(b: HttpBackend) -> Exception:
        try:
            await call(b)
        except Exception as exc:
            return exc
        raise AssertionError("expected an error")

    return with_backend(server, body, **kw)


def _quote(b: HttpBackend) -> Awaitable[Quote]:
    return b.quote_price("dog", D(2030, 6, 1), D(2030, 6, 4))


def test_500_is_backend_unavailable(server):
    server.knob("quote").fail_500 = 1
    err = _raises(server, _quote)
    assert isinstance(err, BackendUnavailable) and err.retryable and err.details["status"] == 500


def test_dropped_connection_is_backend_unavailable(server):
    server.knob("create").drop = 1
    err = _raises(server, lambda b: b.create_booking(REQUEST, "k"))
    assert isinstance(err, BackendUnavailable) and err.retryable
    assert server.bookings == {}


def test_connection_refused_is_backend_unavailable():
    with serve_in_thread() as srv:
        pass
    err = _raises(srv, _quote)
    assert isinstance(err, BackendUnavailable) and err.retryable


def test_client_timeout_is_backend_timeout(server):
    server.knob("quote").delay_s = 0.5
    err = _raises(server, _quote, timeout=0.1)
    assert isinstance(err, BackendTimeout) and err.retryable


def test_400_is_validation_error_with_field(server):
    server.knob("create").fail_400 = 1
    server.knob("create").fail_400_field = "pet_name"
    err = _raises(server, lambda b: b.create_booking(REQUEST, "k"))
    assert isinstance(err, ValidationError) and err.field == "pet_name" and not err.retryable


def test_404_is_not_found_and_409_is_conflict(server):
    missing = _raises(server, lambda b: b.get_booking("B404"))
    assert isinstance(missing, NotFound) and missing.details["field"] == "booking_id"

    async def twice(b: HttpBackend) -> None:
        booking = await b.create_booking(REQUEST, "k-1")
        await b.cancel_booking(booking.id, "k-2")
        await b.cancel_booking(booking.id, "k-3")

    assert isinstance(_raises(server, twice), Conflict)


def test_wrong_token_is_a_non_retryable_backend_error(server):
    err = _raises(server, _quote, token="wrong")
    assert type(err) is BackendError and err.code == "backend_auth" and not err.retryable


def test_booking_ids_are_escaped_in_paths(server):
    err = _raises(server, lambda b: b.get_booking("../health"))
    assert isinstance(err, NotFound)


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (422, {"error": {"code": "whatever", "message": "bad", "field": "start"}}, ValidationError, "validation_error"),
        (409, {"error": {"code": "no_availability", "message": "full"}}, NoAvailability, "no_availability"),
        (409, None, Conflict, "conflict"),
        (404, "not json", NotFound, "not_found"),
        (429, None, BackendUnavailable, "backend_unavailable"),
        (503, {"error": {"code": "maintenance"}}, BackendUnavailable, "backend_unavailable"),
        (418, None, BackendError, "backend_error"),
    ],
)
def test_error_mapping_table(status, body, expected, code):
    err = _error_for("GET", "/x", status, body)
    assert type(err) is expected and err.code == code  # type: ignore[attr-defined]


def test_from_config(server):
    from appliance.core.config import ToolsConfig

    tools = ToolsConfig(backend="http", http_url=server.base_url + "/", http_token=server.token, timeout_s=1.5)
    backend = HttpBackend.from_config(tools)
    assert (backend.base_url, backend.token, backend.timeout) == (server.base_url, server.token, 1.5)
    assert asyncio.run(_health_then_close(backend)) is True


async def _health_then_close(backend: HttpBackend) -> bool:
    try:
        return await backend.health()
    finally:
        await backend.aclose()
