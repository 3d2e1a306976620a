"""The test side of ``tests/support/sip_cluster.py``: the SIP proxy and its worker processes in a
process of their own, driven over stdin/stdout JSON lines (stats, stop, ...)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.sip_harness import PY, ROOT, JsonProcess, free_port


class Cluster(JsonProcess):
    def __init__(self, data: Path, *args: str) -> None:
        self.port = free_port()
        super().__init__([PY, str(ROOT / "tests/support/sip_cluster.py"), "--data", str(data), "--port",
                          str(self.port), *args], stdin=True)  # fmt: skip
        self.ready = self.wait_event("ready", 180)
        self.uri = f"sip:appliance@127.0.0.1:{self.port}"

    def stats(self) -> dict[str, Any]:
        self.seq = getattr(self, "seq", 0) + 1
        self.send(f"stats {self.seq}")
        return self.wait_event("stats", 10, seq=self.seq)

    def wait_stats(self, done: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            st = self.stats()
            if done(st):
                return st
            time.sleep(0.3)
        raise AssertionError(f"proxy stats never matched: {st}; log: {self.tail()}")

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.send("stop")
        summary = self.wait_event("summary", 90)
        self.wait(30)
        return summary
