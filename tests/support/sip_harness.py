"""Helpers for the SIP tests: free ports, the appliance and caller processes, espeak-ng WAVs, sipp."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
SIPP = shutil.which("sipp")
SCENARIOS = ROOT / "tests" / "data" / "sipp"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (in a high range)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["PYTHONUNBUFFERED"] = "1"
    return e


class JsonProcess:
    """A child process printing JSON lines; other lines go to ``log``."""

    def __init__(self, argv: list[str], *, stdin: bool = False) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.PIPE if stdin else None,
            env=env(), cwd=ROOT, text=True,
        )  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self.log: list[str] = []
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("{"):
                try:
                    ev = json.loads(line)
                except ValueError:
                    self.log.append(line)
                    continue
                self.events.append(ev)
                self._q.put(ev)
            else:
                self.log.append(line)
        self._q.put(None)

    def wait_event(self, name: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                return ev
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {name!r} event in {timeout}s; events: {self.events[-10:]}; log: {self.tail()}"
                )
            try:
                ev = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                raise AssertionError(f"process exited before {name!r}; events: {self.events[-10:]}; log: {self.tail()}")
            if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                return ev

    def all(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]

    def wait_until(self, what: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0) -> None:
        """Poll until ``check(events so far)`` holds (the process may be busy or slow: no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        while not check(list(self.events)):
            if time.monotonic() > deadline:
                raise AssertionError(f"not {what} in {timeout}s; events: {self.events[-10:]}; log: {self.tail()}")
            time.sleep(0.05)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log[-n:])

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"{self.argv[:3]} did not exit in {timeout}s; log: {self.tail()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Appliance(JsonProcess):
    def __init__(self, data: Path, *args: str) -> None:
        self.port = free_port()
        super().__init__([PY, str(ROOT / "tests/support/sip_appliance.py"), "--data", str(data), "--port",
                          str(self.port), *args], stdin=True)  # fmt: skip
        self.ready = self.wait_event("ready", 60)
        self.uri = f"sip:appliance@127.0.0.1:{self.port}"

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.send("stop")
        summary = self.wait_event("summary", 60)
        self.wait(30)
        return summary


def caller(target: str, *args: str) -> JsonProcess:
    return JsonProcess([PY, str(ROOT / "tests/support/sip_caller.py"), "--target", target,
                        "--rtp-port", str(20000 + (free_port() % 20000)), *args])  # fmt: skip


def speech_wav(text: str, path: Path, language: str = "en") -> Path:
    """espeak-ng speech as a 16 kHz mono WAV (what the caller plays)."""
    from appliance.channels.file_transport import read_wav_16k, write_wav

    raw = path.with_suffix(".raw.wav")
    voice = {"en": "en-us"}.get(language, language)
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    write_wav(path, read_wav_16k(raw))
    return path


def ulaw_wav(path: Path, seconds: float = 3.0) -> Path:
    """A u-law 8 kHz WAV (what sipp's rtp_stream plays): espeak speech."""
    pcm = path.with_suffix(".pcm.wav")
    subprocess.run(["espeak-ng", "-w", str(pcm), "Hello, I would like to book a room for my dog next weekend."],
                   check=True)  # fmt: skip
    import numpy as np
    import soundfile as sf
    import soxr

    data, rate = sf.read(str(pcm), dtype="float32")
    data = soxr.resample(data, rate, 8000)
    n = int(seconds * 8000)
    data = np.resize(data, n) if len(data) < n else data[:n]
    sf.write(str(path), data, 8000, subtype="ULAW")
    return path
