"""The call's audio clock, shared by the transport and the voice processors.

Audio time is the position in the caller's audio stream that the turn processor has consumed.
Output audio is placed on the same axis, so the input and output WAVs line up.

For faster-than-real-time runs (file transport, tests, benchmarks) the clock can be *held*
while the appliance works on a turn (STT, brain, TTS): the feeder waits for it to be idle
before it feeds the next frame, so the output lands where it would with infinitely fast
models, deterministically. Real-time transports never wait on holds.
"""

from __future__ import annotations

import asyncio
import time


class AudioClock:
    def __init__(self) -> None:
        self._now = 0.0
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []
        self._holds: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._wall0 = time.monotonic()
        # True in faster-than-real-time runs (the file transport waits for holds): the caller's
        # audio stands still while a turn is worked on, so slowness is never heard as silence
        # and a "one moment" timed by the wall clock would land in the middle of the audio
        self.waits_for_work = False

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        """Seconds of wall time since the clock was created."""
        return time.monotonic() - self._wall0

    def advance_to(self, t: float) -> None:
        if t <= self._now:
            return
        self._now = t
        still: list[tuple[float, asyncio.Future[None]]] = []
        for at, fut in self._waiters:
            if at <= t + 1e-9:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((at, fut))
        self._waiters = still

    async def wait_until(self, t: float) -> None:
        if t <= self._now + 1e-9:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((t, fut))
        await fut

    # -- holds (faster-than-real-time runs) -----------------------------------------

    def hold(self, key: str) -> None:
        self._holds.add(key)
        self._idle.clear()

    def release(self, key: str) -> None:
        self._holds.discard(key)
        if not self._holds:
            self._idle.set()

    @property
    def idle(self) -> bool:
        return not self._holds

    async def wait_idle(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
