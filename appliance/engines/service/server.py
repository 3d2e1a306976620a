"""A model service: one process loads the STT (or TTS) model once and serves every SIP worker.

Listens on a Unix socket (``<data dir>/run/stt.sock``, ``tts.sock``; the folder is the owner's
only). Requests from any number of connections go through one :class:`Batcher` (STT: waits up to
``window_s`` after the first request for others, then decodes up to ``max_batch`` utterances in
one model call; requests arriving while a batch runs form the next one) or :class:`Pool` (TTS:
``workers`` syntheses at a time). A ``status`` request answers with :class:`ServiceLoad`: queue
length, queueing delay and batch sizes. The daemon's supervisor (``appliance/ops/model_services.py``)
starts it as ``python -m appliance.engines.service stt|tts --config FILE --socket PATH`` and
restarts it when it exits; the clients (``client.py``) reconnect on their own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.core.errors import ApplianceError
from appliance.engines.service.batch import Utterance
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
    read_message,
)
from appliance.engines.stt import STTEngine, Transcript
from appliance.engines.tts import TTSEngine

log = logging.getLogger("appliance.service")

BatchFn = Callable[[list[Utterance]], list[Transcript | Exception]]
Pending = tuple[TranscribeRequest, float, "asyncio.Future[Message]"]  # request, arrival time, its reply


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


class LoadStats:
    """Counters and the last 1000 queueing delays / work times of one service."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests = 0
        self.failures = 0
        self.shed = 0
        self.in_flight = 0
        self.batches = 0
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.queue_ms: collections.deque[float] = collections.deque(maxlen=1000)
        self.work_ms: collections.deque[float] = collections.deque(maxlen=1000)

    def report(self, rid: int, service: str, languages: tuple[str, ...], sample_rate: int, queued: int) -> ServiceLoad:
        q, w = list(self.queue_ms), list(self.work_ms)
        return ServiceLoad(
            rid, service, os.getpid(), True, languages, sample_rate, requests=self.requests, failures=self.failures,
            shed=self.shed, in_flight=self.in_flight, queue_length=queued, batches=self.batches,
            batch_sizes={str(k): v for k, v in sorted(self.batch_sizes.items())}, queue_ms_p50=_pct(q, 0.5),
            queue_ms_p95=_pct(q, 0.95), queue_ms_max=round(max(q, default=0.0), 2), work_ms_p50=_pct(w, 0.5),
            work_ms_p95=_pct(w, 0.95), uptime_s=round(time.monotonic() - self.started, 1),
        )  # fmt: skip


def sequential(engine: STTEngine) -> BatchFn:
    """A batch function for engines without batched decoding (per-language routing, scripted)."""

    def run(items: list[Utterance]) -> list[Transcript | Exception]:
        out: list[Transcript | Exception] = []
        for item in items:
            try:
                if item.session_language is not None:
                    out.append(engine.transcribe_choosing(item.pcm16, item.sample_rate, item.session_language,
                                                          params=item.params))  # fmt: skip
                else:
                    out.append(engine.transcribe_sync(item.pcm16, item.sample_rate, item.language))
            except Exception as exc:  # noqa: BLE001 - this item's error
                out.append(exc)
        return out

    return run


class Batcher:
    """Collects concurrent transcription requests into batches for ``batch_fn`` (run in a thread)."""

    def __init__(self, batch_fn: BatchFn, *, max_batch: int = 8, window_s: float = 0.01) -> None:
        self.batch_fn = batch_fn
        self.max_batch = max_batch
        self.window_s = window_s
        self.stats = LoadStats()
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, req: TranscribeRequest) -> Message:
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.stats.requests += 1
        self._queue.put_nowait((req, time.monotonic(), fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            await self._serve(batch)

    def _shed(self, batch: list[Pending]) -> list[Pending]:
        """Requests whose client has given up (their budget passed while queued) get an error
        instead of a place in the batch: under overload the model works only for callers still
        waiting."""
        now, kept = time.monotonic(), list[Pending]()
        for req, arrived, fut in batch:
            waited_ms = (now - arrived) * 1000
            if req.budget_ms and waited_ms >= req.budget_ms:
                self.stats.shed += 1
                self.stats.queue_ms.append(round(waited_ms, 2))
                if not fut.done():
                    fut.set_result(ErrorReply(req.id, "engine_timeout", f"queued {waited_ms:.0f} ms, past its budget"))
            else:
                kept.append((req, arrived, fut))
        return kept

    async def _serve(self, batch: list[Pending]) -> None:
        batch = self._shed(batch)
        if not batch:
            return
        st = self.stats
        started = time.monotonic()
        st.batches += 1
        st.batch_sizes[len(batch)] += 1
        st.in_flight = len(batch)
        items = [Utterance(r.pcm16, r.sample_rate, r.session_language, r.language, r.params) for r, _, _ in batch]
        try:
            results: list[Transcript | Exception] = await asyncio.to_thread(self.batch_fn, items)
        except Exception as exc:  # noqa: BLE001 - the whole batch failed
            results = [exc for _ in batch]
        finally:
            st.in_flight = 0
        work_ms = (time.monotonic() - started) * 1000
        st.work_ms.append(work_ms)
        for (req, arrived, fut), result in zip(batch, results, strict=True):
            queued_ms = round((started - arrived) * 1000, 2)
            st.queue_ms.append(queued_ms)
            if isinstance(result, Exception):
                st.failures += 1
                reply: Message = ErrorReply(req.id, _code(result), f"{type(result).__name__}: {result}")
            else:
                reply = TranscriptReply(req.id, result, len(batch), queued_ms)
            if not fut.done():
                fut.set_result(reply)


class Pool:
    """TTS: ``workers`` syntheses at a time, the rest wait (their wait is the queueing delay)."""

    def __init__(self, engine: TTSEngine, *, workers: int = 2) -> None:
        self.engine = engine
        self.stats = LoadStats()
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0

    @property
    def queued(self) -> int:
        return self._waiting

    async def submit(self, req: SynthesizeRequest) -> Message:
        st = self.stats
        st.requests += 1
        arrived = time.monotonic()
        self._waiting += 1
        async with self._slots:
            self._waiting -= 1
            started = time.monotonic()
            st.in_flight += 1
            try:
                chunk = await self.engine.synthesize(req.text, req.language)
            except Exception as exc:  # noqa: BLE001 - one failed request
                st.failures += 1
                return ErrorReply(req.id, _code(exc), f"{type(exc).__name__}: {exc}")
            finally:
                st.in_flight -= 1
            st.work_ms.append((time.monotonic() - started) * 1000)
        queued_ms = round((started - arrived) * 1000, 2)
        st.queue_ms.append(queued_ms)
        st.batches += 1
        st.batch_sizes[1] += 1
        return AudioReply(req.id, chunk, queued_ms)


def _code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, ApplianceError) and exc.code else "engine_failed"


class ModelServer:
    """The Unix-socket front of one service (``stt`` with a :class:`Batcher`, ``tts`` with a :class:`Pool`).
    Without a handler (the model is missing) it still answers: ``status`` says not ready and why,
    every request gets ``engine_unavailable``, so SIP workers start and give callers the keypad menu,
    as they do with a missing in-process model."""

    def __init__(
        self,
        service: str,
        handler: Batcher | Pool | None,
        socket_path: Path,
        *,
        languages: tuple[str, ...],
        sample_rate: int,
    ) -> None:
        self.service = service
        self.handler = handler
        self.socket_path = Path(socket_path)
        self.languages = languages
        self.sample_rate = sample_rate
        self.error = ""  # why there is no handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket of a killed predecessor
        if isinstance(self.handler, Batcher):
            self.handler.start()
        self._server = await asyncio.start_unix_server(self._client, path=str(self.socket_path))
        os.chmod(self.socket_path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def load(self, rid: int) -> ServiceLoad:
        if self.handler is None:
            return ServiceLoad(
                rid, self.service, os.getpid(), False, self.languages, self.sample_rate, error=self.error
            )
        return self.handler.stats.report(rid, self.service, self.languages, self.sample_rate, self.handler.queued)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    msg = await read_message(reader)
                except (ProtocolError, ConnectionError) as exc:
                    log.warning("%s service: dropping a client: %s", self.service, exc)
                    return
                if msg is None:
                    return
                task = asyncio.get_running_loop().create_task(self._answer(msg, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if tasks:
                await asyncio.wait(tasks, timeout=60)
            writer.close()

    async def _answer(self, msg: Message, writer: asyncio.StreamWriter) -> None:
        reply = await self._reply(msg)
        with contextlib.suppress(ConnectionError):
            writer.write(encode(reply))
            await writer.drain()

    async def _reply(self, msg: Message) -> Message:
        handler = self.handler
        if isinstance(msg, StatusRequest):
            return self.load(msg.id)
        if handler is None:
            return ErrorReply(msg.id, "engine_unavailable", f"the {self.service} service has no model: {self.error}")
        if isinstance(msg, TranscribeRequest) and isinstance(handler, Batcher):
            return await handler.submit(msg)
        if isinstance(msg, SynthesizeRequest) and isinstance(handler, Pool):
            return await handler.submit(msg)
        return ErrorReply(msg.id, "bad_request", f"the {self.service} service does not take {type(msg).__name__}")


def _stt_handler(cfg: Any) -> tuple[Batcher, tuple[str, ...], int]:
    from appliance.engines.factory import make_stt
    from appliance.engines.service.batch import BatchedWhisper
    from appliance.engines.stt import FasterWhisperSTT

    engine = make_stt(cfg)
    engine.load()
    fn: BatchFn = (
        BatchedWhisper(engine).transcribe_batch if isinstance(engine, FasterWhisperSTT) else sequential(engine)
    )
    svc = cfg.services
    batcher = Batcher(fn, max_batch=svc.stt_max_batch, window_s=svc.stt_batch_window_ms / 1000)
    return batcher, tuple(engine.capabilities.languages), engine.capabilities.sample_rate


def _tts_handler(cfg: Any) -> tuple[Pool, tuple[str, ...], int]:
    from appliance.engines.factory import make_tts

    engine = make_tts(cfg)
    engine.load()
    return (
        Pool(engine, workers=cfg.services.tts_workers),
        tuple(engine.capabilities.languages),
        engine.capabilities.sample_rate,
    )


async def serve(service: str, cfg: Any, socket_path: Path, *, ready: Callable[[], None] | None = None) -> None:
    """Load the model, listen, serve until cancelled or SIGTERM."""
    import signal

    handler: Batcher | Pool | None = None
    languages, rate, error = tuple(cfg.tenant.languages), 16000, ""
    try:
        if service == "stt":
            handler, languages, rate = await asyncio.to_thread(_stt_handler, cfg)
        else:
            handler, languages, rate = await asyncio.to_thread(_tts_handler, cfg)
    except ApplianceError as exc:  # a missing model: answer "unavailable" rather than crash-loop
        error = str(exc)
        log.error("%s service has no model: %s", service, exc)
    server = ModelServer(service, handler, socket_path, languages=languages, sample_rate=rate)
    server.error = error
    await server.start()
    log.info("%s service %s on %s (pid %d)", service, "ready" if handler else "unavailable", socket_path, os.getpid())
    if ready is not None:
        ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
