"""Speech to text on the voice path: ``EngineSTTProcessor``.

UtteranceAudioFrame -> the STT engine (spoken language ID with the session language as a prior,
:mod:`appliance.voice.langid`) off the event loop -> TranscriptionFrame (language and probability
kept). Speculative runs at SPECULATIVE_END are reused when the turn ends without more speech.

pipecat's STTService/TTSService base classes are built for streaming cloud services (per-frame
``run_stt``, an LLM-token text aggregator, audio contexts); ours are batch engines that need
the language per sentence, a protected flag and speculation, so the voice path's processors
(``listen``, ``transcribe``, ``respond``, ``speak``; assembled in :mod:`appliance.voice.pipeline`)
are plain FrameProcessors that speak pipecat's frames (TranscriptionFrame, TTSStarted/Audio/Stopped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    TranscriptionFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.voice.degraded import apology_frame
from appliance.voice.endpointing import TurnVerdict, turn_verdict
from appliance.voice.frames import (
    SpeculativeTranscriptFrame,
    TurnResumedFrame,
    UtteranceAudioFrame,
)
from appliance.voice.langid import text_language, transcribe_utterance
from appliance.voice.recorder import CallRecorder
from appliance.voice.timeline import Mark

log = logging.getLogger("appliance.voice")


def _pipecat_language(code: str | None) -> Any:
    from pipecat.transcriptions.language import Language

    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return None


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
