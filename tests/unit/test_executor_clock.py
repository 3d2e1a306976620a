"""The executor's retries, backoff, timeouts and slow-tool notice on a virtual clock: checked with
numbers, and no test waits for real."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from appliance.core.config import ToolsConfig, load_config
from appliance.core.errors import BackendUnavailable, NotFound
from appliance.core.messages import OutcomeStatus
from appliance.tools import SlowNotice, ToolContext, ToolExecutor, ToolRegistry, ToolResult, tool
from appliance.tools.results import Transfer
from tests.support.callback_sink import MemoryCallbackSink
from tests.support.fakes import VirtualClock

CONFIG = load_config(environ={}, use_system=False)


class Script:
    """What the fake tool does on each attempt: a number of seconds to take, or an exception."""

    def __init__(self, clock: VirtualClock, steps: list[float | Exception]) -> None:
        self.clock, self.steps, self.attempts = clock, list(steps), 0

    async def __call__(self) -> Transfer:
        self.attempts += 1
        step = self.steps.pop(0) if self.steps else 0.0
        if isinstance(step, Exception):
            raise step
        await self.clock.sleep(step)
        return Transfer("200", "done")


def registry(script: Script) -> ToolRegistry:
    @tool
    async def work(ctx: ToolContext, phone: str = "+3725551234") -> Transfer:
        """A tool whose attempts follow a script.

        Args:
            phone: A number for the fallback ticket.
        """
        return await script()

    return ToolRegistry([work])


def run(
    steps: list[float | Exception], tools: ToolsConfig, **kw: Any
) -> tuple[ToolResult, VirtualClock, Script, MemoryCallbackSink]:
    clock = VirtualClock()
    script = Script(clock, steps)
    sink = MemoryCallbackSink()
    executor = ToolExecutor(registry(script), tools, timer=clock, rand=lambda: 0.5)
    ctx = ToolContext(backend=None, callbacks=sink, config=CONFIG)  # type: ignore[arg-type]
    result = asyncio.run(executor.execute("work", {}, ctx, **kw))
    return result, clock, script, sink


TOOLS = ToolsConfig(timeout_s=2.0, max_retries=3, backoff_base_s=0.1, backoff_max_s=0.3, slow_notice_s=0)


def test_backoff_is_exponential_with_full_jitter() -> None:
    down = BackendUnavailable("down")
    result, clock, script, sink = run([down, down, down, down], TOOLS)
    assert result.status is OutcomeStatus.FALLBACK and result.attempts == 4 == script.attempts
    assert clock.slept[-3:] == pytest.approx([0.05, 0.1, 0.15])  # 0.5 * min(0.3, 0.1 * 2**n)
    assert result.duration_ms == pytest.approx(300.0)
    assert [t.phone for t in sink.tickets] == ["+3725551234"]


def test_a_recovered_backend_stops_the_retries() -> None:
    result, clock, script, _ = run([BackendUnavailable("down"), 0.4], TOOLS)
    assert result.ok and result.attempts == 2 and script.attempts == 2
    assert clock.monotonic() == pytest.approx(0.05 + 0.4)
    assert result.value == Transfer("200", "done") and result.data["transfer_to"] == "200"


def test_a_timeout_is_retried_then_falls_back_without_real_waiting() -> None:
    started = time.monotonic()
    result, clock, script, sink = run([30.0, 30.0, 30.0, 30.0], TOOLS)
    assert time.monotonic() - started < 5.0  # four 2-second timeouts ran on the virtual clock
    assert result.status is OutcomeStatus.FALLBACK and result.error_code == "backend_timeout"
    assert result.attempts == 4 and len(sink.tickets) == 1
    assert result.duration_ms == pytest.approx(4 * 2000.0 + 300.0)


def test_a_call_just_under_the_timeout_succeeds() -> None:
    result, clock, _, _ = run([1.999], TOOLS)
    assert result.ok and result.attempts == 1 and clock.monotonic() == pytest.approx(1.999)


def test_a_client_error_is_not_retried() -> None:
    result, clock, script, sink = run([NotFound("no such booking")], TOOLS)
    assert result.status is OutcomeStatus.NEEDS_CLARIFICATION and result.error_code == "not_found"
    assert script.attempts == 1 and clock.slept == [] and sink.tickets == []


def test_the_slow_notice_fires_once_at_its_time() -> None:
    notices: list[SlowNotice] = []

    async def on_slow(notice: SlowNotice) -> None:
        notices.append(notice)

    tools = TOOLS.model_copy(update={"slow_notice_s": 1.0})
    result, _, _, _ = run([BackendUnavailable("down"), 1.5], tools, on_slow=on_slow)
    assert result.ok and result.attempts == 2
    assert len(notices) == 1
    assert notices[0].elapsed_s == pytest.approx(1.0) and notices[0].attempt == 2


def test_no_slow_notice_for_a_quick_call() -> None:
    notices: list[SlowNotice] = []
    tools = TOOLS.model_copy(update={"slow_notice_s": 1.0})
    result, _, _, _ = run([0.9], tools, on_slow=notices.append)
    assert result.ok and notices == []


def test_virtual_clock_is_a_wall_clock_too() -> None:
    clock = VirtualClock()
    before = clock()
    clock.advance(90)
    assert (clock() - before).total_seconds() == 90 and clock.monotonic() == 90
