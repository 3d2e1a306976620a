"""Local LLM engine: llama.cpp through llama-cpp-python.
(~480 lines: the engine port, the in-process engine and its supervised worker process belong
together; the HTTP server mode lives in ``llm_server.py``.)

The LLM only proposes; callers validate what comes back. :meth:`LLMEngine.complete_json` is
grammar-constrained by a JSON schema, so the text is JSON by construction; it is still parsed
here and anything that is not a JSON object raises :class:`ModelError`.

Isolation (see docs/LLM.md): by default the model runs in a supervised worker *process*
(a fresh ``python -c`` child talking over a socket pair, one request at a time). A segfault or ``GGML_ASSERT``
abort in llama.cpp then costs one request (:class:`EngineError`), not the daemon; a timeout
kills the worker, which really stops the computation, and the next call starts a new one.
``isolation="thread"`` runs the model in one worker thread of this process instead (cheaper,
for tools and benchmarks; a timeout stops generation after the current token).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from appliance.core import metrics
from appliance.core.errors import EngineError, EngineUnavailable, ModelError
from appliance.engines.base import INSTALL_HINTS, require, require_path

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
LOAD_RETRY_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class LLMCapabilities:
    context_length: int
    json_schema: bool = True  # grammar-constrained JSON output
    streaming: bool = False


class LLMEngine(ABC):
    """What the brain needs from a language model."""

    capabilities: LLMCapabilities

    async def load(self) -> None:  # noqa: B027 - optional warm-up, no-op by default
        """Load the model now (daemon start-up) instead of on the first call."""

    async def aclose(self) -> None:  # noqa: B027
        """Release the model (and any worker)."""

    @abstractmethod
    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, timeout: float, max_tokens: int = 256
    ) -> dict[str, Any]:
        """A JSON object constrained by ``schema``. Raises EngineError on timeout, ModelError on bad output."""

    @abstractmethod
    async def chat(self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float) -> str:
        """Free text answer to a chat."""

    async def chat_stream(
        self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float
    ) -> AsyncIterator[str]:
        """The answer to a chat as it is generated (text pieces). Default: the whole answer at once."""
        yield await self.chat(messages, max_tokens=max_tokens, timeout=timeout)


def parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ModelError("the LLM returned invalid JSON", details={"text": text[:200]}) from exc
    if not isinstance(value, dict):
        raise ModelError("the LLM returned JSON that is not an object", details={"text": text[:200]})
    return value


def _timeout_error(timeout: float) -> EngineError:
    return EngineError(f"the LLM did not answer within {timeout:.1f}s", code="engine_timeout", retryable=True)


class _Cancelled(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Settings:
    model_path: str
    n_ctx: int
    threads: int | None
    seed: int
    chat_format: str | None


class _Runner:
    """Owns one ``llama_cpp.Llama``; used in a worker thread or inside the worker process."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.llm: Any = None

    def load(self) -> dict[str, Any]:
        llama_cpp = require("llama_cpp", what="the local LLM")
        s = self.settings
        try:
            self.llm = llama_cpp.Llama(
                model_path=s.model_path,
                n_ctx=s.n_ctx,
                n_threads=s.threads,
                seed=s.seed,
                chat_format=s.chat_format,
                verbose=False,
            )
        except Exception as exc:  # llama-cpp raises ValueError / RuntimeError for bad files
            raise EngineUnavailable(f"could not load LLM {s.model_path}: {exc}") from exc
        return {"n_ctx": self.llm.n_ctx()}

    def run(
        self,
        kind: str,
        payload: dict[str, Any],
        cancelled: Callable[[], bool],
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        kwargs: dict[str, Any] = {
            "messages": list(payload["messages"]),
            "max_tokens": payload["max_tokens"],
            "temperature": payload.get("temperature", 0.0),
            "stream": True,
        }
        if kind == "json":
            kwargs["response_format"] = {"type": "json_object", "schema": payload["schema"]}
        parts: list[str] = []
        for chunk in self.llm.create_chat_completion(**kwargs):
            if cancelled():
                raise _Cancelled
            delta = chunk["choices"][0].get("delta") or {}
            if delta.get("content"):
                parts.append(delta["content"])
                if on_token is not None:
                    on_token(delta["content"])
        return "".join(parts)


def _worker_main(conn: Any, settings: _Settings) -> None:
    """Body of the worker process: load, say ready, then serve requests until EOF."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon handles Ctrl-C and stops us
    runner = _Runner(settings)
    try:
        info = runner.load()
    except EngineUnavailable as exc:
        conn.send(("load_error", str(exc), exc.install_hint))
        return
    conn.send(("ready", info))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        kind, payload = request
        on_token = (lambda t: conn.send(("token", t))) if payload.get("stream") else None
        try:
            conn.send(("ok", runner.run(kind, payload, lambda: False, on_token)))
        except Exception as exc:  # reported to the parent; the worker keeps serving
            conn.send(("error", type(exc).__name__, str(exc)))


def _worker_entry() -> None:
    """``python -c`` entry point: ``argv[1]`` is the socket fd, ``argv[2]`` the settings as JSON."""
    from multiprocessing.connection import Connection

    conn = Connection(int(sys.argv[1]))
    _worker_main(conn, _Settings(**json.loads(sys.argv[2])))


class _WorkerProcess:
    """The worker as a plain subprocess. Not ``multiprocessing``: its spawn start method re-runs
    the parent's ``__main__`` module in the child (``python -m appliance`` would start a second
    daemon), and fork is unsafe in a threaded process."""

    def __init__(self, settings: _Settings) -> None:
        from multiprocessing.connection import Connection

        parent_sock, child_sock = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this same appliance
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        code = "from appliance.engines.llm import _worker_entry; _worker_entry()"
        argv = [sys.executable, "-c", code, str(child_sock.fileno()), json.dumps(dataclasses.asdict(settings))]
        try:
            self.popen = subprocess.Popen(
                argv, pass_fds=(child_sock.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        self.popen.kill()

    def join(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("LLM worker %s did not exit within %.0fs", self.popen.pid, timeout)


class LlamaCppEngine(LLMEngine):
    """llama-cpp-python behind an async API; one request at a time, never on the event loop."""

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 4096,
        threads: int | None = None,
        *,
        isolation: Literal["process", "thread"] = "process",
        load_timeout: float = 180.0,
        seed: int = 0,
        chat_format: str | None = None,
    ) -> None:
        if isolation not in ("process", "thread"):
            raise ValueError(f"isolation must be 'process' or 'thread', not {isolation!r}")
        self.model_path = Path(model_path)
        self.isolation = isolation
        self.load_timeout = load_timeout
        self._settings = _Settings(str(self.model_path), n_ctx, threads, seed, chat_format)
        self.capabilities = LLMCapabilities(context_length=n_ctx)
        # One worker thread serialises everything (thread mode: the model; process mode: the pipe).
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        self._runner: _Runner | None = None
        self._proc: Any = None
        self._conn: Any = None
        self._load_error: EngineUnavailable | None = None
        self._load_failed_at = 0.0
        self.spawned = 0  # worker processes started so far (more than 1: crashes, timeouts)

    # --- public API ---------------------------------------------------------------

    async def load(self) -> None:
        await self._submit(self._ensure_loaded)

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, timeout: float, max_tokens: int = 256
    ) -> dict[str, Any]:
        payload = {"messages": [dict(m) for m in messages], "schema": schema, "max_tokens": max_tokens}
        text = await self._request("json", payload, timeout)
        return parse_json_object(text)

    async def chat(self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float) -> str:
        payload = {"messages": [dict(m) for m in messages], "max_tokens": max_tokens, "temperature": 0.7}
        return (await self._request("chat", payload, timeout)).strip()

    async def chat_stream(
        self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float
    ) -> AsyncIterator[str]:
        """Tokens as llama.cpp generates them (in the worker thread or process), handed to the
        event loop one by one; the same timeout and cancellation as :meth:`chat`."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue()

        def on_token(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        payload: dict[str, Any] = {"messages": [dict(m) for m in messages], "max_tokens": max_tokens}
        payload.update(temperature=0.7, stream=True)
        cancel = threading.Event()
        fut = asyncio.wrap_future(
            self._executor.submit(self._blocking_request, "chat", payload, timeout, cancel, on_token)
        )
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, fut}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                break
            await asyncio.sleep(0)  # tokens scheduled just before the request ended
            while not queue.empty():
                yield queue.get_nowait()
            fut.result()  # raises the request's error, if any
        except asyncio.CancelledError:
            cancel.set()  # the caller gave up: stop generating (thread) or kill the worker (process)
            raise
        # A consumer that stops early (a rejected sentence) lets the bounded generation finish in
        # the background rather than killing the worker process.

    async def aclose(self) -> None:
        await self._submit(self._shutdown)
        self._executor.shutdown(wait=False)

    @property
    def worker_pid(self) -> int | None:
        """The worker process id (process isolation, once loaded)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    # --- plumbing -----------------------------------------------------------------

    async def _submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def _request(self, kind: str, payload: dict[str, Any], timeout: float) -> str:
        cancel = threading.Event()
        fut = self._executor.submit(self._blocking_request, kind, payload, timeout, cancel)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            cancel.set()  # the caller gave up: stop generating (thread) or kill the worker (process)
            raise

    def _blocking_request(
        self,
        kind: str,
        payload: dict[str, Any],
        timeout: float,
        cancel: threading.Event,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        self._ensure_loaded()
        # The budget covers generation; loading is done by load() at start-up or just above.
        deadline = time.monotonic() + timeout

        def cancelled() -> bool:
            return cancel.is_set() or time.monotonic() > deadline

        if self.isolation == "thread":
            assert self._runner is not None
            try:
                return self._runner.run(kind, payload, cancelled, on_token)
            except _Cancelled:
                raise _timeout_error(timeout) from None
            except Exception as exc:
                raise ModelError(f"the LLM failed: {type(exc).__name__}: {exc}") from exc
        return self._process_roundtrip(kind, payload, timeout, cancelled, on_token)

    def _ensure_loaded(self) -> None:
        if self.isolation == "thread":
            if self._runner is None:
                self._check_load_backoff()
                require_path(self.model_path, what="LLM")
                runner = _Runner(self._settings)
                try:
                    runner.load()
                except EngineUnavailable as exc:
                    self._remember_load_error(exc)
                    raise
                self._runner = runner
            return
        if self._proc is not None and self._proc.is_alive():
            return
        if self._proc is not None:  # died between requests
            log.warning("LLM worker exited with code %s; restarting", self._proc.exitcode)
            metrics.ENGINE_RESTARTS.labels("llm").inc()
            self._reap()
        self._check_load_backoff()
        require_path(self.model_path, what="LLM")
        self._spawn()

    def _check_load_backoff(self) -> None:
        if self._load_error is not None and time.monotonic() - self._load_failed_at < LOAD_RETRY_AFTER_S:
            raise self._load_error

    def _remember_load_error(self, exc: EngineUnavailable) -> None:
        self._load_error, self._load_failed_at = exc, time.monotonic()

    def _spawn(self) -> None:
        proc = _WorkerProcess(self._settings)
        parent = proc.conn
        self.spawned += 1
        self._proc, self._conn = proc, parent
        deadline = time.monotonic() + self.load_timeout
        while not parent.poll(0.05):
            if not proc.is_alive() or time.monotonic() > deadline:
                code = proc.exitcode
                self._kill()
                exc = EngineUnavailable(
                    f"the LLM worker {'exited with code ' + str(code) if code is not None else 'timed out'} "
                    f"while loading {self.model_path}",
                    install_hint=INSTALL_HINTS["llama_cpp"],
                )
                self._remember_load_error(exc)
                raise exc
        try:
            msg = parent.recv()
        except EOFError:
            msg = ("load_error", "the LLM worker closed its pipe while loading", None)
        if msg[0] != "ready":
            self._kill()
            exc = EngineUnavailable(msg[1].split(" (install hint:")[0], install_hint=msg[2])
            self._remember_load_error(exc)
            raise exc
        self._load_error = None
        log.info("LLM worker %s loaded %s", proc.pid, self.model_path)

    def _process_roundtrip(
        self,
        kind: str,
        payload: dict[str, Any],
        timeout: float,
        cancelled: Callable[[], bool],
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        conn, proc = self._conn, self._proc
        try:
            conn.send((kind, payload))
            while True:  # ("token", text) messages while streaming, then the result
                while not conn.poll(0.02):
                    if cancelled():
                        self._kill()
                        raise _timeout_error(timeout)
                    if not proc.is_alive():
                        break
                msg = conn.recv()
                if msg[0] != "token":
                    break
                if on_token is not None:
                    on_token(msg[1])
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            code = proc.exitcode if proc is not None else None
            self._kill()
            raise EngineError(f"the LLM worker died (exit code {code})", code="engine_crashed", retryable=True) from exc
        if msg[0] == "ok":
            return msg[1]
        raise ModelError(f"the LLM failed: {msg[1]}: {msg[2]}")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def _shutdown(self) -> None:
        self._runner = None
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(timeout=2)
            except OSError:
                pass
        self._kill()


__all__ = ["LLMCapabilities", "LLMEngine", "LlamaCppEngine", "Message", "parse_json_object"]
