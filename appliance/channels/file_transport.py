"""A pipecat transport over WAV files, and ``run_call``: one call from a WAV through the voice
pipeline to a WAV.

Input: a WAV of any sample rate (and channel count) is mixed to mono, resampled to 16 kHz and
fed as 20 ms frames, either in real time or faster than real time on the call's
:class:`~appliance.voice.clock.AudioClock` (the feeder waits while the appliance works on a
turn, so the output lands where infinitely fast models would put it, deterministically).
Output: the appliance's side of the call, on the same timeline as the input (silence where it
does not talk), written as a 16 kHz mono WAV.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSStartedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from appliance.core.ports import BrainPort
from appliance.voice.callrunner import CallRunner, CallSignal, CallSignalType, CallSpec
from appliance.voice.clock import AudioClock
from appliance.voice.frames import PlaybackControlFrame
from appliance.voice.interruption import BargeInAction
from appliance.voice.playback import PlaybackGate
from appliance.voice.recorder import CallRecorder, CallResult
from appliance.voice.supervision import SupervisionParams

log = logging.getLogger("appliance.channels.file")

RATE = 16000
FRAME_S = 0.02


def read_wav_16k(path: Path) -> bytes:
    """Any WAV -> mono 16 kHz signed 16-bit PCM. A mono 16 kHz 16-bit WAV passes through
    unchanged (sample for sample); anything else is mixed to mono, resampled and rescaled."""
    import numpy as np
    import soundfile as sf
    import soxr

    info = sf.info(str(path))
    if info.samplerate == RATE and info.channels == 1 and info.subtype == "PCM_16":
        data16, _ = sf.read(str(path), dtype="int16", always_2d=False)
        return np.asarray(data16, dtype="<i2").tobytes()
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE)
    # soundfile reads int16 as x / 32768: scale back the same way (no 32767/32768 shrink)
    return np.clip(np.round(mono * 32768.0), -32768, 32767).astype("<i2").tobytes()


def write_wav(path: Path, pcm16: bytes, rate: int = RATE) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)


class FileInputTransport(BaseInputTransport):
    def __init__(
        self,
        pcm16: bytes,
        *,
        params: TransportParams,
        recorder: CallRecorder,
        output: FileOutputTransport,
        realtime: bool = False,
        tail_idle_s: float = 0.6,
        max_tail_s: float = 30.0,
        hold_timeout_s: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        self._pcm = pcm16
        self._rec = recorder
        self._clock = recorder.clock
        self._output = output
        self._realtime = realtime
        if not realtime:
            self._clock.waits_for_work = True  # the feeder below waits for holds
        self._tail_idle_s = tail_idle_s
        self._max_tail_s = max_tail_s
        self._hold_timeout_s = hold_timeout_s
        self._feeder: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.on_done: Callable[[], None] | None = None
        self.ended_by = "input_end"
        self.fed_s = 0.0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._feeder is None:
            self._feeder = self.create_task(self._feed(), name="file-feeder")

    async def _push(self, chunk: bytes, n: int, t0: float) -> None:
        at = n * FRAME_S
        if self._realtime:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await self._clock.wait_until(round(at, 6))
            if not await self._clock.wait_idle(self._hold_timeout_s):
                log.error("a turn held the clock for more than %.0f s; going on", self._hold_timeout_s)
                self._rec.errors.append("clock hold timeout")
        await self.push_audio_frame(InputAudioRawFrame(audio=chunk, sample_rate=RATE, num_channels=1))
        self.fed_s = at + len(chunk) / 2 / RATE

    def _drained(self, *, input_done: bool = True) -> bool:
        now = self._clock.now()
        since = max(self._output.last_audio_end_s, self._input_end_s if input_done else 0.0)
        return (
            self._clock.idle
            and not self._rec.user_in_turn
            and not self._rec.bot_speaking
            and self._output.pending_s < 0.005
            and now - since >= self._tail_idle_s
        )

    async def _feed(self) -> None:
        step = int(RATE * FRAME_S) * 2
        t0 = time.monotonic()
        n = 0
        self._input_end_s = len(self._pcm) / 2 / RATE
        try:
            for i in range(0, len(self._pcm), step):
                chunk = self._pcm[i : i + step]
                chunk += bytes(step - len(chunk))
                await self._push(chunk, n, t0)
                n += 1
                if self._rec.end_of_conversation and self._drained(input_done=False):
                    self.ended_by = "transfer" if self._rec.transfer_to else "end_of_conversation"
                    return
            silence = bytes(step)
            tail_frames = int(self._max_tail_s / FRAME_S)
            for _ in range(tail_frames):
                if self._drained():
                    if self._rec.end_of_conversation:
                        self.ended_by = "transfer" if self._rec.transfer_to else "end_of_conversation"
                    return
                await self._push(silence, n, t0)
                n += 1
            self.ended_by = "timeout"
        finally:
            # let the last frame be consumed before the pipeline is ended
            if not self._realtime:
                await self._clock.wait_until(round(self.fed_s, 6))
            self.done.set()
            if self.on_done is not None:
                self.on_done()


class FileOutputTransport(BaseOutputTransport):
    """Writes the appliance's audio at its place on the call's audio timeline."""

    def __init__(self, *, params: TransportParams, recorder: CallRecorder, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._rec = recorder
        self._clock: AudioClock = recorder.clock
        self.gate = PlaybackGate()
        self._buf = bytearray()
        self._cursor_s = 0.0  # where the next chunk goes (when not behind the clock)
        self._carry = b""  # audio cut off by a pause, played first on resume
        self._first_pending = False
        self._dropping = False  # after an interruption, until the next reply starts
        self.last_audio_end_s = 0.0
        self._in_s = 0.0  # audio received from the pipeline
        self._out_s = 0.0  # audio written (or dropped)

    @property
    def pending_s(self) -> float:
        return max(0.0, self._in_s - self._out_s)

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, PlaybackControlFrame):
            self._control(frame.action, frame.at_s)
        elif isinstance(frame, InterruptionFrame):
            self._control(BargeInAction.INTERRUPT)
        elif isinstance(frame, TTSStartedFrame):
            self._dropping = False
        elif isinstance(frame, OutputAudioRawFrame) and direction is FrameDirection.DOWNSTREAM:
            self._in_s += len(frame.audio) / 2 / frame.sample_rate
        await super().process_frame(frame, direction)

    def _control(self, action: BargeInAction, at_s: float | None = None) -> None:
        # cut where the policy decided (on the audio axis), not where this frame arrived
        now = self._clock.now() if at_s is None else min(at_s, self._clock.now())
        if action is BargeInAction.PAUSE:
            self.gate.pause()
            self._carry = self._cut(now) + self._carry
        elif action is BargeInAction.RESUME:
            self.gate.resume()
        elif action is BargeInAction.INTERRUPT:
            self.gate.interrupt()
            self._dropping = True
            self._cut(now)
            self._carry = b""
            self._out_s = self._in_s

    def _cut(self, at_s: float) -> bytes:
        """Remove audio written beyond ``at_s`` (playback stops there); return it."""
        if self._cursor_s <= at_s:
            return b""
        start = int(round(at_s * RATE)) * 2
        cut = bytes(self._buf[start:])
        del self._buf[start:]
        self._cursor_s = at_s
        self.last_audio_end_s = at_s
        return cut

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        if direction is FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotStartedSpeakingFrame):
                self._first_pending = True
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self._rec.playback_stopped(self._cursor_s if self._cursor_s > 0 else self._clock.now())
        await super().push_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        dur = len(frame.audio) / 2 / RATE
        if not await self.gate.wait_open() or (self._dropping and frame.interruptible):
            self._out_s += dur
            return True  # interrupted: dropped
        audio = self._carry + frame.audio
        self._carry = b""
        start = max(self._cursor_s, self._clock.now())
        offset = int(round(start * RATE)) * 2
        if len(self._buf) < offset:
            self._buf.extend(bytes(offset - len(self._buf)))
        self._buf[offset : offset + len(audio)] = audio
        self._cursor_s = start + len(audio) / 2 / RATE
        self.last_audio_end_s = self._cursor_s
        self._out_s += dur
        if self._first_pending:
            self._first_pending = False
            self._rec.playback_started(start)
        await self._clock.wait_until(start)  # pace: one chunk ahead of the clock
        return True

    def audio(self, length_s: float) -> bytes:
        n = int(round(length_s * RATE)) * 2
        data = bytes(self._buf[:n])
        return data + bytes(max(0, n - len(data)))


class FileMedia:
    """The file transports as the call runner sees them: the audio clock is the call's clock;
    the feeder decides when the input (and its tail) is over and says so with INPUT_END."""

    graceful_end = True

    def __init__(self, source: FileInputTransport, output: FileOutputTransport, recorder: CallRecorder) -> None:
        self.signals: asyncio.Queue[CallSignal] = asyncio.Queue()
        self._source, self._output, self._clock = source, output, recorder.clock
        source.on_done = lambda: self.signals.put_nowait(CallSignal(CallSignalType.INPUT_END, reason=source.ended_by))

    @property
    def input_transport(self) -> FileInputTransport:
        return self._source

    @property
    def output_transport(self) -> FileOutputTransport:
        return self._output

    def now(self) -> float:
        return self._clock.now()

    def output_idle(self) -> bool:
        return self._output.pending_s < 0.005

    def last_caller_audio(self) -> float:
        return self._clock.now()  # a file never goes silent on the line: its tail decides

    def flush_output(self) -> None:
        return None


# A file call ends when its input (and tail) is over: the feeder decides, deterministically on the
# audio clock; the runner's real-time checks (drain, re-prompts, silence) stay out of its way.
FILE_SUPERVISION = SupervisionParams(max_call_s=math.inf, caller_silence_s=math.inf, no_input_s=0, drain_s=math.inf)


async def run_call(
    wav_in: Path,
    wav_out: Path,
    *,
    brain: BrainPort,
    stt: Any,
    tts: Any,
    session_id: str,
    timeline_out: Path | None = None,
    config: Any | None = None,
    realtime: bool = False,
    vad: Any | None = None,
    settings: Any | None = None,
    greet: bool = False,
    greeting: Any | None = None,
    turn_model: Any | None = None,
    caller_id: str | None = None,
    on_event: Any | None = None,
) -> CallResult:
    """Run one call from ``wav_in`` through the voice pipeline (the one
    :class:`~appliance.voice.callrunner.CallRunner`); write the appliance's side to ``wav_out``
    (aligned with the input) and, optionally, the turn timelines as JSON.

    ``greet``: the brain greets first (``BrainPort.greet``); ``greeting`` (a Reply or an async
    function returning one) overrides what is said. Every turn's timeline is stored with its
    reply (``BrainPort.record_timeline``) before this returns. ``turn_model``: the end-of-turn
    model of ``turn_strategy = "smart_turn"`` (default: pipecat's smart-turn, shared by the
    process)."""
    from appliance.voice.pipeline import VoiceSettings

    s = settings or VoiceSettings.from_config(config)
    runner = CallRunner(
        CallSpec(
            session_id=session_id,
            brain=brain,
            stt=stt,
            tts=tts,
            settings=s,
            supervision=FILE_SUPERVISION,
            caller_id=caller_id,
            greet=greet,
            greeting=greeting,
            vad=vad,
            turn_model=turn_model,
            sample_rate=RATE,
            poll_s=0.02,
            on_event=on_event,
        )
    )
    recorder = runner.recorder
    pcm = await asyncio.to_thread(read_wav_16k, Path(wav_in))
    params = TransportParams(
        audio_in_enabled=True,
        audio_in_sample_rate=RATE,
        audio_out_enabled=True,
        audio_out_sample_rate=RATE,
        audio_out_end_silence_secs=0,
        audio_out_write_timeout_secs=600.0,
    )
    output = FileOutputTransport(params=params, recorder=recorder)
    source = FileInputTransport(pcm, params=params, recorder=recorder, output=output, realtime=realtime)
    result = await runner.run(FileMedia(source, output, recorder))

    duration = max(source.fed_s, output.last_audio_end_s)
    await asyncio.to_thread(write_wav, Path(wav_out), output.audio(duration))
    result = dataclasses.replace(result, duration_s=round(duration, 3))
    if timeline_out is not None:
        text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2)
        await asyncio.to_thread(Path(timeline_out).write_text, text, encoding="utf-8")
    return result
