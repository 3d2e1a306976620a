"""Playback control shared by output transports (file, SIP): pause/resume for the barge-in
policy, and the bookkeeping that puts playback marks on the turn timelines.

A transport calls :meth:`PlaybackGate.wait_open` at the top of ``write_audio_frame``: while
paused the write waits (pipecat keeps the rest of the reply queued behind it). An
interruption opens the gate and bumps its generation, so a write that was waiting learns
that its chunk must be dropped.
"""

from __future__ import annotations

import asyncio


class PlaybackGate:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.generation = 0

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def interrupt(self) -> None:
        self.generation += 1
        self._open.set()

    async def wait_open(self) -> bool:
        """Wait while paused. False when an interruption came meanwhile (drop the chunk)."""
        generation = self.generation
        await self._open.wait()
        return generation == self.generation
