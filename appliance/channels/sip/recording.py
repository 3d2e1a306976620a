"""Per-call recording of both legs to local WAV files and a JSON call record next to them
(the daemon's privacy job removes them after their retention days, appliance/privacy/retention.py).

Files: ``<dir>/<YYYYmmdd-HHMMSS>-<session>.caller.wav`` / ``.appliance.wav`` (16 kHz mono) and
``.json`` (caller ID, times, language, transcript, outcome). Audio is appended from the call's
buffers and written in a thread about once a second, so memory stays small on long calls.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path
from typing import Any

RATE = 16000


class CallRecording:
    def __init__(self, directory: Path, session_id: str, *, started_at: float | None = None) -> None:
        self.started_at = started_at or time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.started_at))
        directory.mkdir(parents=True, exist_ok=True)
        self.base = directory / f"{stamp}-{session_id}"
        self.caller_path = self.base.with_suffix(".caller.wav")
        self.appliance_path = self.base.with_suffix(".appliance.wav")
        self.record_path = self.base.with_suffix(".json")
        self._caller = bytearray()
        self._appliance = bytearray()
        self._writers: dict[str, wave.Wave_write] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self.closed = False

    def add(self, caller: bytes, appliance: bytes) -> None:
        if self.closed:
            return
        self._caller.extend(caller)
        self._appliance.extend(appliance)
        if len(self._caller) >= RATE * 2 and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    def _take(self) -> tuple[bytes, bytes]:
        c, a = bytes(self._caller), bytes(self._appliance)
        self._caller.clear()
        self._appliance.clear()
        return c, a

    def _write(self, caller: bytes, appliance: bytes) -> None:
        for name, path, data in (("caller", self.caller_path, caller), ("appliance", self.appliance_path, appliance)):
            w = self._writers.get(name)
            if w is None:
                w = wave.open(str(path), "wb")
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                self._writers[name] = w
            w.writeframes(data)

    async def _flush(self) -> None:
        await asyncio.to_thread(self._write, *self._take())

    async def close(self, record: dict[str, Any]) -> None:
        if self.closed:
            return
        self.closed = True
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        caller, appliance = self._take()

        def finish() -> None:
            self._write(caller, appliance)
            for w in self._writers.values():
                w.close()
            data = dict(record)
            data["recordings"] = {"caller": self.caller_path.name, "appliance": self.appliance_path.name}
            self.record_path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")

        await asyncio.to_thread(finish)
