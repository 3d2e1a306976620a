"""Supervised speech engines: a per-call timeout, failure detection, background restart.

A crashed or hung speech recogniser or synthesiser must not leave a caller in silence. Each
call to a :class:`SupervisedSTT` / :class:`SupervisedTTS` runs in a worker thread under a
timeout; a failure (an exception, or no answer within ``timeout_s``) raises
:class:`EngineError` with code ``engine_timeout`` or ``engine_failed`` at once, so the voice
path can apologise and offer the keypad menu while the call goes on. The engine is then
restarted in the background (``load()`` again);
calls made while it restarts fail fast instead of queueing behind a hung thread. A hung
thread itself cannot be killed from Python: each engine call runs in a daemon thread of its
own, so a hung one is abandoned (counted in :attr:`Health.abandoned`) without starving anything
else of threads and without holding up the process's exit (a ``ThreadPoolExecutor`` joins its
threads at exit: a hung TTS kept a stopped SIP worker alive).

Process isolation (an engine that can crash the interpreter or hold the GIL in a worker
process): the LLM's worker process (``engines/llm.py``) or server; STT and TTS in the shared model
services (``engines/service/``, on with ``sip.workers > 1``), whose client engines sit behind
these same supervisors: a killed service fails the call at once and the background restart waits
for it to answer again (``ServiceSTT.load``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from appliance.core.errors import EngineError
from appliance.engines.langid import DECIDED, LangIdParams
from appliance.engines.stt import STTEngine, TextLanguage, Transcript
from appliance.engines.tts import AudioChunk, TTSEngine

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Health:
    """What the supervisor saw (for status pages and tests)."""

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    restarts: int = 0
    abandoned: int = 0  # threads left hanging after a timeout
    restarting: bool = False
    last_error: str = ""
    events: list[str] = field(default_factory=list)


class Supervisor:
    """Runs blocking engine calls under a timeout and restarts the engine after a failure."""

    def __init__(self, name: str, engine: Any, *, timeout_s: float, restart_backoff_s: float = 0.5) -> None:
        self.name = name
        self.engine = engine
        self.timeout_s = timeout_s
        self.restart_backoff_s = restart_backoff_s
        self.health = Health()
        self._restart: asyncio.Task[None] | None = None

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn`` in a daemon thread of its own; its result (or error) lands in the future."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if fut.done():
                return
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)

        def deliver(result: Any, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop is gone (the process is stopping): nobody waits
                pass

        def work() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                deliver(None, exc)
                return
            deliver(result, None)

        threading.Thread(target=work, name=self.name, daemon=True).start()
        return fut

    async def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        h = self.health
        h.calls += 1
        if h.restarting:
            raise EngineError(f"{self.name} is restarting", code="engine_restarting", retryable=True)
        limit = self.timeout_s if timeout_s is None else timeout_s
        work = self._in_thread(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(work), limit)
        except TimeoutError:
            h.timeouts += 1
            h.abandoned += 1
            work.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late result is dropped
            self._failed(f"no answer within {limit:.1f} s")
            raise EngineError(f"{self.name} did not answer within {limit:.1f} s", code="engine_timeout") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any engine failure is one failed call
            self._failed(f"{type(exc).__name__}: {exc}")
            raise EngineError(f"{self.name} failed: {exc}", code="engine_failed") from exc

    def _failed(self, why: str) -> None:
        h = self.health
        h.failures += 1
        h.last_error = why
        h.events.append(f"failed: {why}")
        log.error("%s failed (%s); restarting it in the background", self.name, why)
        if self._restart is None or self._restart.done():
            h.restarting = True
            self._restart = asyncio.get_running_loop().create_task(self._restart_engine())

    async def _restart_engine(self) -> None:
        h = self.health
        started = time.monotonic()
        try:
            await asyncio.sleep(self.restart_backoff_s)
            await asyncio.wait_for(self._in_thread(self.engine.load), max(30.0, self.timeout_s * 10))
            h.restarts += 1
            h.events.append(f"restarted in {time.monotonic() - started:.1f} s")
            log.info("%s restarted", self.name)
        except Exception as exc:  # noqa: BLE001 - stays down; the next failure tries again
            h.events.append(f"restart failed: {exc}")
            log.error("%s could not be restarted: %s", self.name, exc)
        finally:
            h.restarting = False


class SupervisedSTT(STTEngine):
    """An STT engine behind a :class:`Supervisor` (the voice path calls ``transcribe``)."""

    def __init__(self, engine: STTEngine, *, timeout_s: float = 1.2) -> None:
        self.inner = engine
        self.capabilities = engine.capabilities
        self.supervisor = Supervisor("speech-to-text", engine, timeout_s=timeout_s)

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        return self.inner.transcribe_sync(pcm16, sample_rate, language_hint)

    async def transcribe(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        return await self.supervisor.call(self.inner.transcribe_sync, pcm16, sample_rate, language_hint)

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = 16000) -> dict[str, float]:
        return self.inner.detect_languages_sync(pcm16, sample_rate)

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        return self.inner.transcribe_choosing(
            pcm16, sample_rate, session_language, params=params, text_language=text_language
        )

    async def _off_loop(self, work: Callable[[], Transcript]) -> Transcript:
        """Spoken language ID + transcription under the supervisor's timeout."""
        return await self.supervisor.call(work)

    def load(self) -> None:
        self.inner.load()


class SupervisedTTS(TTSEngine):
    """A TTS engine behind a :class:`Supervisor`."""

    def __init__(self, engine: TTSEngine, *, timeout_s: float = 1.2) -> None:
        self.inner = engine
        self.capabilities = engine.capabilities
        self.supervisor = Supervisor("text-to-speech", engine, timeout_s=timeout_s)

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        return self.inner.synthesize_sync(text, language)

    async def synthesize(self, text: str, language: str) -> AudioChunk:
        return await self.supervisor.call(self.inner.synthesize_sync, text, language)

    def supports(self, language: str) -> bool:
        return self.inner.supports(language)

    def load(self) -> None:
        self.inner.load()
