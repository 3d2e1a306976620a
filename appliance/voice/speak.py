"""Text to speech on the voice path: ``EngineTTSProcessor``.

SpeakFrame -> the TTS engine off the event loop -> TTSAudioRawFrame at the transport's rate; the
recorded apology when the TTS fails (degraded mode).

pipecat's STTService/TTSService base classes are built for streaming cloud services (per-frame
``run_stt``, an LLM-token text aggregator, audio contexts); ours are batch engines that need
the language per sentence, a protected flag and speculation, so the voice path's processors
(``listen``, ``transcribe``, ``respond``, ``speak``; assembled in :mod:`appliance.voice.pipeline`)
are plain FrameProcessors that speak pipecat's frames (TranscriptionFrame, TTSStarted/Audio/Stopped).
"""

from __future__ import annotations

import logging
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.voice.degraded import ApologyBank
from appliance.voice.frames import (
    ProtectedSpeechFrame,
    SpeakFrame,
)
from appliance.voice.recorder import CallRecorder

log = logging.getLogger("appliance.voice")


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
        self._in_reply = False  # between a reply's first and last frames

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            from pipecat.audio.utils import create_file_resampler

            self._out_rate = self.processor_setup.audio_out_sample_rate  # see VoiceInputProcessor._start
            self._resampler = create_file_resampler()
            await self.push_frame(frame, direction)
        elif isinstance(frame, SpeakFrame) and frame.notice and not frame.apology:
            await self._notice(frame)
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
            return await self._synth(frame.text, frame.language)
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

    async def _notice(self, frame: SpeakFrame) -> None:
        """A filler ("one moment", "are you still there?"), not part of any reply: it leaves the
        reply's state (audio pushed, apologised) alone. Between replies it is a playback item of
        its own (``None`` in the recorder's playback order, its own TTS context); one that comes
        in the middle of a reply is played as part of that reply's audio, so the playback order
        the recorder keeps stays the order the caller hears. A notice the TTS cannot say is
        skipped: the reply that follows apologises if the TTS is really down."""
        try:
            audio = await self._synth(frame.text, frame.language)
        except Exception as exc:  # noqa: BLE001 - a filler is not worth the apology
            log.warning("TTS failed for a notice: %s", exc)
            self._rec.errors.append(f"tts: {exc}")
            return
        if not audio:
            return
        standalone = not self._in_reply
        if standalone:
            self._rec.reply_queued(None)
            await self.push_frame(TTSStartedFrame(context_id="notice"))
        await self._push_audio(audio, "notice", protected=False)
        if standalone:
            await self.push_frame(TTSStoppedFrame(context_id="notice"))

    async def _synth(self, text: str, language: str) -> bytes:
        chunk = await self._tts.synthesize(text, language)
        audio: bytes = chunk.pcm16
        if chunk.sample_rate != self._out_rate:
            audio = await self._resampler.resample(audio, chunk.sample_rate, self._out_rate)
        return audio

    async def _push_audio(self, audio: bytes, context_id: str, *, protected: bool) -> None:
        step = int(self._out_rate * self._chunk_s) * 2
        for i in range(0, len(audio), step):
            out = TTSAudioRawFrame(audio[i : i + step], self._out_rate, 1, context_id=context_id)
            out.interruptible = not protected
            await self.push_frame(out)

    async def _speak(self, frame: SpeakFrame) -> None:
        try:
            if frame.first:
                self._in_reply = True
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
            await self._push_audio(audio, f"turn-{frame.turn}", protected=frame.protected)
            self._audio_pushed = self._audio_pushed or bool(audio)
            if frame.last:
                if not self._audio_pushed:
                    self._rec.reply_unplayed(frame.turn)
                await self.push_frame(TTSStoppedFrame(context_id=f"turn-{frame.turn}"))
        finally:
            if frame.last:
                self._in_reply = False
            if frame.last and frame.turn is not None:
                self._rec.finish_turn(frame.turn)
