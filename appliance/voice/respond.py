"""The brain on the voice path: ``BrainProcessor``.

TranscriptionFrame (or a keypad digit) -> ``BrainPort.handle_stream`` -> SpeakFrame per sentence
as the reply is produced. Long work (the brain) runs in tasks of its own, so a barge-in
(InterruptionFrame) never cancels a brain call halfway through a booking; it only stops the rest
of the reply from being spoken.

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
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    TranscriptionFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.core.errors import ApplianceError
from appliance.core.messages import Channel, ChunkType, Reply, ReplyChunk, Utterance
from appliance.core.ports import BrainPort
from appliance.voice.degraded import apology_frame
from appliance.voice.frames import (
    KeypadFrame,
    SpeakFrame,
)
from appliance.voice.recorder import CallRecorder
from appliance.voice.speaking import chunks_of, pieces, reply_chunks
from appliance.voice.texts import error_text, voice_text
from appliance.voice.timeline import Mark

log = logging.getLogger("appliance.voice")


BRAIN_NOTICE_MAX_S = 1.4  # real-time calls: "one moment" by then at the latest (docs/RELIABILITY.md)


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
        # a slow tool's notice comes from another task: it and the reply's first sentence are
        # pushed under this lock, so "one moment" is queued wholly before the reply or not at all
        # (never between its sentences, where its audio would run into the reply's)
        self._notice_lock = asyncio.Lock()
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
        except Exception as exc:  # noqa: BLE001 - the caller still hears something: apology + keypad menu
            log.error("greeting failed: %s", exc)
            self._rec.errors.append(f"greeting: {exc}")
            if turn is not None:
                self._rec.drop_turn(turn, backchannel=False)
            await self.push_frame(apology_frame(self._rec, "brain", self._default_language))
            return
        await self._speak(reply, turn)

    async def _notice(self, language: str, source: str) -> None:
        """Say "one moment, I'm checking" (once per brain call, before its reply)."""
        async with self._notice_lock:
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
            # the timer measures the caller's silence: none passes while the audio waits for the
            # work (a file call), where a wall-clock notice only said the machine was busy and
            # pushed the reply past the caller's next words (the flaky booking call test)
            if not done and not self._rec.clock.waits_for_work:
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
                async with self._notice_lock:  # a notice being pushed goes first, none after
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
        async with self._notice_lock:  # a notice still being pushed goes before what follows
            self._asking = False
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
