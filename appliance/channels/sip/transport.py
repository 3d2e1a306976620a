"""A pipecat transport over one SIP call, so the voice pipeline runs unchanged on the phone.

Input: every 20 ms the caller's audio that the pjmedia clock thread left in the call's
``AudioBuffers.rx`` is pushed as ``InputAudioRawFrame`` (16 kHz mono; pjmedia's conference
bridge already resampled 8 kHz PCMU/PCMA). Output: ``OutputAudioRawFrame`` chunks go to
``AudioBuffers.tx``; a write waits while more than ``max_queued_s`` (80 ms) is queued, so
barge-in can stop playback within that much audio, and an interruption flushes the queue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from appliance.channels.sip.call import FRAME_BYTES, RATE, AudioBuffers
from appliance.channels.sip.recording import CallRecording
from appliance.voice.frames import PlaybackControlFrame
from appliance.voice.interruption import BargeInAction
from appliance.voice.playback import PlaybackGate
from appliance.voice.recorder import CallRecorder

log = logging.getLogger("appliance.sip")


def sip_transport_params() -> TransportParams:
    return TransportParams(
        audio_in_enabled=True,
        audio_in_sample_rate=RATE,
        audio_out_enabled=True,
        audio_out_sample_rate=RATE,
        audio_out_10ms_chunks=2,
        audio_out_end_silence_secs=0,
    )


class SipInputTransport(BaseInputTransport):
    def __init__(
        self,
        audio: AudioBuffers,
        *,
        params: TransportParams,
        recording: CallRecording | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        self._audio = audio
        self._recording = recording
        self._reader: asyncio.Task[None] | None = None
        self._carry = b""

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._reader is None:
            self._reader = self.create_task(self._read(), name="sip-input")

    async def stop(self, frame: Any) -> None:
        await self._stop_reader()
        await super().stop(frame)

    async def cancel(self, frame: Any) -> None:
        await self._stop_reader()
        await super().cancel(frame)

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            await self.cancel_task(self._reader)
            self._reader = None

    async def _read(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            data = self._carry + self._audio.drain(self._audio.rx)
            sent = self._audio.drain(self._audio.sent)
            if self._recording is not None:
                self._recording.add(data[len(self._carry) :], sent)
            usable = len(data) // FRAME_BYTES * FRAME_BYTES
            self._carry = data[usable:]
            for i in range(0, usable, FRAME_BYTES):
                await self.push_audio_frame(
                    InputAudioRawFrame(audio=data[i : i + FRAME_BYTES], sample_rate=RATE, num_channels=1)
                )


class SipOutputTransport(BaseOutputTransport):
    def __init__(
        self,
        audio: AudioBuffers,
        *,
        params: TransportParams,
        recorder: CallRecorder,
        max_queued_s: float = 0.08,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        self._audio = audio
        self._rec = recorder
        self._max_queued_s = max_queued_s
        self.gate = PlaybackGate()
        self._first_pending = False
        self.audio_out_s = 0.0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, PlaybackControlFrame):
            self._control(frame.action)
        elif isinstance(frame, InterruptionFrame):
            self._control(BargeInAction.INTERRUPT)
        await super().process_frame(frame, direction)

    def _control(self, action: BargeInAction) -> None:
        if action is BargeInAction.PAUSE:
            self.gate.pause()
        elif action is BargeInAction.RESUME:
            self.gate.resume()
        elif action is BargeInAction.INTERRUPT:
            self.gate.interrupt()
            self._audio.flush_tx()

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        if direction is FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotStartedSpeakingFrame):
                self._first_pending = True
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self._rec.playback_stopped(self._rec.clock.now())
        await super().push_frame(frame, direction)

    @property
    def queued_s(self) -> float:
        return self._audio.tx_queued_s()

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        generation = self.gate.generation
        if not await self.gate.wait_open():
            return True  # interrupted while paused: dropped
        while self._audio.tx_queued_s() > self._max_queued_s:
            await asyncio.sleep(0.01)
            if self.gate.generation != generation:
                return True  # interrupted while waiting: dropped
        if self.gate.paused:
            if not await self.gate.wait_open():
                return True
        if self._first_pending:
            self._first_pending = False
            self._rec.playback_started(self._rec.clock.now())
        self._audio.queue_tx(frame.audio)
        self.audio_out_s += len(frame.audio) / 2 / RATE
        return True
