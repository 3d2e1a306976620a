"""STT and TTS engines that use a model service (``server.py``) instead of a model of their own.

They implement the same ports (:class:`STTEngine`, :class:`TTSEngine`), so the voice pipeline and
its supervision (``engines/supervised.py``: the per-call timeout, the apology and keypad menu,
the background restart that calls :meth:`load`) do not change. Blocking calls on a short-lived
connection per request: a dead service fails the request at once (connection refused or closed),
and a restarted one is found again on the next request. :meth:`load` waits for the service to
answer ``ready`` (the supervisor's restart path), up to ``wait_s``.

Spoken language ID stays the service's, per utterance inside its batch; only the text-side check
of an unclear detection (the brain's lexicons, ``text_language``) runs here, and asks the service
for a second transcription in the session language when the text disagrees, as
:meth:`STTEngine.transcribe_choosing` does in process.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

from appliance.core.config import Config
from appliance.core.errors import EngineError, EngineUnavailable
from appliance.engines.langid import DECIDED, LangIdAction, LangIdParams
from appliance.engines.service.protocol import (
    AudioReply,
    ErrorReply,
    Message,
    ProtocolError,
    ServiceLoad,
    StatusRequest,
    SynthesizeRequest,
    TranscribeRequest,
    TranscriptReply,
    encode,
    recv_message,
)
from appliance.engines.stt import WHISPER_RATE, STTCapabilities, STTEngine, TextLanguage, Transcript, confirm_choice
from appliance.engines.tts import AudioChunk, TTSCapabilities, TTSEngine


class ServiceConnection:
    """Requests to one service socket; thread-safe (a connection per request)."""

    def __init__(self, path: str | Path, *, name: str, timeout_s: float = 15.0) -> None:
        self.path = str(path)
        self.name = name
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.requests = 0
        self.failures = 0

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def request(self, msg: Message, *, timeout_s: float | None = None) -> Message:
        """Send ``msg``, return the reply; :class:`EngineError` when the service is down or fails."""
        self.requests += 1
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s if timeout_s is None else timeout_s)
                sock.connect(self.path)
                sock.sendall(encode(msg))
                reply = recv_message(sock)
        except (OSError, ProtocolError) as exc:  # refused, reset, closed mid-answer, timed out
            self.failures += 1
            raise EngineError(f"the {self.name} service at {self.path} failed: {type(exc).__name__}: {exc}",
                              code="engine_unreachable", retryable=True) from None  # fmt: skip
        if isinstance(reply, ErrorReply):
            self.failures += 1
            raise EngineError(f"the {self.name} service: {reply.message}", code=reply.code or "engine_failed")
        if reply.id != msg.id:
            raise EngineError(f"the {self.name} service answered request {reply.id}, not {msg.id}")
        return reply

    def status(self, *, timeout_s: float = 2.0) -> ServiceLoad:
        reply = self.request(StatusRequest(self.next_id()), timeout_s=timeout_s)
        if not isinstance(reply, ServiceLoad):
            raise EngineError(f"the {self.name} service sent {type(reply).__name__} for a status request")
        return reply

    def wait_ready(self, wait_s: float) -> ServiceLoad:
        """The service's report once it answers ready; EngineUnavailable after ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                load: ServiceLoad | None = self.status()
            except EngineError as exc:
                if time.monotonic() >= deadline:
                    raise EngineUnavailable(f"the {self.name} service is not answering: {exc}") from None
                load = None
            if load is not None and load.ready:
                return load
            if load is not None and load.error:  # up, but without its model: no point waiting
                raise EngineUnavailable(f"the {self.name} service has no model: {load.error}")
            if time.monotonic() >= deadline:
                raise EngineUnavailable(f"the {self.name} service is not ready")
            time.sleep(0.2)


class ServiceSTT(STTEngine):
    """Speech to text through the STT service (batched with other calls' utterances there)."""

    def __init__(self, path: str | Path, *, languages: tuple[str, ...], timeout_s: float = 15.0,
                 wait_s: float = 20.0, budget_s: float = 0.0) -> None:  # fmt: skip
        self.conn = ServiceConnection(path, name="speech-to-text", timeout_s=timeout_s)
        self.wait_s = wait_s
        self.budget_ms = budget_s * 1000  # the supervisor's timeout: a request older than this is not decoded
        self.capabilities = STTCapabilities(streaming=False, languages=tuple(languages), sample_rate=WHISPER_RATE)
        self.last_batch_size = 0  # of the latest reply (tests, benchmarks)

    def load(self) -> None:
        load = self.conn.wait_ready(self.wait_s)
        if load.languages:
            self.capabilities = replace(self.capabilities, languages=tuple(load.languages))

    def _transcribe(self, req: TranscribeRequest) -> Transcript:
        reply = self.conn.request(req)
        if not isinstance(reply, TranscriptReply):
            raise EngineError(f"the speech-to-text service sent {type(reply).__name__}")
        self.last_batch_size = reply.batch_size
        return reply.transcript

    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        req = TranscribeRequest(
            self.conn.next_id(), pcm16, sample_rate, language=language_hint, budget_ms=self.budget_ms
        )
        return self._transcribe(req)

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        req = TranscribeRequest(
            self.conn.next_id(),
            pcm16,
            sample_rate,
            session_language=session_language,
            params=params,
            budget_ms=self.budget_ms,
        )
        transcript = self._transcribe(req)
        choice = transcript.language_id
        if choice is None or choice.action is not LangIdAction.CHECK:
            return transcript
        transcript, choice = confirm_choice(
            transcript, choice, params, text_language, lambda lang: self.transcribe_sync(pcm16, sample_rate, lang)
        )
        return replace(transcript, language=choice.language, probability=choice.probability, language_id=choice)


class ServiceTTS(TTSEngine):
    """Text to speech through the TTS service."""

    def __init__(self, path: str | Path, *, languages: tuple[str, ...], timeout_s: float = 15.0,
                 wait_s: float = 20.0) -> None:  # fmt: skip
        self.conn = ServiceConnection(path, name="text-to-speech", timeout_s=timeout_s)
        self.wait_s = wait_s
        self.capabilities = TTSCapabilities(languages=tuple(languages), sample_rate=22050)

    def load(self) -> None:
        load = self.conn.wait_ready(self.wait_s)
        self.capabilities = TTSCapabilities(languages=tuple(load.languages) or self.capabilities.languages,
                                            sample_rate=load.sample_rate or self.capabilities.sample_rate)  # fmt: skip

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        reply = self.conn.request(SynthesizeRequest(self.conn.next_id(), text, language))
        if not isinstance(reply, AudioReply):
            raise EngineError(f"the text-to-speech service sent {type(reply).__name__}")
        return reply.audio


def service_engines(cfg: Config) -> tuple[ServiceSTT, ServiceTTS]:
    """The clients of the daemon's STT and TTS services (sockets under ``cfg.services_path``)."""
    languages = tuple(cfg.tenant.languages)
    timeout = cfg.services.request_timeout_s
    return (
        ServiceSTT(
            cfg.services_path / "stt.sock", languages=languages, timeout_s=timeout, budget_s=cfg.voice.stt_timeout_s
        ),  # fmt: skip
        ServiceTTS(cfg.services_path / "tts.sock", languages=languages, timeout_s=timeout),
    )
