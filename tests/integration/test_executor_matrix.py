"""Each row of the reliability matrix (docs/RELIABILITY.md), against a real local HTTP booking server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from appliance.booking.http import HttpBackend
from appliance.core.config import ToolsConfig, load_config
from appliance.core.messages import OutcomeStatus
from appliance.tools import SlowNotice, ToolContext, ToolExecutor, ToolResult, default_registry
from tests.support.callback_sink import MemoryCallbackSink
from tests.support.http_backend_server import BookingServer, serve_in_thread

FAST = ToolsConfig(timeout_s=0.5, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02, slow_notice_s=0)
STAY = {"pet_type": "dog", "start_date": "2030-06-01", "end_date": "2030-06-04"}
BOOKING = {**STAY, "pet_name": "Rex", "owner_name": "Mari Maasikas", "owner_phone": "+372 5555 1234"}


@pytest.fixture
def server() -> Iterator[BookingServer]:
    with serve_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def app_config():
    return load_config(environ={}, use_system=False)


def run_tool(
    server: BookingServer,
    app_config,
    name: str,
    args: dict[str, Any],
    *,
    tools: ToolsConfig = FAST,
    sink: MemoryCallbackSink | None = None,
    token: str | None = None,
    **execute_kw: Any,
) -> ToolResult:
    async def go() -> ToolResult:
        async with HttpBackend(server.base_url, token=token or server.token, timeout=tools.timeout_s * 4) as backend:
            ctx = ToolContext(
                backend=backend,
                callbacks=sink or MemoryCallbackSink(),
                config=app_config,
                session_id="s-1",
                channel="voice",
                language="et",
                caller_id="+37255550000",
            )
            return await ToolExecutor(default_registry(), tools).execute(name, args, ctx, **execute_kw)

    return asyncio.run(go())


def test_success(server, app_config):
    result = run_tool(server, app_config, "create_booking", BOOKING)
    assert result.status is OutcomeStatus.OK and result.attempts == 1
    assert result.data is not None
    assert result.data["id"] == next(iter(server.bookings))
    assert result.data["start"] == "2030-06-01" and result.data["nights"] == 3
    assert result.data["total_minor"] == 3 * 3500
    assert result.arguments["start_date"] == "2030-06-01"  # coerced arguments as plain data
    assert result.to_action().result == result.data
    quote = run_tool(server, app_config, "quote_price", STAY)
    assert quote.data is not None and quote.data["lines"][0]["unit_minor"] == 3500


def test_no_availability_on_create_is_a_client_error_with_alternatives(server, app_config):
    server.capacity["dog"] = 1
    assert run_tool(server, app_config, "create_booking", BOOKING).ok
    result = run_tool(server, app_config, "create_booking", {**BOOKING, "pet_name": "Muki"})
    assert result.status is OutcomeStatus.NEEDS_CLARIFICATION
    assert result.error_code == "no_availability" and result.attempts == 1
    assert server.calls["create"] == 2  # not retried
    assert result.details is not None and result.details["alternatives"][0] == {
        "start": "2030-05-29",
        "end": "2030-06-01",
    }


def test_unavailable_dates_from_check_availability_are_data_not_errors(server, app_config):
    server.capacity["dog"] = 0
    result = run_tool(server, app_config, "check_availability", STAY)
    assert result.status is OutcomeStatus.OK
    assert result.data is not None and result.data["available"] is False and result.data["alternatives"] == []


def test_timeout_is_retried_then_falls_back_to_a_callback_ticket(server, app_config):
    server.knob("availability").delay_s = 0.4
    sink = MemoryCallbackSink()
    tools = FAST.model_copy(update={"timeout_s": 0.1})
    result = run_tool(server, app_config, "check_availability", STAY, tools=tools, sink=sink)
    assert result.status is OutcomeStatus.FALLBACK
    assert result.error_code == "backend_timeout"
    assert result.attempts == 3 and server.calls["availability"] == 3
    assert len(sink.tickets) == 1
    ticket = sink.tickets[0]
    assert result.fallback_ticket_id == ticket.id
    assert ticket.phone == "+37255550000"  # the caller id: no phone among the arguments
    assert (ticket.language, ticket.session_id, ticket.channel) == ("et", "s-1", "voice")
    assert ticket.details["tool"] == "check_availability"
    assert ticket.details["arguments"] == STAY
    assert result.to_action().result["fallback_ticket_id"] == ticket.id  # type: ignore[index]


def test_500_is_retried_and_succeeds_on_attempt_3(server, app_config):
    server.knob("quote").fail_500 = 2
    result = run_tool(server, app_config, "quote_price", STAY)
    assert result.status is OutcomeStatus.OK and result.attempts == 3
    assert server.calls["quote"] == 3


def test_500_that_does_not_recover_falls_back_with_the_callers_details(server, app_config):
    server.knob("create").fail_500 = 10
    sink = MemoryCallbackSink()
    result = run_tool(server, app_config, "create_booking", BOOKING, sink=sink)
    assert result.status is OutcomeStatus.FALLBACK and result.error_code == "backend_unavailable"
    assert result.attempts == 3 and server.calls["create"] == 3
    assert server.bookings == {}
    (ticket,) = sink.tickets
    assert (ticket.phone, ticket.name) == ("+372 5555 1234", "Mari Maasikas")  # from the arguments
    assert ticket.details["idempotency_key"] == result.idempotency_key
    assert result.fallback_ticket_id == ticket.id  # the brain says "we will call you back" from its templates


def test_400_is_not_retried_and_names_the_field(server, app_config):
    server.knob("create").fail_400 = 1
    server.knob("create").fail_400_field = "owner_phone"
    result = run_tool(server, app_config, "create_booking", BOOKING)
    assert result.status is OutcomeStatus.NEEDS_CLARIFICATION
    assert (result.error_code, result.error_field, result.attempts) == ("validation_error", "owner_phone", 1)
    assert server.calls["create"] == 1


def test_server_side_validation_error_names_the_field(server, app_config):
    result = run_tool(server, app_config, "quote_price", {**STAY, "end_date": "2030-05-30"})
    assert result.status is OutcomeStatus.NEEDS_CLARIFICATION
    assert (result.error_code, result.error_field) == ("validation_error", "end")


def test_dropped_connection_is_retried(server, app_config):
    server.knob("create").drop = 1
    result = run_tool(server, app_config, "create_booking", BOOKING)
    assert result.status is OutcomeStatus.OK and result.attempts == 2
    assert server.calls["create"] == 2 and len(server.bookings) == 1


def test_dropped_connections_that_persist_fall_back(server, app_config):
    # aiohttp itself may re-send an idempotent GET once on a dropped connection; the executor retries on top
    server.knob("availability").drop = 100
    sink = MemoryCallbackSink()
    result = run_tool(server, app_config, "check_availability", STAY, sink=sink)
    assert result.status is OutcomeStatus.FALLBACK and result.attempts == 3
    assert result.error_code == "backend_unavailable" and len(sink.tickets) == 1


def test_connection_refused_falls_back(app_config):
    with serve_in_thread() as srv:
        pass  # closed: its port now refuses connections
    sink = MemoryCallbackSink()
    result = run_tool(srv, app_config, "find_bookings", {"phone": "5555 1234"}, sink=sink)
    assert result.status is OutcomeStatus.FALLBACK and result.attempts == 3
    assert sink.tickets[0].details["error_code"] == "backend_unavailable"


def test_rejected_token_falls_back_without_retrying(server, app_config):
    sink = MemoryCallbackSink()
    result = run_tool(server, app_config, "quote_price", STAY, sink=sink, token="expired")
    assert result.status is OutcomeStatus.FALLBACK and result.error_code == "backend_auth"
    assert result.attempts == 1 and len(sink.tickets) == 1


def test_not_found_and_conflict_are_client_errors(server, app_config):
    missing = run_tool(server, app_config, "cancel_booking", {"booking_id": "B9999"})
    assert missing.status is OutcomeStatus.NEEDS_CLARIFICATION and missing.error_code == "not_found"
    booking = run_tool(server, app_config, "create_booking", BOOKING)
    assert booking.data is not None
    first = run_tool(server, app_config, "cancel_booking", {"booking_id": booking.data["id"]})
    assert first.ok and first.data is not None and first.data["status"] == "cancelled"
    again = run_tool(server, app_config, "cancel_booking", {"booking_id": booking.data["id"]})
    assert again.status is OutcomeStatus.NEEDS_CLARIFICATION and again.error_code == "conflict"
    assert server.calls["cancel"] == 3


def test_fallback_sink_failure_is_an_error_not_a_crash(server, app_config):
    server.knob("quote").fail_500 = 10
    sink = MemoryCallbackSink()
    sink.fail = OSError("disk full")
    result = run_tool(server, app_config, "quote_price", STAY, sink=sink)
    assert result.status is OutcomeStatus.ERROR and result.fallback_ticket_id is None
    assert result.error_code == "backend_unavailable"


def test_slow_hook_fires_once_without_blocking(server, app_config):
    server.knob("quote").delay_s = 0.15
    server.knob("quote").fail_500 = 1
    notices: list[SlowNotice] = []

    async def on_slow(notice: SlowNotice) -> None:
        notices.append(notice)

    tools = FAST.model_copy(update={"slow_notice_s": 0.05})
    result = run_tool(server, app_config, "quote_price", STAY, tools=tools, on_slow=on_slow)
    assert result.ok and result.attempts == 2
    assert len(notices) == 1
    assert notices[0].tool == "quote_price" and notices[0].session_id == "s-1"
    assert notices[0].elapsed_s >= 0.05 and notices[0].attempt == 1

    notices.clear()
    server.knob("quote").delay_s = 0
    assert run_tool(server, app_config, "quote_price", STAY, tools=tools, on_slow=on_slow).ok
    assert notices == []  # fast calls say nothing
