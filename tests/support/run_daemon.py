"""A real ``appliance run`` for the operations tests, optionally under a real ``NOTIFY_SOCKET``
(an AF_UNIX datagram socket this process binds, exactly what systemd does), or wrapped in
another command (strace, a network namespace)."""

from __future__ import annotations

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

from tests.support.sip_harness import ROOT, free_port


class NotifyListener:
    """systemd's side of sd_notify: one datagram socket, every message with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def wait_for(self, key: str, timeout: float = 90.0) -> tuple[float, dict[str, str]]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for t, m in self.messages[seen:]:
                if key in m:
                    return t, m
            seen = max(0, len(self.messages) - 1)
            time.sleep(0.02)
        raise AssertionError(f"no {key} within {timeout}s; got {[m for _, m in self.messages]}")

    def times(self, key: str, since: float = 0.0) -> list[float]:
        return [t for t, m in list(self.messages) if key in m and t >= since]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Daemon:
    """``python -m appliance run [args]`` on free ports; ``READY`` on stderr (or READY=1) means it is up."""

    def __init__(
        self,
        data: Path,
        *,
        sip: bool = False,
        env: dict[str, str] | None = None,
        wrap: list[str] | None = None,
        wait_ready: bool = True,
        args: tuple[str, ...] = (),
    ) -> None:
        self.web_port = free_port()
        self.sip_port = free_port() if sip else 0
        self.metrics_port = free_port()
        self.data = data
        full = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "APPLIANCE__LLM__MODE": "off",
            "APPLIANCE__WEB__PORT": str(self.web_port),
            "APPLIANCE__METRICS__PORT": str(self.metrics_port),
            "APPLIANCE__SIP__ENABLED": "true" if sip else "false",
            "APPLIANCE__SIP__UDP_PORT": str(self.sip_port),
            "APPLIANCE__SIP__TCP_PORT": str(self.sip_port),
            "APPLIANCE__SIP__ANSWER_DELAY_S": "0.1",
        }
        full.update(env or {})
        self.log_path = data.parent / f"{data.name}-daemon.log"
        self._log = self.log_path.open("w")
        argv = [sys.executable, "-m", "appliance", "run", "--data-dir", str(data), *args]
        self.proc = subprocess.Popen(
            [*(wrap or []), *argv], stdout=self._log, stderr=subprocess.STDOUT, env=full, cwd=ROOT
        )
        if wait_ready:
            self.wait_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "\nREADY " in "\n" + self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("daemon did not start:\n" + self.log()[-4000:])

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def post(self, session: str, text: str) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{self.web}/api/message",
            data=json.dumps({"session": session, "text": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return dict(json.loads(resp.read()))

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as resp:
            return str(resp.read().decode())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self._log.close()
