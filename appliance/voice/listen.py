"""The caller's side of the voice path: ``VoiceInputProcessor``.

Caller audio -> Silero VAD (pipecat's bundled analyzer, in a thread) -> TurnSegmenter (turns) +
InterruptionPolicy (barge-in) [+ a TurnModel (smart-turn) on the turn's audio at SPECULATIVE_END].

pipecat's STTService/TTSService base classes are built for streaming cloud services (per-frame
``run_stt``, an LLM-token text aggregator, audio contexts); ours are batch engines that need
the language per sentence, a protected flag and speculation, so the voice path's processors
(``listen``, ``transcribe``, ``respond``, ``speak``; assembled in :mod:`appliance.voice.pipeline`)
are plain FrameProcessors that speak pipecat's frames (TranscriptionFrame, TTSStarted/Audio/Stopped).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.voice.frames import (
    PlaybackControlFrame,
    ProtectedSpeechFrame,
    SpeculativeTranscriptFrame,
    TurnResumedFrame,
    UtteranceAudioFrame,
)
from appliance.voice.interruption import BargeInAction, InterruptionPolicy
from appliance.voice.recorder import CallRecorder
from appliance.voice.smart_turn import TurnModel, TurnModelVerdict, turn_model_executor
from appliance.voice.timeline import Mark
from appliance.voice.turns import TurnEventType, TurnSegmenter

log = logging.getLogger("appliance.voice")


def _confidence(vad: Any, window: bytes) -> float:
    import numpy as np

    return float(np.asarray(vad.voice_confidence(window)).reshape(-1)[0])


class VoiceInputProcessor(FrameProcessor):
    """VAD, turn detection and barge-in, right after the input transport.

    Caller audio is consumed here (not forwarded): each turn's audio travels on as one
    :class:`UtteranceAudioFrame`. After each input frame the shared audio clock advances.

    ``turn_model`` (``turn_strategy = "smart_turn"``): at each SPECULATIVE_END the turn's audio
    goes to the model in a worker thread and its verdict to ``TurnSegmenter.model_verdict``;
    speculative transcripts then carry no verdict (the STT processor runs with ``verdicts=False``).
    """

    def __init__(
        self,
        *,
        recorder: CallRecorder,
        segmenter: TurnSegmenter | None = None,
        policy: InterruptionPolicy | None = None,
        vad: Any | None = None,
        preroll_s: float = 0.3,
        turn_model: TurnModel | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._rec = recorder
        self._turn_model = turn_model
        self._model_tasks: set[asyncio.Task[None]] = set()
        self._seg = segmenter or TurnSegmenter()
        self._policy = policy or InterruptionPolicy()
        self._vad = vad  # a pipecat VADAnalyzer; Silero on the shared session when None
        self._preroll_s = preroll_s
        self._rate = 16000
        self._window_bytes = 1024
        self._pending = bytearray()  # audio not yet scored by the VAD
        self._buf = bytearray()  # audio kept for the current/next turn
        self._buf_start_s = 0.0  # stream time of _buf[0]
        self._fed_s = 0.0  # stream time of audio received
        self._turn: int | None = None
        self._turn_barged = False  # this turn interrupted the appliance
        self._turn_overlapped = False  # this turn began while the appliance was talking
        self._spec_holds: set[str] = set()  # clock holds while a speculative transcript is awaited
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")

    @property
    def segmenter(self) -> TurnSegmenter:
        return self._seg

    @property
    def policy(self) -> InterruptionPolicy:
        return self._policy

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self._start(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, InputAudioRawFrame):
            await self._audio(frame)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._policy.bot_started()
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._policy.bot_stopped()
            if self._policy.protected:
                self._policy.protected_end()
            await self.push_frame(frame, direction)
        elif isinstance(frame, ProtectedSpeechFrame):
            await self._barge_in(self._policy.protected_start())
        elif isinstance(frame, SpeculativeTranscriptFrame):
            await self._transcript(frame)
        elif isinstance(frame, (EndFrame, CancelFrame)):
            for task in list(self._model_tasks):
                task.cancel()
            self._executor.shutdown(wait=False)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _start(self, frame: StartFrame) -> None:
        # the rates come from the pipeline's FrameProcessorSetup (StartFrame's are deprecated);
        # read here rather than in a setup() override, whose signature narrows BaseObject.setup
        self._rate = self.processor_setup.audio_in_sample_rate
        if self._vad is None:  # one Silero session per process, this call's own state
            from appliance.voice.shared_vad import call_vad

            self._vad = call_vad()
        self._vad.set_sample_rate(self._rate)
        self._window_bytes = self._vad.num_frames_required() * 2
        if self._turn_model is not None:  # load once per process, off the event loop
            await asyncio.get_running_loop().run_in_executor(turn_model_executor(), self._turn_model.load)

    async def _audio(self, frame: InputAudioRawFrame) -> None:
        if frame.sample_rate != self._rate:
            log.warning("input audio at %s Hz, expected %s Hz", frame.sample_rate, self._rate)
        self._pending.extend(frame.audio)
        self._buf.extend(frame.audio)
        self._fed_s += len(frame.audio) / 2 / self._rate
        loop = asyncio.get_running_loop()
        while len(self._pending) >= self._window_bytes:
            window = bytes(self._pending[: self._window_bytes])
            del self._pending[: self._window_bytes]
            prob = await loop.run_in_executor(self._executor, _confidence, self._vad, window)
            await self._score(len(window) / 2 / self._rate, prob)
        if self._turn is None:
            self._trim_preroll()
        self._rec.clock.advance_to(round(self._fed_s, 6))

    async def _score(self, window_s: float, prob: float) -> None:
        await self._barge_in(self._policy.process(window_s, prob))
        for ev in self._seg.process(window_s, prob):
            if ev.type is TurnEventType.SPEECH_START:
                self._turn = self._rec.new_turn()
                self._rec.user_in_turn = True
                self._turn_barged = False
                self._turn_overlapped = self._policy.bot_speaking and not self._policy.protected
                self._rec.mark(self._turn, Mark.SPEECH_START, audio_s=ev.speech_start_s)
                await self.push_frame(VADUserStartedSpeakingFrame(start_secs=self._seg.params.min_speech_s))
            elif self._turn is None:
                continue
            elif ev.type is TurnEventType.SPECULATIVE_END:
                if self._seg.adaptive and self._turn_model is None:
                    # faster-than-real-time runs wait for the transcript, as with an instant STT
                    key = f"spec-{self._turn}-{ev.speculation}"
                    self._spec_holds.add(key)
                    self._rec.clock.hold(key)
                audio = self._turn_audio(ev.speech_start_s)
                tl = self._rec.timelines.get(self._turn)
                if tl is not None:
                    tl.speculations.append({"n": ev.speculation, "sent_s": ev.at_s})
                if self._turn_model is not None:
                    self._ask_model(self._turn, ev.speculation, audio)
                await self.push_frame(UtteranceAudioFrame(self._turn, audio, self._rate, True, ev.speculation))
            elif ev.type is TurnEventType.SPEECH_RESUMED:
                self._release_spec_holds()
                await self.push_frame(TurnResumedFrame(self._turn))
            elif ev.type is TurnEventType.TURN_END:
                await self._end_turn(ev.speech_start_s, ev.speech_s, ev.at_s, ev.reason)

    async def _transcript(self, frame: SpeculativeTranscriptFrame) -> None:
        """Adaptive end of turn: a speculative transcript came back from the STT processor."""
        key = f"spec-{frame.turn}-{frame.speculation}"
        if key in self._spec_holds:
            self._spec_holds.discard(key)
            self._rec.clock.release(key)
        tl = self._rec.timelines.get(frame.turn)
        entry = next((e for e in reversed(tl.speculations) if e["n"] == frame.speculation), None) if tl else None
        if entry is not None:
            entry.update(
                answered_s=round(self._rec.clock.now(), 4),
                text=frame.text,
                complete=frame.complete,
                statement=frame.statement,
            )
        if frame.complete is None or frame.turn != self._turn:
            return
        for ev in self._seg.transcript_ready(frame.complete, frame.speculation, statement=frame.statement):
            if ev.type is TurnEventType.TURN_END:
                await self._end_turn(ev.speech_start_s, ev.speech_s, ev.at_s, ev.reason)

    def _ask_model(self, turn: int, speculation: int, audio: bytes) -> None:
        """Run the turn model on ``audio`` in a worker thread; the clock waits for its verdict
        (faster-than-real-time runs see the model as instant, like the transcript above)."""
        assert self._turn_model is not None
        key = f"model-{turn}-{speculation}"
        self._spec_holds.add(key)
        self._rec.clock.hold(key)
        task = asyncio.get_running_loop().create_task(self._model_verdict(turn, speculation, audio, key))
        self._model_tasks.add(task)
        task.add_done_callback(self._model_tasks.discard)

    async def _model_verdict(self, turn: int, speculation: int, audio: bytes, key: str) -> None:
        assert self._turn_model is not None
        loop = asyncio.get_running_loop()
        verdict: TurnModelVerdict | None = None
        try:
            verdict = await loop.run_in_executor(turn_model_executor(), self._turn_model.judge, audio, self._rate)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - no verdict: the turn waits the normal silence
            log.error("turn model failed on turn %s: %s", turn, exc)
            self._rec.errors.append(f"turn_model: {exc}")
        finally:
            if key in self._spec_holds:
                self._spec_holds.discard(key)
                self._rec.clock.release(key)
        if verdict is None:
            return
        tl = self._rec.timelines.get(turn)
        entry = next((e for e in reversed(tl.speculations) if e["n"] == speculation), None) if tl else None
        if entry is not None:
            entry.update(
                model_answered_s=round(self._rec.clock.now(), 4),
                model_complete=verdict.complete,
                model_probability=round(verdict.probability, 4),
                model_ms=verdict.infer_ms,
            )
        if turn != self._turn:
            return
        for ev in self._seg.model_verdict(verdict.complete, speculation):
            if ev.type is TurnEventType.TURN_END:
                await self._end_turn(ev.speech_start_s, ev.speech_s, ev.at_s, ev.reason)

    def _release_spec_holds(self) -> None:
        for key in self._spec_holds:
            self._rec.clock.release(key)
        self._spec_holds.clear()

    async def _end_turn(self, speech_start_s: float, speech_s: float, at_s: float, reason: str = "") -> None:
        turn, self._turn = self._turn, None
        assert turn is not None
        self._release_spec_holds()
        if turn in self._rec.timelines:
            self._rec.timelines[turn].end_reason = reason
        self._rec.user_in_turn = False
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=self._seg.params.end_silence_s))
        if self._turn_overlapped and not self._turn_barged and speech_s < self._policy.min_barge_in_s:
            log.debug("turn %s was a backchannel (%.2f s of speech over the appliance)", turn, speech_s)
            self._rec.drop_turn(turn)
            await self.push_frame(TurnResumedFrame(turn))  # discard any speculative STT
            return
        self._rec.mark(turn, Mark.END_OF_SPEECH, audio_s=at_s)
        self._rec.hold_turn(turn)
        await self.push_frame(UtteranceAudioFrame(turn, self._turn_audio(speech_start_s), self._rate, False))

    async def _barge_in(self, events: list) -> None:
        for ev in events:
            self._rec.barge_in(str(ev.action), ev.at_s, ev.speech_s)
            if ev.action is BargeInAction.INTERRUPT:
                self._turn_barged = True
                self._rec.interrupted(self._rec.clock.now())
                self._rec.finish_replied_turns()
                await self.push_frame(PlaybackControlFrame(ev.action, ev.at_s))
                await self.broadcast_interruption()
            else:
                await self.push_frame(PlaybackControlFrame(ev.action, ev.at_s))

    def _turn_audio(self, speech_start_s: float) -> bytes:
        start = max(self._buf_start_s, speech_start_s - self._preroll_s)
        offset = int(round((start - self._buf_start_s) * self._rate)) * 2
        return bytes(self._buf[offset:])

    def _trim_preroll(self) -> None:
        keep = int(self._preroll_s * self._rate) * 2 + len(self._pending) + self._window_bytes
        if len(self._buf) > keep:
            drop = len(self._buf) - keep
            del self._buf[:drop]
            self._buf_start_s += drop / 2 / self._rate
