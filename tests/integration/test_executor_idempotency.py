"""Retries never double-book: one idempotency key per call, reused on every attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from appliance.booking.http import HttpBackend
from appliance.core.config import ToolsConfig, load_config
from appliance.core.messages import OutcomeStatus
from appliance.tools import ToolContext, ToolExecutor, ToolResult, default_registry
from tests.support.callback_sink import MemoryCallbackSink
from tests.support.http_backend_server import BookingServer, serve_in_thread

FAST = ToolsConfig(timeout_s=0.5, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02, slow_notice_s=0)
BOOKING = {
    "pet_type": "dog",
    "start_date": "2030-06-01",
    "end_date": "2030-06-04",
    "pet_name": "Rex",
    "owner_name": "Mari Maasikas",
    "owner_phone": "+372 5555 1234",
}


@pytest.fixture
def server() -> Iterator[BookingServer]:
    with serve_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def app_config():
    return load_config(environ={}, use_system=False)


async def _with_executor(server: BookingServer, app_config, tools: ToolsConfig, body, sink=None) -> Any:
    async with HttpBackend(server.base_url, token=server.token, timeout=2.0) as backend:
        ctx = ToolContext(
            backend=backend, callbacks=sink or MemoryCallbackSink(), config=app_config, session_id="s-9", channel="web"
        )
        return await body(ToolExecutor(default_registry(), tools), ctx)


def run_calls(server, app_config, calls: list[tuple[str, dict, str | None]], tools=FAST, sink=None) -> list[ToolResult]:
    """Run (tool, args, idempotency_key) calls one after another in one session."""

    async def body(executor: ToolExecutor, ctx: ToolContext) -> list[ToolResult]:
        return [await executor.execute(n, a, ctx, idempotency_key=k) for n, a, k in calls]

    return asyncio.run(_with_executor(server, app_config, tools, body, sink))


def create_keys(server: BookingServer, endpoint: str = "create") -> list[str | None]:
    return [key for ep, key in server.seen_keys if ep == endpoint]


@pytest.mark.parametrize("after_commit", ["500", "drop"])
def test_fail_after_commit_then_retry_returns_the_same_booking(server, app_config, after_commit):
    server.knob("create").fail_after_commit = 1
    server.knob("create").after_commit = after_commit
    (result,) = run_calls(server, app_config, [("create_booking", BOOKING, None)])
    assert result.status is OutcomeStatus.OK and result.attempts == 2
    assert len(server.bookings) == 1
    (booking,) = server.bookings.values()
    assert result.data is not None and result.data["id"] == booking["id"]
    keys = create_keys(server)
    assert len(keys) == 2 and keys[0] == keys[1] == result.idempotency_key == booking["idempotency_key"]


def test_cancel_retried_after_commit_is_not_a_conflict(server, app_config):
    (created,) = run_calls(server, app_config, [("create_booking", BOOKING, None)])
    assert created.data is not None
    server.knob("cancel").fail_after_commit = 1
    (cancelled,) = run_calls(server, app_config, [("cancel_booking", {"booking_id": created.data["id"]}, None)])
    assert cancelled.status is OutcomeStatus.OK and cancelled.attempts == 2
    assert cancelled.data is not None and cancelled.data["status"] == "cancelled"
    keys = create_keys(server, "cancel")
    assert len(keys) == 2 and keys[0] == keys[1] is not None


def test_change_retried_after_commit_applies_once(server, app_config):
    (created,) = run_calls(server, app_config, [("create_booking", BOOKING, None)])
    assert created.data is not None
    server.knob("change").fail_after_commit = 1
    server.knob("change").after_commit = "drop"
    change = {"booking_id": created.data["id"], "end_date": "2030-06-06"}
    (changed,) = run_calls(server, app_config, [("change_booking", change, None)])
    assert changed.status is OutcomeStatus.OK and changed.attempts == 2
    assert changed.data is not None and changed.data["end"] == "2030-06-06" and changed.data["nights"] == 5
    assert server.bookings[created.data["id"]]["total_minor"] == 5 * 3500


def test_concurrent_duplicate_calls_with_one_key_make_exactly_one_booking(server, app_config):
    server.knob("create").delay_s = 0.05  # make the duplicates overlap on the server

    async def body(executor: ToolExecutor, ctx: ToolContext) -> list[ToolResult]:
        calls = [executor.execute("create_booking", BOOKING, ctx, idempotency_key="turn-7") for _ in range(5)]
        return list(await asyncio.gather(*calls))

    results = asyncio.run(_with_executor(server, app_config, FAST, body))
    assert all(r.status is OutcomeStatus.OK for r in results)
    assert len({r.data["id"] for r in results if r.data}) == 1
    assert len(server.bookings) == 1 and server.calls["create"] == 5


def test_separate_calls_get_separate_keys(server, app_config):
    other = {**BOOKING, "pet_name": "Muki"}
    first, second = run_calls(server, app_config, [("create_booking", BOOKING, None), ("create_booking", other, None)])
    assert first.ok and second.ok and first.idempotency_key != second.idempotency_key
    assert len(server.bookings) == 2


def test_one_key_reused_for_other_data_is_a_conflict(server, app_config):
    other = {**BOOKING, "pet_name": "Muki"}
    first, second = run_calls(
        server, app_config, [("create_booking", BOOKING, "k-1"), ("create_booking", other, "k-1")]
    )
    assert first.ok
    assert second.status is OutcomeStatus.NEEDS_CLARIFICATION and second.error_code == "conflict"
    assert len(server.bookings) == 1


def test_timed_out_creates_commit_at_most_once(server, app_config):
    """Timeouts do not mean 'not committed': the slow server books late, but only once."""
    server.knob("create").delay_s = 0.3
    sink = MemoryCallbackSink()
    tools = FAST.model_copy(update={"timeout_s": 0.1})
    (result,) = run_calls(server, app_config, [("create_booking", BOOKING, None)], tools=tools, sink=sink)
    assert result.status is OutcomeStatus.FALLBACK and result.attempts == 3
    (ticket,) = sink.tickets
    assert ticket.details["idempotency_key"] == result.idempotency_key
    assert (ticket.phone, ticket.name, ticket.channel) == ("+372 5555 1234", "Mari Maasikas", "web")
    deadline = time.monotonic() + 3.0
    while len(server.bookings) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # let the remaining slow attempts finish on the server
    assert len(server.bookings) == 1
    (booking,) = server.bookings.values()
    assert booking["idempotency_key"] == result.idempotency_key
    assert set(create_keys(server)) == {result.idempotency_key}
