"""The one call runner: every voice call (SIP, ``appliance call`` from a WAV, the benchmarks)
runs through :class:`CallRunner`.

It greets through the brain, runs the voice pipeline, feeds the pure
:class:`~appliance.voice.supervision.CallSupervisor` (max duration, caller silence, no-input
re-prompts, drain after goodbye, DTMF) and acts on its decisions. On every ending (hang-up,
transfer, timeout, input end, error) it flushes the turns still in flight (STT and brain calls
finish, so their turns are stored), stores every timeline and publishes the end event.

A channel provides a :class:`CallMedia`: the pipecat input/output transports for the call,
a clock, whether its output is idle, when the caller last made a sound, and a queue of
:class:`CallSignal` (digits, hang-up, end of input). What happens after the pipeline stops
(a SIP transfer with REFER, writing a WAV) is the channel's business, told by the
:class:`~appliance.voice.recorder.CallResult`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from appliance.core.messages import Channel, Event, EventType, Reply
from appliance.core.ports import BrainPort
from appliance.voice.degraded import ApologyBank, shared_apologies
from appliance.voice.frames import KeypadFrame, SpeakFrame
from appliance.voice.pipeline import VoiceSettings, build_voice_pipeline
from appliance.voice.recorder import CallRecorder, CallResult
from appliance.voice.stopbudget import StopBudget
from appliance.voice.supervision import (
    CallSupervisor,
    EndReason,
    SupervisionParams,
    SupervisorAction,
    SupervisorActionType,
)
from appliance.voice.texts import voice_text

log = logging.getLogger("appliance.voice")


class CallSignalType(enum.StrEnum):
    DTMF = "dtmf"
    HANGUP = "hangup"
    INPUT_END = "input_end"  # a file call ran out of input (``reason``: how its tail ended)


@dataclass(frozen=True, slots=True)
class CallSignal:
    type: CallSignalType
    digit: str | None = None
    reason: str | None = None


class CallMedia(Protocol):
    """One call's media, as a channel provides it to the runner."""

    signals: asyncio.Queue[CallSignal]
    graceful_end: bool  # True: end the pipeline with an EndFrame (a file: play what is queued)

    @property
    def input_transport(self) -> Any: ...

    @property
    def output_transport(self) -> Any: ...

    def now(self) -> float:
        """Seconds on the call's supervision clock."""

    def output_idle(self) -> bool:
        """Nothing of the appliance's audio is queued for the caller."""

    def last_caller_audio(self) -> float:
        """When (on :meth:`now`'s axis) the caller last sent non-silent audio."""

    def flush_output(self) -> None:
        """Drop queued output (the call is ending)."""


GreetingSource = Reply | Callable[[], Awaitable[Reply]]


@dataclass
class CallSpec:
    """What one call needs. ``greet``: the brain greets first (``BrainPort.greet``);
    ``greeting`` overrides it with a given Reply (or async function). ``notices``: template
    keys spoken before the greeting (the recording notice)."""

    session_id: str
    brain: BrainPort
    stt: Any
    tts: Any
    settings: VoiceSettings = field(default_factory=VoiceSettings)
    supervision: SupervisionParams = field(default_factory=SupervisionParams)
    caller_id: str | None = None
    greet: bool = True
    greeting: GreetingSource | None = None
    notices: tuple[str, ...] = ()
    vad: Any | None = None
    turn_model: Any | None = None
    sample_rate: int = 16000
    poll_s: float = 0.05
    flush_timeout_s: float = 8.0  # how long in-flight turns may take to be stored after a hang-up
    # DEGRADED events (an engine failed mid-call) and, with end_event, CALL_ENDED go here
    on_event: Callable[[Event], Any] | None = None
    end_event: bool = True
    # degraded mode: the apology + keypad menu, recorded at start (prepared here when missing)
    apologies: ApologyBank | None = None
    # the channel's stop budget: on a stop (SIGTERM) the flush and the pipeline's end take only
    # their share of one deadline, so the channel's goodbye still fits (voice/stopbudget.py)
    stop: StopBudget | None = None


class CallRunner:
    """One voice call from start to a stored end. Create it, build the channel's media with
    :attr:`recorder`, then ``await run(media)``."""

    def __init__(self, spec: CallSpec) -> None:
        self.spec = spec
        self.recorder = CallRecorder(session_id=spec.session_id)
        self.supervisor = CallSupervisor(spec.supervision)
        self.end_reason: EndReason | None = None
        self.ended_by: str = ""
        self._caller_turns_seen = 0
        self._degraded_seen = 0

    async def _greeting(self) -> Reply:
        spec = self.spec
        if spec.greeting is not None:
            reply = spec.greeting if isinstance(spec.greeting, Reply) else await spec.greeting()
        else:
            reply = await spec.brain.greet(spec.session_id, Channel.VOICE, caller_id=spec.caller_id)
        if spec.notices:
            language = reply.language or spec.settings.default_language
            prefix = " ".join(voice_text(k, language) for k in spec.notices)
            # each part keeps its own voice (the multilingual greeting: "Hello! Tere! Здравствуйте!")
            parts = ((prefix, language), *reply.spoken_parts) if reply.spoken_parts else ()
            reply = replace(reply, speakable=f"{prefix} {reply.speakable or reply.text}", spoken_parts=parts)
        return reply

    async def run(self, media: CallMedia) -> CallResult:
        from pipecat.frames.frames import EndFrame
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.workers.runner import WorkerRunner

        spec, rec = self.spec, self.recorder
        greeting = self._greeting if (spec.greet or spec.greeting is not None) else None
        if spec.apologies is None:
            spec.apologies = shared_apologies(spec.sample_rate)
        if spec.settings.default_language not in spec.apologies.audio:
            await spec.apologies.prepare([spec.settings.default_language])
        pipeline, parts = build_voice_pipeline(
            input_transport=media.input_transport,
            output_transport=media.output_transport,
            brain=spec.brain,
            stt=spec.stt,
            tts=spec.tts,
            recorder=rec,
            settings=spec.settings,
            vad=spec.vad,
            greeting=greeting,
            turn_model=spec.turn_model,
            with_parts=True,
            apologies=spec.apologies,
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=spec.sample_rate, audio_out_sample_rate=spec.sample_rate),
            cancel_on_idle_timeout=False,
        )
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        run_task = asyncio.ensure_future(runner.run())
        self.supervisor.start_s = media.now()
        graceful = False
        try:
            while not run_task.done():
                actions = await self._step(media)
                if await self._act(actions, worker):
                    graceful = media.graceful_end and self.end_reason in (EndReason.INPUT_END, EndReason.COMPLETED)
                    break
            else:
                self._ended(EndReason.ERROR, "pipeline_stopped")
        except asyncio.CancelledError:
            self._ended(EndReason.ERROR, "shutdown")
            raise
        finally:
            await self._finish(worker, run_task, parts, media, graceful, EndFrame)
        return rec.result(ended_by=self.ended_by, duration_s=media.now() - self.supervisor.start_s)

    async def _step(self, media: CallMedia) -> list[SupervisorAction]:
        sup, rec = self.supervisor, self.recorder
        try:
            signal: CallSignal | None = await asyncio.wait_for(media.signals.get(), self.spec.poll_s)
        except TimeoutError:
            signal = None
        now = media.now()
        actions: list[SupervisorAction] = []
        if signal is not None:
            if signal.type is CallSignalType.HANGUP:
                actions += sup.hangup(now)
            elif signal.type is CallSignalType.INPUT_END:
                self._input_end_reason = signal.reason
                actions += sup.input_end(now)
            elif signal.digit is not None:
                actions += sup.dtmf(signal.digit, now)
        if rec.caller_turns > self._caller_turns_seen:
            self._caller_turns_seen = rec.caller_turns
            sup.caller_turn(now)
        if rec.end_of_conversation or rec.transfer_to:
            sup.reply(now, end_of_conversation=rec.end_of_conversation, transfer_to=rec.transfer_to)
        if len(rec.degraded) > self._degraded_seen:  # staff learn once per failed engine and call
            for component in dict.fromkeys(rec.degraded[self._degraded_seen :]):
                if component not in rec.degraded[: self._degraded_seen]:
                    await self._publish(EventType.DEGRADED, {"component": component, "mid_call": True})
            self._degraded_seen = len(rec.degraded)
        idle = rec.clock.idle and not rec.bot_speaking and not rec.user_in_turn and media.output_idle()
        actions += sup.tick(now, idle=idle, last_caller_audio_s=media.last_caller_audio())
        return actions

    def _ended(self, reason: EndReason, ended_by: str | None = None) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.ended_by = ended_by or str(reason)

    async def _act(self, actions: list[SupervisorAction], worker: Any) -> bool:
        """Carry out the supervisor's decisions; True when the call ends."""
        rec, spec = self.recorder, self.spec
        for a in actions:
            if a.type is SupervisorActionType.DTMF and a.digit is not None:
                await worker.queue_frame(KeypadFrame(a.digit))
            elif a.type is SupervisorActionType.REPROMPT:
                language = rec.language or spec.settings.default_language
                await worker.queue_frame(SpeakFrame(voice_text("still_there", language), language, notice=True))
            elif a.type is SupervisorActionType.TRANSFER:
                self._ended(EndReason.TRANSFERRED, "transfer")
                return True
            elif a.type is SupervisorActionType.END and a.reason is not None:
                if a.reason is EndReason.INPUT_END or (a.reason is EndReason.COMPLETED and self._input_end_reason):
                    self._ended(a.reason, self._input_end_reason or str(a.reason))
                else:
                    self._ended(a.reason, "end_of_conversation" if a.reason is EndReason.COMPLETED else None)
                return True
        return False

    _input_end_reason: str | None = None

    async def _finish(
        self, worker: Any, run_task: asyncio.Future[Any], parts: Any, media: CallMedia, graceful: bool, end: Any
    ) -> None:
        """Every ending: let the turns in flight reach the brain and be stored, stop the
        pipeline, store every timeline, publish the end event."""
        rec, spec = self.recorder, self.spec
        loop, stop = asyncio.get_running_loop(), spec.stop or StopBudget(float("inf"))
        if not graceful:
            media.flush_output()
        flush_s = stop.flush_s(loop.time(), spec.flush_timeout_s)
        try:
            await asyncio.wait_for(parts.flush(), flush_s)
        except (TimeoutError, Exception):  # noqa: BLE001 - a stuck turn must not keep the call open
            log.warning("call %s: turns still in flight after %.1f s", spec.session_id, flush_s)
            rec.errors.append("flush timeout")
        if not run_task.done():
            try:
                if graceful:
                    await worker.queue_frame(end())
                    await asyncio.wait_for(asyncio.shield(run_task), 30)
                else:
                    await asyncio.wait_for(worker.cancel(), stop.pipeline_wait_s(loop.time(), 5.0))
                    await asyncio.wait_for(asyncio.shield(run_task), stop.pipeline_wait_s(loop.time(), 5.0))
            except (TimeoutError, Exception):  # noqa: BLE001
                log.debug("pipeline stop", exc_info=True)
                run_task.cancel()
        await rec.finish()  # log the turns not logged yet; store every timeline
        if spec.end_event:
            await self._publish(EventType.CALL_ENDED, {"ended_by": self.ended_by, "turns": len(rec.timelines)})

    async def _publish(self, kind: EventType, data: dict[str, Any]) -> None:
        if self.spec.on_event is None:
            return
        try:
            out = self.spec.on_event(Event(kind, data, self.spec.session_id))
            if asyncio.iscoroutine(out):
                await out
        except Exception:  # noqa: BLE001
            log.exception("call %s: event sink failed", self.spec.session_id)
