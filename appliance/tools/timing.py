"""The time the tool executor runs on: its clock, its backoff sleeps, its timeouts, its timers.

One small port so tests can hand the executor a virtual clock (``tests/support/fakes.py:
VirtualClock``) and check retries, backoff, timeouts and the slow-tool notice with numbers,
without waiting. :class:`LoopTimer` is the real one (the asyncio event loop's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timer(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that only moves forward."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        """``aw``'s result, or ``TimeoutError`` (``aw`` cancelled) after ``timeout`` seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` on the event loop after ``delay`` seconds unless cancelled first."""
        ...


class LoopTimer:
    """Real time: ``time.monotonic`` and the running asyncio loop."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        return await asyncio.wait_for(aw, timeout)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)
