"""A real ``python -m llama_cpp.server`` on loopback, and a recording pass-through proxy.

The server serves the tiny test GGUF (tests/integration/conftest.py ``test_models``); it can be
SIGKILLed and started again on the same port. The proxy forwards every request unchanged
(streamed answers chunk by chunk) and keeps what was asked, so tests can check the plumbing
(which requests, which ``response_format``, whether streamed) without trusting the engine's word.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF on 127.0.0.1."""

    def __init__(self, model: Path, log_path: Path, *, api_key: str = "") -> None:
        self.model = model
        self.log_path = log_path
        self.api_key = api_key
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> None:
        argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1"]
        argv += ["--seed", "1234"]  # the same answers every run: a long story stays long enough to cut
        if self.api_key:
            argv += ["--api_key", self.api_key]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited {self.proc.returncode}: {self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server did not listen within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, connections cut mid-answer."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def models(self) -> Any:
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


class RecordingProxy:
    """Forwards ``/v1/...`` to ``upstream`` on its own thread and event loop; ``requests`` holds
    (method, path, JSON body or None) in arrival order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.port = free_port()
        self.requests: list[tuple[str, str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def posts(self) -> list[Any]:
        return [body for method, path, body in self.requests if method == "POST" and path.endswith("/chat/completions")]

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        assert self._started.wait(10), "the proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append((request.method, request.path, json.loads(raw) if raw else None))
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        async with ClientSession() as session:
            async with session.request(
                request.method, self.upstream + request.path_qs, data=raw, headers=headers
            ) as up:
                resp = web.StreamResponse(status=up.status)
                resp.content_type = up.content_type
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
