"""pipecat processors of the voice path.

``VoiceInputProcessor``  caller audio -> Silero VAD (pipecat's bundled analyzer, in a thread)
                         -> TurnSegmenter (turns) + InterruptionPolicy (barge-in)
                         [+ a TurnModel (smart-turn) on the turn's audio at SPECULATIVE_END]
``EngineSTTProcessor``   UtteranceAudioFrame -> STTEngine.transcribe in a worker thread
                         -> TranscriptionFrame (language and probability kept)
``BrainProcessor``       TranscriptionFrame -> BrainPort.handle -> SpeakFrame per sentence
``EngineTTSProcessor``   SpeakFrame -> TTSEngine.synthesize in a worker thread -> TTSAudioRawFrame

pipecat's STTService/TTSService base classes are built for streaming cloud services (per-frame
``run_stt``, an LLM-token text aggregator, audio contexts); ours are batch engines that need
the language per sentence, a protected flag and speculation, so these are plain
FrameProcessors that speak pipecat's frames (TranscriptionFrame, TTSStarted/Audio/Stopped).
Long work (STT, the brain) runs in tasks of its own, so a barge-in (InterruptionFrame) never
cancels a brain call halfway through a booking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.core.errors import ApplianceError
from appliance.core.messages import Channel, ChunkType, Reply, ReplyChunk, Utterance
from appliance.core.ports import BrainPort
from appliance.voice.degraded import ApologyBank, apology_text
from appliance.voice.endpointing import TurnVerdict, turn_verdict
from appliance.voice.frames import (
    KeypadFrame,
    PlaybackControlFrame,
    ProtectedSpeechFrame,
    SpeakFrame,
    SpeculativeTranscriptFrame,
    TurnResumedFrame,
    UtteranceAudioFrame,
)
from appliance.voice.interruption import BargeInAction, InterruptionPolicy
from appliance.voice.langid import text_language, transcribe_utterance
from appliance.voice.recorder import CallRecorder
from appliance.voice.smart_turn import TurnModel, TurnModelVerdict, turn_model_executor
from appliance.voice.speaking import chunks_of, pieces, reply_chunks
from appliance.voice.texts import error_text, voice_text
from appliance.voice.timeline import Mark
from appliance.voice.turns import TurnEventType, TurnSegmenter

log = logging.getLogger("appliance.voice")


def _pipecat_language(code: str | None) -> Any:
    from pipecat.transcriptions.language import Language

    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return None


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
        self._vad = vad  # a pipecat VADAnalyzer; SileroVADAnalyzer() when None
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
        if self._vad is None:
            from pipecat.audio.vad.silero import SileroVADAnalyzer

            self._vad = SileroVADAnalyzer()
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


class EngineSTTProcessor(FrameProcessor):
    """Wraps an ``STTEngine`` (its async ``transcribe``; the engine runs the model off the event
    loop). Speculative runs are reused when the turn ends without more speech, and discarded on
    TurnResumedFrame. :meth:`_submit` is the one place STT is invoked (with the language hint)."""

    def __init__(
        self,
        *,
        stt: Any,
        recorder: CallRecorder,
        language_hint: str | None = None,
        speculate: bool = True,
        verdicts: bool = True,
        languages: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._stt = stt
        # spoken language ID per utterance (voice.langid): the session language is only a prior
        self._check = text_language(languages) if len(languages) > 1 else None
        self._heard = 0  # caller utterances transcribed with words: the first one decides freely
        self._speculate = speculate
        self._verdicts = verdicts  # False: a turn model decides (smart_turn), transcripts carry no verdict
        self._rec = recorder
        self._hint = language_hint
        self._speculative: dict[int, asyncio.Future[Any]] = {}
        self._stt_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UtteranceAudioFrame):
            if frame.speculative:
                if self._speculate:
                    fut = self._submit(frame)
                    self._speculative[frame.turn] = fut
                    self._spawn(self._answer_speculation(frame, fut))
                else:
                    await self._push_verdict(frame, None, "")
            else:
                self._spawn(self._final(frame))
        elif isinstance(frame, TurnResumedFrame):
            resumed = self._speculative.pop(frame.turn, None)
            if resumed is not None:
                resumed.cancel()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            if isinstance(frame, EndFrame) and self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the final transcriptions in flight (the call is ending)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _answer_speculation(self, frame: UtteranceAudioFrame, fut: asyncio.Future[Any]) -> None:
        """Tell the input processor whether the speculative transcript looks like a finished turn."""
        try:
            transcript = await asyncio.shield(fut)
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - discarded or failed: no verdict
            await self._push_verdict(frame, None, "")
            return
        if not self._verdicts:
            await self._push_verdict(frame, None, transcript.text)
            return
        language = transcript.language or self._rec.language or self._hint
        verdict = turn_verdict(transcript.text, language, self._rec.awaiting)
        await self._push_verdict(frame, verdict is not TurnVerdict.UNFINISHED, transcript.text, verdict)

    async def _push_verdict(
        self, frame: UtteranceAudioFrame, complete: bool | None, text: str, verdict: TurnVerdict | None = None
    ) -> None:
        statement = verdict is TurnVerdict.STATEMENT
        verdict_frame = SpeculativeTranscriptFrame(frame.turn, frame.speculation, complete, text, statement)
        await self.push_frame(verdict_frame, FrameDirection.UPSTREAM)

    def _submit(self, frame: UtteranceAudioFrame) -> asyncio.Future[Any]:
        session = self._rec.language or self._hint or "en"
        return asyncio.ensure_future(self._transcribe(frame.audio, frame.sample_rate, session))

    async def _transcribe(self, audio: bytes, sample_rate: int, session: str) -> Any:
        """One transcription per call at a time (as with a one-thread executor): a speculative
        run discarded before it started never costs CPU. The session language is a prior for
        the spoken language ID, never forced on the recogniser (:mod:`appliance.voice.langid`)."""
        async with self._stt_lock:
            return await transcribe_utterance(
                self._stt, audio, sample_rate, session, decided=self._heard > 0, check=self._check
            )

    async def _final(self, frame: UtteranceAudioFrame) -> None:
        spec = self._speculative.pop(frame.turn, None)
        hit = spec is not None and not spec.cancelled()
        try:
            transcript = await (spec if hit and spec is not None else self._submit(frame))
        except Exception as exc:  # noqa: BLE001 - an engine failure must not kill the call
            log.error("STT failed on turn %s: %s", frame.turn, exc)
            self._rec.errors.append(f"stt: {exc}")
            self._rec.drop_turn(frame.turn, backchannel=False)
            await self.push_frame(apology_frame(self._rec, "stt", self._hint))
            return
        self._rec.mark(frame.turn, Mark.STT_DONE)
        if transcript.text.strip():
            self._heard += 1
        tl = self._rec.timelines.get(frame.turn)
        choice = transcript.language_id
        if tl is not None:
            tl.text = transcript.text
            tl.language = transcript.language
            tl.language_probability = transcript.probability
            tl.language_id = choice.to_dict() if choice is not None else None
            tl.speculative_hit = hit
        out = TranscriptionFrame(
            text=transcript.text,
            user_id="caller",
            timestamp=dt.datetime.now(dt.UTC).isoformat(),
            language=_pipecat_language(transcript.language),
            result=transcript,
            finalized=True,
        )
        out.metadata.update(
            {"turn": frame.turn, "language": transcript.language, "language_probability": transcript.probability}
        )
        await self.push_frame(out)


BRAIN_NOTICE_MAX_S = 1.4  # real-time calls: "one moment" by then at the latest (docs/RELIABILITY.md)


def apology_frame(rec: CallRecorder, component: str, default_language: str | None) -> SpeakFrame:
    """Degraded mode: the apology and the keypad menu, in the session language."""
    rec.degraded.append(component)
    language = rec.language or default_language or "en"
    return SpeakFrame(apology_text(language), language, turn=None, notice=True, apology=True)


class BrainProcessor(FrameProcessor):
    """Hands each final transcript to the brain and speaks the reply sentence by sentence.

    * ``greeting``: a Reply (or an async function returning one, e.g. ``Brain.greet``) spoken
      first, as a turn of kind "greeting"; the clock is held until it is synthesized, so it
      starts at the beginning of the call.
    * Slow tools: each ``BrainPort.handle`` gets this call's ``on_slow`` hook, so "one moment" is
      said on the call whose tool is slow. A timer on the whole brain call (``brain_notice_s``)
      covers a slow LLM. At most one notice per brain call.
    * Timelines: each turn's timeline is stored with the brain's reply (``record_timeline``)
      once its playback ended or was interrupted.
    * Keypad: a :class:`KeypadFrame` reaches the brain as an ``Utterance`` with ``dtmf`` set.
    """

    def __init__(
        self,
        *,
        brain: BrainPort,
        recorder: CallRecorder,
        default_language: str = "en",
        slow_notice_s: float = 1.0,
        brain_notice_s: float | None = None,
        greeting: Reply | Callable[[], Awaitable[Reply]] | None = None,
        brain_timeout_s: float = 12.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._brain = brain
        self._brain_timeout_s = brain_timeout_s
        self._rec = recorder
        self._default_language = default_language
        self._slow_notice_s = slow_notice_s
        # the whole-brain timer: twice the tool notice (a slow tool speaks first); real-time calls
        # pass BRAIN_NOTICE_MAX_S so dead air after the caller's turn stays under 2 s
        self._brain_notice_s = brain_notice_s if brain_notice_s is not None else slow_notice_s * 2
        self._lock = asyncio.Lock()  # one brain call at a time, in turn order
        self._tasks: set[asyncio.Task[None]] = set()
        self._abandoned: set[asyncio.Future[None]] = set()  # hung brain calls left to finish
        self._silenced: int | None = None  # the caller barged in on this turn's (streamed) reply
        self._noticed = False  # a notice was said during the current brain call
        self._asking = False
        self._current_turn: int | None = None
        self._greeting = greeting
        self._greeting_turn: int | None = None
        if greeting is not None:
            self._greeting_turn = recorder.new_turn("greeting")
            recorder.hold_turn(self._greeting_turn)  # the feeder waits: the greeting starts at 0
        if recorder.timeline_sink is None:
            recorder.timeline_sink = brain.record_timeline

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            if self._greeting is not None:
                self._spawn(self._greet())
        elif isinstance(frame, TranscriptionFrame) and direction is FrameDirection.DOWNSTREAM:
            self._spawn(self._handle(frame))
        elif isinstance(frame, KeypadFrame):
            self._spawn(self._keypad(frame.digit))
        elif isinstance(frame, InterruptionFrame):
            # a barge-in: the rest of the reply being streamed is not spoken (its turn is still saved)
            self._silenced = self._current_turn
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame):
            await self.drain()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def drain(self) -> None:
        """Wait for the brain calls in flight (their turns are stored when they return)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _greet(self) -> None:
        turn = self._greeting_turn
        greeting, self._greeting = self._greeting, None
        try:
            async with self._lock:
                reply = greeting if isinstance(greeting, Reply) else await greeting()  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - no greeting is better than no call
            log.error("greeting failed: %s", exc)
            self._rec.errors.append(f"greeting: {exc}")
            if turn is not None:
                self._rec.drop_turn(turn, backchannel=False)
            return
        await self._speak(reply, turn)

    async def _notice(self, language: str, source: str) -> None:
        """Say "one moment, I'm checking" (once per brain call)."""
        if self._noticed or not self._asking:
            return
        self._noticed = True
        self._rec.notices.append(
            {
                "source": source,
                "language": language,
                "turn": self._current_turn,
                "audio_s": round(self._rec.clock.now(), 4),
                "wall_s": round(self._rec.clock.wall(), 4),
            }
        )
        await self.push_frame(SpeakFrame(voice_text("slow_notice", language), language, turn=None, notice=True))

    async def _tool_slow(self, language: str) -> None:
        await self._notice(language or self._rec.language or self._default_language, "tool")

    async def _handle(self, frame: TranscriptionFrame) -> None:
        turn = frame.metadata.get("turn")
        text = frame.text.strip()
        if not text:
            if turn is not None:
                self._rec.drop_turn(turn, backchannel=False)
            return
        utterance = Utterance(
            session_id=self._rec.session_id,
            channel=Channel.VOICE,
            text=text,
            language_hint=frame.metadata.get("language"),
            language_probability=frame.metadata.get("language_probability"),
            received_at=dt.datetime.now(dt.UTC),
        )
        async with self._lock:
            await self._respond(utterance, turn)

    async def _keypad(self, digit: str) -> None:
        turn = self._rec.new_turn("keypad")
        self._rec.timelines[turn].text = f"[{digit}]"
        utterance = Utterance(
            session_id=self._rec.session_id,
            channel=Channel.VOICE,
            text="",
            language_hint=self._rec.language,
            received_at=dt.datetime.now(dt.UTC),
            dtmf=digit,
        )
        async with self._lock:
            await self._respond(utterance, turn)

    async def _respond(self, utterance: Utterance, turn: int | None) -> None:
        """Ask the brain and speak its reply sentence by sentence as it is produced
        (:mod:`appliance.voice.speaking`): "one moment" when nothing came within the notice
        time; the apology and the keypad menu when the brain makes no progress within
        ``brain_timeout_s`` (a hung brain or LLM), so the caller is never left in silence."""
        self._noticed, self._asking, self._current_turn = False, True, turn
        self._silenced = None
        if turn is not None:
            self._rec.answering(turn)
        chunks = reply_chunks(self._brain, utterance, on_slow=self._tool_slow)
        spoken = 0
        reply: Reply | None = None
        failed: Reply | None = None
        pending: asyncio.Future[ReplyChunk] = asyncio.ensure_future(anext(chunks))
        hung = False
        try:
            done, _ = await asyncio.wait({pending}, timeout=self._brain_notice_s)
            if not done:
                language = self._rec.language or utterance.language_hint or self._default_language
                await self._notice(language, "timer")
            wait_s = max(0.0, self._brain_timeout_s - self._brain_notice_s)
            while True:
                done, _ = await asyncio.wait({pending}, timeout=wait_s)
                if not done:  # a hung brain (or LLM): keep the call, offer the keypad menu
                    log.error("brain gave no answer on turn %s within %.0f s", turn, self._brain_timeout_s)
                    self._rec.errors.append("brain: timeout")
                    frame = apology_frame(self._rec, "brain", self._default_language)
                    failed = Reply(self._rec.session_id, frame.text, frame.language, speakable=frame.text)
                    hung = True
                    break
                chunk = pending.result()
                if chunk.type is not ChunkType.SENTENCE:
                    reply = chunk.reply
                    break
                self._asking = False  # the reply is being spoken: no "one moment" into it
                if self._silenced is None or self._silenced != turn:  # a barge-in stops the rest of it
                    spoken += await self._say(chunk, turn, first=spoken == 0)
                pending = asyncio.ensure_future(anext(chunks))
                wait_s = self._brain_timeout_s
        except ApplianceError as exc:
            log.error("brain failed on turn %s: %s", turn, exc)
            self._rec.errors.append(f"brain: {exc.code}")
            language = self._rec.language or self._default_language
            text = error_text(language, exc.code)  # by code, in the caller's language
            failed = Reply(self._rec.session_id, text, language, speakable=text)
        except Exception as exc:  # noqa: BLE001 - keep the call alive, apologise
            log.exception("brain crashed on turn %s", turn)
            self._rec.errors.append(f"brain: {type(exc).__name__}")
            language = self._rec.language or self._default_language
            text = voice_text("apology_repeat", language)
            failed = Reply(self._rec.session_id, text, language, speakable=text)
        finally:
            self._asking = False
            if (
                hung or not pending.done()
            ):  # the brain call goes on (never cancelled halfway through a booking); its turn is still saved
                task = asyncio.ensure_future(_finish_quietly(pending, chunks))
                self._abandoned.add(task)
                task.add_done_callback(self._abandoned.discard)
            else:
                await chunks.aclose()
        if failed is not None:  # the apology was not streamed: say it now
            for piece in chunks_of(failed)[:-1]:
                spoken += await self._say(piece, turn, first=spoken == 0)
        final = failed or reply or Reply(self._rec.session_id, "", self._rec.language or self._default_language)
        if self._silenced is not None and self._silenced == turn:
            spoken = 0  # the caller barged in: what was queued was dropped, the turn just ends
        await self._reply_done(final, turn, spoken)

    async def _speak(self, reply: Reply, turn: int | None) -> None:
        """A reply known in full (the greeting): each part in its own voice."""
        spoken = 0
        for chunk in chunks_of(reply)[:-1]:
            spoken += await self._say(chunk, turn, first=spoken == 0)
        await self._reply_done(reply, turn, spoken)

    async def _say(self, chunk: ReplyChunk, turn: int | None, *, first: bool) -> int:
        """One sentence to the TTS, in clause-sized pieces when it is long; returns the pieces."""
        parts = pieces(chunk.text)
        if first and parts:
            self._rec.mark(turn, Mark.FIRST_BRAIN_OUTPUT)
            if turn is not None:
                self._rec.reply_issued(turn)
        for i, piece in enumerate(parts):
            # last=False: the reply's end is its own (empty) frame, pushed by _reply_done
            frame = SpeakFrame(piece, chunk.language, turn, chunk.protected, first=first and i == 0, last=False)
            await self.push_frame(frame)
        return len(parts)

    async def _reply_done(self, reply: Reply, turn: int | None, spoken: int) -> None:
        self._rec.mark(turn, Mark.FIRST_BRAIN_OUTPUT)
        self._rec.awaiting = reply.awaiting
        language = reply.language or self._rec.language or self._default_language
        self._rec.language = language
        if reply.end_of_conversation:
            self._rec.end_of_conversation = True
        if reply.transfer_to:
            self._rec.transfer_to = reply.transfer_to
        if turn is not None and turn in self._rec.timelines:
            self._rec.timelines[turn].reply = reply.speakable or reply.text
            self._rec.timelines[turn].reply_turn_id = reply.turn_id
        if turn is not None:
            self._rec.answered(turn)
        if not spoken:
            if turn is not None:
                self._rec.finish_turn(turn)
            return
        # the end of the reply: no text, closes the TTS context and the turn
        await self.push_frame(SpeakFrame("", language, turn=turn, protected=reply.protected, first=False, last=True))


async def _finish_quietly(pending: asyncio.Future[ReplyChunk], chunks: Any) -> None:
    """Let an abandoned (hung) brain call run to its end without speaking it."""
    try:
        while (await pending).type is ChunkType.SENTENCE:
            pending = asyncio.ensure_future(anext(chunks))
    except Exception:  # noqa: BLE001 - logged by the brain; nobody waits for it
        log.debug("abandoned brain call ended with an error", exc_info=True)
    finally:
        await chunks.aclose()


class EngineTTSProcessor(FrameProcessor):
    """Wraps a ``TTSEngine``: one sentence at a time in a worker thread, resampled to the
    transport's output rate. The language travels with each sentence, so a ``MultiVoiceTTS``
    switches voice exactly where the reply language changes."""

    def __init__(
        self,
        *,
        tts: Any,
        recorder: CallRecorder,
        chunk_s: float = 0.04,
        apologies: ApologyBank | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._tts = tts
        self._apologies = apologies or ApologyBank()
        self._apologised = False  # the apology already replaced a failed sentence of this reply
        self._rec = recorder
        self._chunk_s = chunk_s
        self._out_rate = 16000
        self._voice_language: str | None = None
        self._resampler: Any = None
        self._audio_pushed = False  # the current reply produced audio

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            from pipecat.audio.utils import create_file_resampler

            self._out_rate = self.processor_setup.audio_out_sample_rate  # see VoiceInputProcessor._start
            self._resampler = create_file_resampler()
            await self.push_frame(frame, direction)
        elif isinstance(frame, SpeakFrame):
            await self._speak(frame)
        elif isinstance(frame, InterruptionFrame):
            self._rec.finish_replied_turns()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _audio(self, frame: SpeakFrame) -> bytes:
        """The sentence's audio; the recorded apology when it is one, or when the TTS fails (once
        per reply: the caller hears the apology and the keypad menu instead of silence)."""
        if frame.apology and (recorded := self._recorded(frame.language)) is not None:
            return recorded
        try:
            chunk = await self._tts.synthesize(frame.text, frame.language)
            audio: bytes = chunk.pcm16
            if chunk.sample_rate != self._out_rate:
                audio = await self._resampler.resample(audio, chunk.sample_rate, self._out_rate)
            return audio
        except Exception as exc:  # noqa: BLE001 - a failed sentence must not leave the caller in silence
            log.error("TTS failed for a %d-character sentence: %s", len(frame.text), exc)
            self._rec.errors.append(f"tts: {exc}")
            if self._apologised:
                return b""
            self._apologised = True
            if not frame.apology:
                self._rec.degraded.append("tts")
            return self._recorded(frame.language) or b""

    def _recorded(self, language: str) -> bytes | None:
        found = self._apologies.get(language)
        if found is None or self._apologies.rate != self._out_rate:
            return None
        return found[1]

    async def _speak(self, frame: SpeakFrame) -> None:
        try:
            if frame.first:
                self._audio_pushed = False
                self._apologised = False
                self._rec.reply_queued(frame.turn)
                if frame.turn is not None:
                    self._rec.speaking_turn = frame.turn
                if frame.protected:
                    await self.push_frame(ProtectedSpeechFrame(frame.turn), FrameDirection.UPSTREAM)
                await self.push_frame(TTSStartedFrame(context_id=f"turn-{frame.turn}"))
            if frame.language != self._voice_language:
                log.debug("TTS voice language %s -> %s", self._voice_language, frame.language)
                self._voice_language = frame.language
            audio = await self._audio(frame) if frame.text else b""  # "": the end of a reply
            self._rec.spoken(frame.turn, frame.text, len(audio) / 2 / self._out_rate)
            step = int(self._out_rate * self._chunk_s) * 2
            for i in range(0, len(audio), step):
                out = TTSAudioRawFrame(audio[i : i + step], self._out_rate, 1, context_id=f"turn-{frame.turn}")
                out.interruptible = not frame.protected
                await self.push_frame(out)
                self._audio_pushed = True
            if frame.last:
                if not self._audio_pushed:
                    self._rec.reply_unplayed(frame.turn)
                await self.push_frame(TTSStoppedFrame(context_id=f"turn-{frame.turn}"))
        finally:
            if frame.last and frame.turn is not None:
                self._rec.finish_turn(frame.turn)
